// Internal to src/maps: each family's factory (validation as its kernel map_alloc_check does)
// and the small shared pieces the families use.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <linux/bpf.h>

#include <fmt/format.h>

#include "maps/map.hpp"

namespace bpfvm::maps::detail {

Result<MapPtr> make_array(const MapDef& def);          // ARRAY, PERCPU_ARRAY
Result<MapPtr> make_hash(const MapDef& def);           // HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH
Result<MapDef> check_hash(const MapDef& def);          // htab_map_alloc_check; the def as the map will have it
Result<MapPtr> make_prog_array(const MapDef& def);
Result<MapPtr> make_perf_event_array(const MapDef& def);
Result<MapPtr> make_ringbuf(const MapDef& def);
Result<MapPtr> make_queue_stack(const MapDef& def);    // QUEUE, STACK
Result<MapPtr> make_lpm_trie(const MapDef& def);
Result<MapPtr> make_map_in_map(const MapDef& def);     // ARRAY_OF_MAPS, HASH_OF_MAPS
Result<MapPtr> make_bloom_filter(const MapDef& def);

inline Error map_error(int errnum, std::string message) {
  Error e{ErrorKind::kInput, std::move(message), std::nullopt, std::nullopt};
  e.errnum = errnum;
  return e;
}

// A failure on the program face is only an errno; the reason for user space is kept per thread
// so Map's user-space face can say more than "Invalid argument".
long fail(int errnum, const char* reason);
const char* take_reason();

// A test-and-test-and-set spinlock: critical sections in maps are a few copies long.
class SpinLock {
 public:
  void lock() {
    while (flag_.exchange(true, std::memory_order_acquire)) {
      while (flag_.load(std::memory_order_relaxed)) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
      }
    }
  }
  void unlock() { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

// Each family's own checks call this to fill the fields every map has.
uint32_t next_map_id();

// The kernel's MAX_BPF_STACK: keys of maps programs look up live on the stack.
inline constexpr uint32_t kMaxBpfStack = 512;
// KMALLOC_MAX_SIZE on x86-64 (order-10 pages): the kernel's bound for one value.
inline constexpr uint64_t kKmallocMaxSize = uint64_t{1} << 22;
// PCPU_MIN_UNIT_SIZE: the bound for one per-CPU value.
inline constexpr uint32_t kPcpuMinUnitSize = 32 << 10;
// bpfvm's own bound on what one map preallocates (the kernel's is the memory cgroup).
inline constexpr uint64_t kMaxMapBytes = uint64_t{1} << 32;

}  // namespace bpfvm::maps::detail

namespace bpfvm::maps::detail {
// ENOTSUPP: the kernel-internal errno some map operations return to user space as is.
inline constexpr int kEnotsupp = 524;

// Zeroed, page-aligned memory for a map's values, fixed for the map's life: maps hand out
// pointers into it. Anonymous mappings are committed only when touched, so a large
// max_entries costs address space, not memory, until elements are used.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(std::size_t n = 0);
  ~AlignedBuffer();
  AlignedBuffer(AlignedBuffer&& other) noexcept : data_(other.data_), bytes(other.bytes) {
    other.data_ = nullptr;
    other.bytes = 0;
  }
  AlignedBuffer& operator=(AlignedBuffer&&) = delete;
  [[nodiscard]] uint8_t* data() const { return data_; }

 private:
  uint8_t* data_ = nullptr;

 public:
  std::size_t bytes = 0;
};

inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Flags BPF_ANY/BPF_NOEXIST/BPF_EXIST, optionally with BPF_F_LOCK.
inline bool bad_update_flags(uint64_t flags) { return (flags & ~uint64_t{BPF_F_LOCK}) > BPF_EXIST; }
}  // namespace bpfvm::maps::detail

namespace bpfvm::maps::detail {
// fd_array_map_alloc_check: 4-byte keys and values (fds), no program-side access flags.
Status check_fd_array(const MapDef& def);

// array_map_get_next_key: index order; no key, or an index past the end, starts at 0.
long array_get_next_key(uint32_t max_entries, const void* key, void* next);

// The slots of an fd array (prog_array, perf_event_array): each holds a handle (something
// testable as empty) or nothing. Readers copy a handle out under the lock; a replaced or
// deleted handle is released after the lock.
template <typename T>
class FdSlots {
 public:
  explicit FdSlots(uint32_t count) : slots_(count) {}
  [[nodiscard]] uint32_t size() const { return static_cast<uint32_t>(slots_.size()); }
  [[nodiscard]] T get(uint32_t index) const {
    std::lock_guard lock(lock_);
    return slots_[index];
  }
  // Returns the slot's previous handle.
  T exchange(uint32_t index, T handle) {
    std::lock_guard lock(lock_);
    return std::exchange(slots_[index], std::move(handle));
  }
  // BPF_MAP_DELETE_ELEM: E2BIG out of range, ENOENT for an empty slot.
  long erase(const void* key) {
    const uint32_t index = load_u32(key);
    if (index >= size()) return fail(E2BIG, "index out of range");
    T old;
    std::lock_guard lock(lock_);
    if (!slots_[index]) return fail(ENOENT, "slot is empty");
    old = std::exchange(slots_[index], T{});
    return 0;
  }

 private:
  mutable std::mutex lock_;
  std::vector<T> slots_;
};
}  // namespace bpfvm::maps::detail
