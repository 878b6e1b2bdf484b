// PERF_EVENT_ARRAY (kernel/bpf/arraymap.c + kernel/events): bpf_perf_event_output writes a
// sample to the perf buffer in a slot (usually one per CPU, BPF_F_CURRENT_CPU picks the
// running CPU's). There are no perf events here: user space opens a buffer per slot, as
// libbpf's perf_buffer__new opens one perf event per CPU, and reads samples from it.
#pragma once

#include <functional>

#include "maps/map.hpp"

namespace bpfvm::maps {

class PerfEventArrayMap : public Map {
 public:
  // Installs a buffer of `capacity` bytes in slot `index` (replacing any), like storing a perf
  // event fd there.
  [[nodiscard]] virtual Status open_buffer(uint32_t index, std::size_t capacity) = 0;

  // ---- program face: bpf_perf_event_output ----
  // flags: the slot index, or BPF_F_CURRENT_CPU, in BPF_F_INDEX_MASK; other bits are the
  // caller's business (BPF_F_CTXLEN_MASK is for the skb/xdp helpers) and must be cleared.
  // 0, -EINVAL, -E2BIG (index out of range), -ENOENT (no buffer in the slot) or -ENOSPC (full:
  // the sample is lost and counted).
  virtual long output(uint64_t flags, const void* data, uint64_t size) = 0;

  // ---- user space (perf_buffer__consume) ----
  // Calls fn(slot, sample) for each sample of each slot in order, oldest first; returns the
  // number of samples read. lost(slot) counts samples dropped because the buffer was full.
  virtual long consume(const std::function<void(uint32_t, std::span<const uint8_t>)>& fn) = 0;
  [[nodiscard]] virtual uint64_t lost(uint32_t index) const = 0;

 protected:
  using Map::Map;
};

}  // namespace bpfvm::maps
