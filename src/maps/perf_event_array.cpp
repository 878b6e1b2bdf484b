#include "maps/perf_event_array.hpp"

#include <cstring>
#include <deque>
#include <mutex>

#include "maps/families.hpp"
#include "support/cpu.hpp"

namespace bpfvm::maps::detail {
namespace {

// One slot's buffer: samples in order, bounded in bytes like a perf ring (each sample also
// pays the 8-byte perf_event_header and is padded to 8 bytes, as PERF_RECORD_SAMPLE is).
struct PerfBuffer {
  std::mutex mutex;
  std::size_t capacity = 0;
  std::size_t used = 0;
  std::deque<std::vector<uint8_t>> samples;
  uint64_t lost = 0;
};

std::size_t footprint(std::size_t size) { return 8 + ((size + 4 + 7) & ~std::size_t{7}); }

class PerfEventArray final : public PerfEventArrayMap {
 public:
  explicit PerfEventArray(const MapDef& def) : PerfEventArrayMap(def), slots_(def.max_entries) {}

  Status open_buffer(uint32_t index, std::size_t capacity) override {
    if (index >= def_.max_entries)
      return map_error(E2BIG, fmt::format("perf_event_array '{}': index {} is out of range (max_entries {})", def_.name,
                                          index, def_.max_entries));
    auto buffer = std::make_shared<PerfBuffer>();
    buffer->capacity = capacity;
    slots_.exchange(index, std::move(buffer));
    return ok_status();
  }

  long output(uint64_t flags, const void* data, uint64_t size) override {
    if (flags & ~uint64_t{BPF_F_INDEX_MASK}) return fail(EINVAL, "invalid perf_event_output flags");
    uint64_t index = flags & BPF_F_INDEX_MASK;
    if (index == BPF_F_CURRENT_CPU) index = cpu::current();
    if (index >= def_.max_entries) return fail(E2BIG, "index out of range");
    std::shared_ptr<PerfBuffer> buffer = slots_.get(static_cast<uint32_t>(index));
    if (!buffer) return fail(ENOENT, "no perf buffer in this slot");
    std::lock_guard lock(buffer->mutex);
    if (buffer->used + footprint(size) > buffer->capacity) {
      ++buffer->lost;
      return fail(ENOSPC, "perf buffer is full");
    }
    const auto* p = static_cast<const uint8_t*>(data);
    buffer->samples.emplace_back(p, p + size);
    buffer->used += footprint(size);
    return 0;
  }

  long consume(const std::function<void(uint32_t, std::span<const uint8_t>)>& fn) override {
    long count = 0;
    for (uint32_t i = 0; i < def_.max_entries; ++i) {
      std::shared_ptr<PerfBuffer> buffer = slots_.get(i);
      if (!buffer) continue;
      for (;;) {
        std::vector<uint8_t> sample;
        {
          std::lock_guard lock(buffer->mutex);
          if (buffer->samples.empty()) break;
          sample = std::move(buffer->samples.front());
          buffer->samples.pop_front();
          buffer->used -= footprint(sample.size());
        }
        fn(i, sample);
        ++count;
      }
    }
    return count;
  }

  uint64_t lost(uint32_t index) const override {
    std::shared_ptr<PerfBuffer> buffer = index < def_.max_entries ? slots_.get(index) : nullptr;
    if (!buffer) return 0;
    std::lock_guard lock(buffer->mutex);
    return buffer->lost;
  }

  void* lookup_elem(const void*) override { return nullptr; }
  long update_elem(const void*, const void*, uint64_t) override { return fail(EINVAL, "programs cannot update a perf_event_array"); }
  long delete_elem(const void* key) override { return sys_delete(key); }

 protected:
  long sys_lookup(const void*, void*, uint64_t) const override {
    return fail(kEnotsupp, "perf_event_array slots cannot be read (ENOTSUPP)");
  }
  long sys_update(const void* key, const void*, uint64_t flags) override {
    if (flags != BPF_ANY) return fail(EINVAL, "perf_event_array updates take BPF_ANY only");
    if (load_u32(key) >= def_.max_entries) return fail(E2BIG, "index out of range");
    return fail(EBADF, "there are no perf event fds here; open a buffer with open_buffer()");
  }
  long sys_delete(const void* key) override { return slots_.erase(key); }
  long sys_get_next_key(const void* key, void* next) const override {
    return array_get_next_key(def_.max_entries, key, next);
  }

 private:
  FdSlots<std::shared_ptr<PerfBuffer>> slots_;
};

}  // namespace

Result<MapPtr> make_perf_event_array(const MapDef& def) {
  if (auto s = check_fd_array(def); !s) return s.error();
  return MapPtr(new PerfEventArray(def));
}

}  // namespace bpfvm::maps::detail
