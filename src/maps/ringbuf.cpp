#include "maps/ringbuf.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <shared_mutex>

#include "maps/families.hpp"

namespace bpfvm::maps {
namespace detail {
namespace {

constexpr uint32_t kBusyBit = 1u << 31;
constexpr uint32_t kDiscardBit = 1u << 30;
constexpr uint32_t kHeaderSize = 8;
constexpr const char* kNoElements = "a ring buffer has no elements (ENOTSUPP); consume its records";
constexpr uint64_t kMaxRecordSize = UINT32_MAX / 4;  // RINGBUF_MAX_RECORD_SZ

// Live ring buffers by the address range of their data, for RingBufMap::owning().
struct Registry {
  std::shared_mutex mutex;
  std::map<uintptr_t, std::pair<uintptr_t, RingBufMap*>> by_start;  // start -> (end, map)
};
Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

class RingBuf final : public RingBufMap {
 public:
  RingBuf(const MapDef& def, uint8_t* data) : RingBufMap(def), data_(data), mask_(def.max_entries - 1) {
    std::unique_lock lock(registry().mutex);
    registry().by_start[reinterpret_cast<uintptr_t>(data_)] = {reinterpret_cast<uintptr_t>(data_) + 2 * size(), this};
  }
  ~RingBuf() override {
    {
      std::unique_lock lock(registry().mutex);
      registry().by_start.erase(reinterpret_cast<uintptr_t>(data_));
    }
    munmap(data_, 2 * size());
  }

  static Result<MapPtr> create(const MapDef& def) {
    const std::size_t n = def.max_entries;
    const int fd = memfd_create("bpfvm-ringbuf", MFD_CLOEXEC);
    if (fd < 0) return map_error(ENOMEM, std::string("memfd_create for the ring buffer failed: ") + std::strerror(errno));
    if (ftruncate(fd, static_cast<off_t>(n)) != 0) {
      close(fd);
      return map_error(ENOMEM, "cannot size the ring buffer");
    }
    void* area = mmap(nullptr, 2 * n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bool ok = area != MAP_FAILED;
    if (ok) {
      auto* base = static_cast<uint8_t*>(area);
      ok = mmap(base, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != MAP_FAILED &&
           mmap(base + n, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != MAP_FAILED;
      if (!ok) munmap(area, 2 * n);
    }
    close(fd);
    if (!ok) return map_error(ENOMEM, "cannot map the ring buffer twice");
    return MapPtr(new RingBuf(def, static_cast<uint8_t*>(area)));
  }

  void* reserve(uint64_t size_in, uint64_t flags) override {
    if (flags != 0 || size_in > kMaxRecordSize) return nullptr;
    const uint64_t len = (size_in + kHeaderSize + 7) & ~uint64_t{7};
    if (len > size()) return nullptr;
    std::lock_guard lock(producer_lock_);
    const uint64_t cons = cons_pos_.load(std::memory_order_acquire);
    const uint64_t prod = prod_pos_.load(std::memory_order_relaxed);
    if (prod + len - cons > size()) return nullptr;
    uint8_t* hdr = data_ + (prod & mask_);
    header(hdr).store(static_cast<uint32_t>(size_in) | kBusyBit, std::memory_order_relaxed);
    const uint32_t pg_off = static_cast<uint32_t>((prod & mask_) / 4096);
    std::memcpy(hdr + 4, &pg_off, 4);
    prod_pos_.store(prod + len, std::memory_order_release);
    return hdr + kHeaderSize;
  }

  void submit(void* sample, uint64_t flags) override { commit(sample, flags, false); }
  void discard(void* sample, uint64_t flags) override { commit(sample, flags, true); }

  long output(const void* data, uint64_t size_in, uint64_t flags) override {
    if (flags & ~uint64_t{BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP}) return fail(EINVAL, "invalid ringbuf output flags");
    void* rec = reserve(size_in, 0);
    if (!rec) return fail(EAGAIN, "ring buffer is full");
    std::memcpy(rec, data, size_in);
    submit(rec, flags);
    return 0;
  }

  uint64_t query(uint64_t flags) const override {
    const uint64_t cons = cons_pos_.load(std::memory_order_acquire);
    const uint64_t prod = prod_pos_.load(std::memory_order_acquire);
    switch (flags) {
      case BPF_RB_AVAIL_DATA: return prod - cons;
      case BPF_RB_RING_SIZE: return size();
      case BPF_RB_CONS_POS: return cons;
      case BPF_RB_PROD_POS: return prod;
      default: return 0;
    }
  }

  long consume(const std::function<int(std::span<const uint8_t>)>& fn) override {
    std::lock_guard lock(consumer_lock_);
    long count = 0;
    uint64_t cons = cons_pos_.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t prod = prod_pos_.load(std::memory_order_acquire);
      if (cons >= prod) break;
      uint8_t* hdr = data_ + (cons & mask_);
      const uint32_t word = header(hdr).load(std::memory_order_acquire);
      if (word & kBusyBit) break;
      const uint32_t len = word & ~(kBusyBit | kDiscardBit);
      const uint64_t next = cons + ((uint64_t{len} + kHeaderSize + 7) & ~uint64_t{7});
      if (!(word & kDiscardBit)) {
        const int r = fn(std::span<const uint8_t>(hdr + kHeaderSize, len));
        if (r != 0) {
          cons_pos_.store(next, std::memory_order_release);
          return r;
        }
        ++count;
      }
      cons = next;
      cons_pos_.store(cons, std::memory_order_release);
    }
    return count;
  }

  long poll(const std::function<int(std::span<const uint8_t>)>& fn, int timeout_ms) override {
    {
      std::unique_lock lock(wake_mutex_);
      const uint64_t seen = wakeups_.load();
      wake_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
        return wakeups_.load() != seen || query(BPF_RB_AVAIL_DATA) != 0;
      });
    }
    return consume(fn);
  }

  uint64_t wakeups() const override { return wakeups_.load(); }

  std::vector<MemoryRegion> value_regions() const override { return {MemoryRegion{data_, 2 * size(), true}}; }

 protected:
  // The kernel answers ENOTSUPP to every element command on a ring buffer.
  long sys_lookup(const void*, void*, uint64_t) const override { return fail(kEnotsupp, kNoElements); }
  long sys_update(const void*, const void*, uint64_t) override { return fail(kEnotsupp, kNoElements); }
  long sys_delete(const void*) override { return fail(kEnotsupp, kNoElements); }
  long sys_get_next_key(const void*, void*) const override { return fail(kEnotsupp, kNoElements); }

 private:
  std::size_t size() const { return std::size_t{mask_} + 1; }
  static std::atomic_ref<uint32_t> header(uint8_t* hdr) { return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(hdr)); }

  void commit(void* sample, uint64_t flags, bool discarded) {
    auto* hdr = static_cast<uint8_t*>(sample) - kHeaderSize;
    // The header may be in the second mapping when the record wrapped; either copy is the same memory.
    std::atomic_ref<uint32_t> word = header(hdr);
    uint32_t v = word.load(std::memory_order_relaxed);
    uint32_t nv = (v & ~kBusyBit) | (discarded ? kDiscardBit : 0);
    word.exchange(nv, std::memory_order_acq_rel);
    const uint64_t rec_pos = pos_of(hdr);
    bool wake = false;
    if (flags & BPF_RB_FORCE_WAKEUP) wake = true;
    else if (!(flags & BPF_RB_NO_WAKEUP)) wake = (cons_pos_.load(std::memory_order_acquire) & mask_) == (rec_pos & mask_);
    if (wake) {
      std::lock_guard lock(wake_mutex_);
      wakeups_.fetch_add(1);
      wake_cv_.notify_all();
    }
  }
  uint64_t pos_of(const uint8_t* hdr) const { return static_cast<uint64_t>(hdr - data_) & mask_; }

  uint8_t* data_;  // 2 * size bytes: the same pages twice
  const uint32_t mask_;
  SpinLock producer_lock_;
  std::mutex consumer_lock_;
  std::atomic<uint64_t> cons_pos_{0};
  std::atomic<uint64_t> prod_pos_{0};
  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;
  std::atomic<uint64_t> wakeups_{0};
};

}  // namespace

Result<MapPtr> make_ringbuf(const MapDef& def) {
  const long page = sysconf(_SC_PAGESIZE);
  if (def.key_size != 0 || def.value_size != 0)
    return map_error(EINVAL, "key_size and value_size must be 0 for a ring buffer");
  if (def.max_entries == 0 || (def.max_entries & (def.max_entries - 1)) || def.max_entries % page)
    return map_error(EINVAL, fmt::format("max_entries {} must be a power of 2 and a multiple of the page size ({})",
                                         def.max_entries, page));
  if (def.map_flags & ~uint32_t{BPF_F_NUMA_NODE})
    return map_error(EINVAL, fmt::format("map_flags {:#x} has flags a ring buffer does not take", def.map_flags));
  if (def.max_entries > kMaxMapBytes / 2) return map_error(E2BIG, fmt::format("max_entries {} is too large", def.max_entries));
  return RingBuf::create(def);
}

}  // namespace detail

RingBufMap* RingBufMap::owning(const void* sample) {
  auto& reg = detail::registry();
  std::shared_lock lock(reg.mutex);
  const auto p = reinterpret_cast<uintptr_t>(sample);
  auto it = reg.by_start.upper_bound(p);
  if (it == reg.by_start.begin()) return nullptr;
  --it;
  return p < it->second.first ? it->second.second : nullptr;
}

}  // namespace bpfvm::maps
