#include "runtime/events.hpp"

#include <fmt/format.h>

#include "maps/perf_event_array.hpp"
#include "maps/ringbuf.hpp"
#include "runtime/loader.hpp"

namespace bpfvm {

Result<EventReader> EventReader::open(const LoadedObject& object, std::size_t perf_buffer_bytes) {
  EventReader reader;
  for (const NamedMap& m : object.maps()) {
    if (auto* perf = dynamic_cast<maps::PerfEventArrayMap*>(m.map.get())) {
      for (uint32_t slot = 0; slot < perf->max_entries(); ++slot) {
        if (auto st = perf->open_buffer(slot, perf_buffer_bytes); !st) {
          return input_error(fmt::format("map '{}': cannot open a perf buffer in slot {}: {}", m.name, slot,
                                         st.error().message));
        }
      }
      reader.sources_.push_back(Source{m.name, m.map, true});
    } else if (dynamic_cast<maps::RingBufMap*>(m.map.get()) != nullptr) {
      reader.sources_.push_back(Source{m.name, m.map, false});
    }
  }
  return reader;
}

std::size_t EventReader::read(std::vector<SentRecord>& out) {
  std::size_t count = 0;
  for (const Source& s : sources_) {
    auto append = [&](std::optional<uint32_t> cpu, std::span<const uint8_t> data) {
      out.push_back(SentRecord{s.name, cpu, std::vector<uint8_t>(data.begin(), data.end())});
      ++count;
    };
    if (s.perf) {
      static_cast<maps::PerfEventArrayMap&>(*s.map).consume(
          [&](uint32_t slot, std::span<const uint8_t> sample) { append(slot, sample); });
    } else {
      static_cast<maps::RingBufMap&>(*s.map).consume([&](std::span<const uint8_t> record) {
        append(std::nullopt, record);
        return 0;
      });
    }
  }
  return count;
}

std::vector<LostRecords> EventReader::lost() const {
  std::vector<LostRecords> out;
  for (const Source& s : sources_) {
    if (!s.perf) continue;
    const auto& perf = static_cast<const maps::PerfEventArrayMap&>(*s.map);
    for (uint32_t slot = 0; slot < perf.max_entries(); ++slot) {
      if (const uint64_t n = perf.lost(slot)) out.push_back(LostRecords{s.name, slot, n});
    }
  }
  return out;
}

}  // namespace bpfvm
