// BLOOM_FILTER (kernel/bpf/bloom_filter.c): push adds a value, peek answers 0 when the value
// may have been added and ENOENT when it certainly was not. No keys, no deletes. map_extra's
// low 4 bits give the number of hash functions (0: 5).
#include <cstring>
#include <random>

#include "maps/families.hpp"

namespace bpfvm::maps::detail {
namespace {

uint32_t mix(const uint8_t* p, uint32_t n, uint32_t seed) {
  // The seed is spread over all bits: hash i and i+1 must not be the same function of a
  // value whose low bit differs.
  uint64_t h = 0x243f6a8885a308d3ull ^ (uint64_t{seed} * 0x9e3779b97f4a7c15ull);
  for (uint32_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<uint32_t>(h);
}

class BloomFilterMap final : public Map {
 public:
  BloomFilterMap(const MapDef& def, uint32_t nr_hashes, uint64_t nr_bits)
      : Map(def), nr_hashes_(nr_hashes), mask_(nr_bits - 1), bits_((nr_bits + 63) / 64),
        seed_((def.map_flags & BPF_F_ZERO_SEED) ? 0 : std::random_device{}()) {}

  void* lookup_elem(const void*) override { return nullptr; }
  long update_elem(const void*, const void*, uint64_t) override { return fail(EINVAL, "use push on a bloom filter"); }
  long delete_elem(const void*) override { return fail(EOPNOTSUPP, "a bloom filter cannot delete"); }

  long push_elem(const void* value, uint64_t flags) override {
    if (flags != BPF_ANY) return fail(EINVAL, "bloom filter push takes BPF_ANY only");
    for (uint32_t i = 0; i < nr_hashes_; ++i) {
      const uint64_t bit = bit_of(value, i);
      bits_[bit / 64].fetch_or(uint64_t{1} << (bit % 64), std::memory_order_relaxed);
    }
    return 0;
  }

  long peek_elem(void* value) override {
    for (uint32_t i = 0; i < nr_hashes_; ++i) {
      const uint64_t bit = bit_of(value, i);
      if (!(bits_[bit / 64].load(std::memory_order_relaxed) & (uint64_t{1} << (bit % 64))))
        return fail(ENOENT, "value is not in the filter");
    }
    return 0;
  }

  long pop_elem(void*) override { return fail(EOPNOTSUPP, "a bloom filter cannot pop"); }

 protected:
  long sys_lookup(const void*, void* value, uint64_t) const override {
    return const_cast<BloomFilterMap*>(this)->peek_elem(value);
  }
  long sys_update(const void*, const void* value, uint64_t flags) override { return push_elem(value, flags); }
  long sys_delete(const void*) override { return fail(EOPNOTSUPP, "a bloom filter cannot delete"); }
  long sys_get_next_key(const void*, void*) const override { return fail(EOPNOTSUPP, "a bloom filter has no keys"); }

 private:
  uint64_t bit_of(const void* value, uint32_t i) const {
    return mix(static_cast<const uint8_t*>(value), def_.value_size, seed_ + i) & mask_;
  }

  const uint32_t nr_hashes_;
  const uint64_t mask_;
  std::vector<std::atomic<uint64_t>> bits_;
  const uint32_t seed_;
};

}  // namespace

Result<MapPtr> make_bloom_filter(const MapDef& def) {
  constexpr uint32_t kFlags =
      BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;
  if (def.key_size != 0) return map_error(EINVAL, "key_size must be 0 for a bloom filter (it has no keys)");
  if (def.value_size == 0 || def.max_entries == 0) return map_error(EINVAL, "value_size and max_entries must be > 0");
  if (def.map_flags & ~kFlags)
    return map_error(EINVAL, fmt::format("map_flags {:#x} has flags a bloom filter does not take", def.map_flags));
  if (def.map_extra & ~uint64_t{0xf})
    return map_error(EINVAL, fmt::format("map_extra {:#x}: only the low 4 bits (number of hashes) may be set", def.map_extra));
  uint32_t nr_hashes = static_cast<uint32_t>(def.map_extra & 0xf);
  if (nr_hashes == 0) nr_hashes = 5;
  // Bits for a ~1% false-positive rate: entries * hashes / ln 2, as a power of two.
  uint64_t want = uint64_t{def.max_entries} * nr_hashes * 7 / 5;
  uint64_t nr_bits = 64;
  while (nr_bits < want && nr_bits < (uint64_t{1} << 32)) nr_bits <<= 1;
  return MapPtr(new BloomFilterMap(def, nr_hashes, nr_bits));
}

}  // namespace bpfvm::maps::detail
