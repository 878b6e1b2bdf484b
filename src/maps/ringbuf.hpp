// RINGBUF (kernel/bpf/ringbuf.c): a multi-producer, single-consumer ring of variable-size
// records shared by all CPUs. Programs reserve space, fill it and submit or discard it (or
// output a copy in one step); user space consumes records in order.
//
// As in the kernel, the data area is mapped twice back to back, so a record that wraps around
// the end is still one contiguous range for the program writing it. Each record has an 8-byte
// header (length with BUSY and DISCARD bits, then a page offset) and is padded to 8 bytes.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>

#include "maps/map.hpp"

namespace bpfvm::maps {

class RingBufMap : public Map {
 public:
  // The ring buffer a pointer returned by reserve() belongs to, or nullptr: bpf_ringbuf_submit
  // and bpf_ringbuf_discard get only the sample pointer.
  [[nodiscard]] static RingBufMap* owning(const void* sample);

  // ---- program face (helpers) ----
  // bpf_ringbuf_reserve: nullptr when flags != 0, size is too large or there is no room.
  virtual void* reserve(uint64_t size, uint64_t flags) = 0;
  // bpf_ringbuf_submit / bpf_ringbuf_discard; flags BPF_RB_NO_WAKEUP or BPF_RB_FORCE_WAKEUP.
  virtual void submit(void* sample, uint64_t flags) = 0;
  virtual void discard(void* sample, uint64_t flags) = 0;
  // bpf_ringbuf_output: 0, -EINVAL (flags) or -EAGAIN (no room).
  virtual long output(const void* data, uint64_t size, uint64_t flags) = 0;
  // bpf_ringbuf_query: BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE, BPF_RB_CONS_POS, BPF_RB_PROD_POS.
  [[nodiscard]] virtual uint64_t query(uint64_t flags) const = 0;

  // ---- user space (libbpf's ring_buffer__consume / __poll) ----
  // Calls fn on each submitted record in order, skipping discarded ones, until a record is
  // still being written or fn returns non-zero; returns the number of records consumed or
  // fn's non-zero result. One consumer at a time.
  virtual long consume(const std::function<int(std::span<const uint8_t>)>& fn) = 0;
  // Waits up to timeout_ms for a wakeup (or data), then consumes. Returns as consume().
  virtual long poll(const std::function<int(std::span<const uint8_t>)>& fn, int timeout_ms) = 0;
  // Wakeups sent so far (a submit wakes the consumer when it has caught up with that
  // record, unless BPF_RB_NO_WAKEUP; BPF_RB_FORCE_WAKEUP always does).
  [[nodiscard]] virtual uint64_t wakeups() const = 0;

 protected:
  using Map::Map;
};

}  // namespace bpfvm::maps
