// LPM_TRIE (kernel/bpf/lpm_trie.c): keys are struct bpf_lpm_trie_key (u32 prefixlen, then
// data in network order); a lookup answers the entry with the longest prefix that matches the
// key's first prefixlen bits.
//
// Entries are kept in a std::map ordered as the kernel's trie is walked by get_next_key (a
// post-order walk: a more specific prefix before the prefixes that contain it, and at the
// first differing bit the 0 side first), so iteration order is the kernel's. Lookups try the
// prefix lengths in use from the longest down. Values live in a pool allocated at creation (the
// kernel requires BPF_F_NO_PREALLOC and allocates nodes; a pool keeps program pointers valid).
#include <bitset>
#include <cstring>
#include <map>
#include <mutex>

#include "maps/families.hpp"

namespace bpfvm::maps::detail {
namespace {

constexpr uint32_t kNil = UINT32_MAX;

bool bit(const std::vector<uint8_t>& d, uint32_t i) { return (d[i / 8] >> (7 - i % 8)) & 1; }

struct Prefix {
  uint32_t len = 0;
  std::vector<uint8_t> bits;  // masked to len bits
};

// The post-order of the binary trie over prefixes.
struct PostOrder {
  bool operator()(const Prefix& a, const Prefix& b) const {
    const uint32_t common = std::min(a.len, b.len);
    for (uint32_t i = 0; i < common; ++i) {
      const bool x = bit(a.bits, i), y = bit(b.bits, i);
      if (x != y) return !x;
    }
    return a.len > b.len;  // the longer one lies below the shorter one: visited first
  }
};

class LpmTrie final : public Map {
 public:
  explicit LpmTrie(const MapDef& def)
      : Map(def), data_size_(def.key_size - 4), max_prefixlen_(data_size_ * 8), value_stride_(round_up8(def.value_size)),
        values_(std::size_t{def.max_entries} * value_stride_), keys_(std::size_t{def.max_entries} * def.key_size),
        lens_in_use_(max_prefixlen_ + 1, 0) {
    free_.reserve(def.max_entries);
    for (uint32_t i = def.max_entries; i-- > 0;) free_.push_back(i);
  }

  void* lookup_elem(const void* key) override {
    std::lock_guard lock(lock_);
    const uint32_t slot = longest_match(static_cast<const uint8_t*>(key));
    return slot == kNil ? nullptr : value_at(slot);
  }

  long update_elem(const void* key, const void* value, uint64_t flags) override {
    if (flags > BPF_EXIST) return fail(EINVAL, "invalid update flags");
    const auto* k = static_cast<const uint8_t*>(key);
    const uint32_t len = load_u32(k);
    if (len > max_prefixlen_) return fail(EINVAL, "prefixlen is longer than the key's data");
    Prefix p = prefix(k, len);
    std::lock_guard lock(lock_);
    auto it = entries_.find(p);
    if (it != entries_.end() && flags == BPF_NOEXIST) return fail(EEXIST, "prefix exists (BPF_NOEXIST)");
    if (it == entries_.end() && flags == BPF_EXIST) return fail(ENOENT, "no such prefix (BPF_EXIST)");
    uint32_t slot;
    if (it != entries_.end()) {
      slot = it->second;
    } else {
      if (free_.empty()) return fail(ENOSPC, "trie is full (max_entries)");
      slot = free_.back();
      free_.pop_back();
      entries_.emplace(std::move(p), slot);
      ++lens_in_use_[len];
    }
    std::memcpy(key_at(slot), k, def_.key_size);  // the kernel keeps the key's data as given
    std::memcpy(value_at(slot), value, def_.value_size);
    return 0;
  }

  long delete_elem(const void* key) override {
    const auto* k = static_cast<const uint8_t*>(key);
    const uint32_t len = load_u32(k);
    if (len > max_prefixlen_) return fail(EINVAL, "prefixlen is longer than the key's data");
    std::lock_guard lock(lock_);
    auto it = entries_.find(prefix(k, len));
    if (it == entries_.end()) return fail(ENOENT, "no such prefix");
    free_.push_back(it->second);
    --lens_in_use_[len];
    entries_.erase(it);
    return 0;
  }

  std::vector<MemoryRegion> value_regions() const override {
    return {MemoryRegion{values_.data(), values_.bytes, (def_.map_flags & BPF_F_RDONLY_PROG) == 0}};
  }

 protected:
  long sys_lookup(const void* key, void* value, uint64_t flags) const override {
    if (flags) return fail(EINVAL, "no lookup flags for an LPM trie");
    std::lock_guard lock(lock_);
    const uint32_t slot = longest_match(static_cast<const uint8_t*>(key));
    if (slot == kNil) return fail(ENOENT, "no matching prefix");
    std::memcpy(value, value_at(slot), def_.value_size);
    return 0;
  }
  long sys_update(const void* key, const void* value, uint64_t flags) override { return update_elem(key, value, flags); }
  long sys_delete(const void* key) override { return delete_elem(key); }

  long sys_get_next_key(const void* key, void* next) const override {
    std::lock_guard lock(lock_);
    auto it = entries_.begin();
    if (key) {
      const auto* k = static_cast<const uint8_t*>(key);
      const uint32_t len = load_u32(k);
      if (len <= max_prefixlen_) {
        auto found = entries_.find(prefix(k, len));
        if (found != entries_.end()) it = std::next(found);  // not found: the first (leftmost) key
      }
    }
    if (it == entries_.end()) return fail(ENOENT, "no more keys");
    std::memcpy(next, key_at(it->second), def_.key_size);
    return 0;
  }

 private:
  Prefix prefix(const uint8_t* key, uint32_t len) const {
    Prefix p;
    p.len = len;
    p.bits.assign(key + 4, key + 4 + data_size_);
    for (uint32_t i = len; i < max_prefixlen_; ++i) p.bits[i / 8] &= static_cast<uint8_t>(~(0x80u >> (i % 8)));
    return p;
  }

  // Under lock_.
  uint32_t longest_match(const uint8_t* key) const {
    const uint32_t limit = load_u32(key);
    if (limit > max_prefixlen_) return kNil;  // trie_lookup_elem: no match at all
    for (uint32_t len = limit + 1; len-- > 0;) {
      if (!lens_in_use_[len]) continue;
      auto it = entries_.find(prefix(key, len));
      if (it != entries_.end()) return it->second;
    }
    return kNil;
  }

  uint8_t* value_at(uint32_t slot) const { return values_.data() + std::size_t{slot} * value_stride_; }
  uint8_t* key_at(uint32_t slot) const { return keys_.data() + std::size_t{slot} * def_.key_size; }

  const uint32_t data_size_;
  const uint32_t max_prefixlen_;
  const uint32_t value_stride_;
  mutable SpinLock lock_;
  AlignedBuffer values_;
  AlignedBuffer keys_;
  std::map<Prefix, uint32_t, PostOrder> entries_;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> lens_in_use_;  // entries per prefix length
};

}  // namespace

Result<MapPtr> make_lpm_trie(const MapDef& def) {
  constexpr uint32_t kFlags = BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG |
                              BPF_F_WRONLY_PROG;
  if (def.max_entries == 0) return map_error(EINVAL, "max_entries must be > 0");
  if (!(def.map_flags & BPF_F_NO_PREALLOC)) return map_error(EINVAL, "an LPM trie must be created with BPF_F_NO_PREALLOC");
  if (def.map_flags & ~kFlags)
    return map_error(EINVAL, fmt::format("map_flags {:#x} has flags an LPM trie does not take", def.map_flags));
  if (def.key_size < 5 || def.key_size > 4 + 256)
    return map_error(EINVAL, fmt::format("key_size {} must be 4 (prefixlen) + 1..256 bytes of data", def.key_size));
  if (def.value_size < 1 || def.value_size > kKmallocMaxSize - 256 - 64)
    return map_error(EINVAL, fmt::format("value_size {} is out of range", def.value_size));
  const uint64_t bytes = uint64_t{def.max_entries} * (round_up8(def.value_size) + def.key_size);
  if (bytes > kMaxMapBytes) return map_error(ENOMEM, fmt::format("map would need {} bytes", bytes));
  return MapPtr(new LpmTrie(def));
}

}  // namespace bpfvm::maps::detail
