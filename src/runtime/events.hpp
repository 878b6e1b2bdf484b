// What programs send to user space: samples of perf event arrays (bpf_perf_event_output) and
// records of ring buffers (bpf_ringbuf_output / reserve + submit), read the way libbpf's
// perf_buffer and ring_buffer consumers read them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "maps/map.hpp"
#include "support/result.hpp"

namespace bpfvm {

class LoadedObject;

struct SentRecord {
  std::string map;              // the map's name, as libbpf names it
  std::optional<uint32_t> cpu;  // perf event arrays: the slot (CPU) it went to; ring buffers: none
  std::vector<uint8_t> data;
};

struct LostRecords {
  std::string map;
  uint32_t cpu = 0;
  uint64_t count = 0;
};

class EventReader {
 public:
  // Eight pages per CPU, what "Learning eBPF"'s perf_buffer__new(fd, 8, ...) asks for.
  static constexpr std::size_t kDefaultPerfBufferBytes = 8 * 4096;

  // Opens a buffer of `perf_buffer_bytes` in every slot of the object's perf event arrays (as
  // perf_buffer__new opens one per CPU) and reads its ring buffers. Until a buffer is opened
  // in a slot, bpf_perf_event_output to it fails with -ENOENT, as in the kernel.
  [[nodiscard]] static Result<EventReader> open(const LoadedObject& object,
                                                std::size_t perf_buffer_bytes = kDefaultPerfBufferBytes);

  // Appends what is waiting to `out`: perf event arrays slot by slot, then ring buffers, in the
  // object's map order, each buffer oldest first. Returns how many records it read.
  std::size_t read(std::vector<SentRecord>& out);

  // Samples dropped because a perf buffer was full, per map and slot, where there were any.
  // (A full ring buffer is not counted: the program's bpf_ringbuf_output gets -EAGAIN.)
  [[nodiscard]] std::vector<LostRecords> lost() const;

  // Whether the object has anything to read from.
  [[nodiscard]] bool empty() const { return sources_.empty(); }

 private:
  struct Source {
    std::string name;
    maps::MapPtr map;
    bool perf = false;  // perf event array, else ring buffer
  };
  std::vector<Source> sources_;
};

}  // namespace bpfvm
