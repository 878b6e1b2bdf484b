// ARRAY, PERCPU_ARRAY, HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH: the kernel's semantics on
// both faces (flags, full maps, iteration order, per-CPU values, LRU eviction).
#include <set>

#include "map_test_util.hpp"
#include "support/cpu.hpp"

namespace bpfvm::maps::test {
namespace {

TEST(MapCreate, RejectsWhatTheKernelRejects) {
  struct Case {
    uint32_t type, key, value, max, flags;
    int err;
  };
  const Case cases[] = {
      {BPF_MAP_TYPE_ARRAY, 8, 4, 1, 0, EINVAL},
      {BPF_MAP_TYPE_ARRAY, 4, 0, 1, 0, EINVAL},
      {BPF_MAP_TYPE_ARRAY, 4, 4, 0, 0, EINVAL},
      {BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_NO_PREALLOC, EINVAL},
      {BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1, BPF_F_MMAPABLE, EINVAL},
      {BPF_MAP_TYPE_PERCPU_ARRAY, 4, 40000, 1, 0, E2BIG},
      {BPF_MAP_TYPE_HASH, 0, 4, 1, 0, EINVAL},
      {BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_NO_COMMON_LRU, EINVAL},
      {BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_MMAPABLE, EINVAL},
      {BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_MMAPABLE, EINVAL},
      {BPF_MAP_TYPE_LRU_HASH, 4, 4, 1, BPF_F_NO_PREALLOC, 524},
      {BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_RDONLY | BPF_F_WRONLY, EINVAL},
      {BPF_MAP_TYPE_UNSPEC, 4, 4, 1, 0, EINVAL},
  };
  for (const Case& c : cases) {
    MapDef def{c.type, c.key, c.value, c.max, c.flags, 0, nullptr, "bad", -1};
    auto m = create_map(def);
    ASSERT_FALSE(m.ok()) << map_type_name(c.type) << " key " << c.key << " value " << c.value;
    EXPECT_EQ(m.error().errnum, c.err) << m.error().message;
    EXPECT_FALSE(m.error().message.empty());
  }
  MapDef bad_name{BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, 0, nullptr, "no spaces", -1};
  EXPECT_EQ(errnum(create_map(bad_name)), EINVAL);
  MapDef extra{BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, 3, nullptr, "x", -1};
  EXPECT_EQ(errnum(create_map(extra)), EINVAL);
}

TEST(ArrayMap, UpdateLookupFlagsAndBounds) {
  auto m = make(BPF_MAP_TYPE_ARRAY, 4, 8, 4);
  ASSERT_TRUE(m);
  EXPECT_EQ(as<uint64_t>(*m->lookup(bytes(2u))), 0u);  // zero-initialised
  EXPECT_TRUE(m->update(bytes(2u), bytes(uint64_t{42})).ok());
  EXPECT_EQ(as<uint64_t>(*m->lookup(bytes(2u))), 42u);
  EXPECT_EQ(errnum(m->update(bytes(2u), bytes(uint64_t{1}), BPF_NOEXIST)), EEXIST);
  EXPECT_TRUE(m->update(bytes(2u), bytes(uint64_t{43}), BPF_EXIST).ok());
  EXPECT_EQ(errnum(m->update(bytes(4u), bytes(uint64_t{1}))), E2BIG);
  EXPECT_EQ(errnum(m->update(bytes(1u), bytes(uint64_t{1}), 3)), EINVAL);
  EXPECT_EQ(errnum(m->lookup(bytes(4u))), ENOENT);
  EXPECT_EQ(errnum(m->erase(bytes(1u))), EINVAL);
  EXPECT_EQ(errnum(m->lookup_and_delete(bytes(1u))), 524);
  EXPECT_EQ(errnum(m->update(bytes(1u), bytes(uint32_t{1}))), EINVAL);  // value size
  auto bad = m->lookup(bytes(uint16_t{1}));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("key is 2 bytes"), std::string::npos) << bad.error().message;
}

TEST(ArrayMap, GetNextKeyIsIndexOrderAndRestartsOnBadKey) {
  auto m = make(BPF_MAP_TYPE_ARRAY, 4, 4, 3);
  EXPECT_EQ(as<uint32_t>(*m->get_next_key({})), 0u);
  EXPECT_EQ(as<uint32_t>(*m->get_next_key(bytes(0u))), 1u);
  EXPECT_EQ(as<uint32_t>(*m->get_next_key(bytes(1u))), 2u);
  EXPECT_EQ(errnum(m->get_next_key(bytes(2u))), ENOENT);
  EXPECT_EQ(as<uint32_t>(*m->get_next_key(bytes(77u))), 0u);
  std::vector<uint32_t> seen;
  EXPECT_TRUE(m->for_each([&](auto k, auto) {
    seen.push_back(as<uint32_t>(std::vector<uint8_t>(k.begin(), k.end())));
    return true;
  }).ok());
  EXPECT_EQ(seen, (std::vector<uint32_t>{0, 1, 2}));
}

TEST(ArrayMap, ProgramFacePointsIntoValueRegions) {
  auto m = make(BPF_MAP_TYPE_ARRAY, 4, 12, 3);
  uint32_t k = 1;
  auto* v = static_cast<uint8_t*>(m->lookup_elem(&k));
  ASSERT_NE(v, nullptr);
  const auto regions = m->value_regions();
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_GE(v, regions[0].data);
  EXPECT_LE(v + 12, regions[0].data + regions[0].size);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(v) % 8, 0u);
  v[0] = 7;
  EXPECT_EQ((*m->lookup(bytes(1u)))[0], 7);
  k = 3;
  EXPECT_EQ(m->lookup_elem(&k), nullptr);
  uint32_t val[3] = {1, 2, 3};
  k = 3;
  EXPECT_EQ(m->update_elem(&k, val, 0), -E2BIG);
  EXPECT_EQ(m->delete_elem(&k), -EINVAL);
}

TEST(PercpuArray, EachCpuHasItsOwnSlot) {
  auto m = make(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 2);
  const unsigned n = m->ncpus();
  EXPECT_EQ(m->user_value_size(), 8 * n);
  uint32_t k = 0;
  for (unsigned c = 0; c < n; ++c) {
    cpu::ScopedCpu on(c);
    uint32_t v = 100 + c;
    EXPECT_EQ(m->update_elem(&k, &v, 0), 0);
  }
  auto all = *m->lookup(bytes(0u));
  for (unsigned c = 0; c < n; ++c) {
    uint32_t v;
    std::memcpy(&v, all.data() + 8 * c, 4);
    EXPECT_EQ(v, 100 + c);
    cpu::ScopedCpu on(c);
    EXPECT_EQ(*static_cast<uint32_t*>(m->lookup_elem(&k)), 100 + c);
  }
  std::vector<uint8_t> in(8 * n, 0);
  in[0] = 9;
  EXPECT_TRUE(m->update(bytes(1u), in).ok());
  EXPECT_EQ((*m->lookup(bytes(1u)))[0], 9);
  EXPECT_EQ(errnum(m->update(bytes(1u), in, BPF_F_LOCK)), EINVAL);
}

class HashTypes : public ::testing::TestWithParam<uint32_t> {};

TEST_P(HashTypes, FlagsFullAndDelete) {
  const uint32_t type = GetParam();
  const bool lru = type == BPF_MAP_TYPE_LRU_HASH || type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
  auto m = make(type, 4, 8, 4);
  const std::size_t vs = m->user_value_size();
  auto val = [&](uint8_t b) { return std::vector<uint8_t>(vs, b); };
  EXPECT_EQ(errnum(m->lookup(bytes(1u))), ENOENT);
  EXPECT_EQ(errnum(m->update(bytes(1u), val(1), BPF_EXIST)), ENOENT);
  EXPECT_TRUE(m->update(bytes(1u), val(1), BPF_NOEXIST).ok());
  EXPECT_EQ(errnum(m->update(bytes(1u), val(2), BPF_NOEXIST)), EEXIST);
  EXPECT_TRUE(m->update(bytes(1u), val(3), BPF_EXIST).ok());
  EXPECT_EQ(*m->lookup(bytes(1u)), val(3));
  EXPECT_EQ(errnum(m->update(bytes(1u), val(3), 4 | 8)), EINVAL);
  for (uint32_t k = 2; k <= 4; ++k) EXPECT_TRUE(m->update(bytes(k), val(static_cast<uint8_t>(k))).ok());
  // Full: a new key is refused (or, for LRU, evicts); existing keys still update.
  if (lru) {
    EXPECT_TRUE(m->update(bytes(5u), val(5)).ok());
    int present = 0;
    for (uint32_t k = 1; k <= 5; ++k) present += m->lookup(bytes(k)).ok();
    EXPECT_EQ(present, 4);
    EXPECT_TRUE(m->lookup(bytes(5u)).ok());
  } else {
    EXPECT_EQ(errnum(m->update(bytes(5u), val(5))), E2BIG);
    EXPECT_TRUE(m->update(bytes(4u), val(44)).ok());
    EXPECT_EQ(*m->lookup(bytes(4u)), val(44));
    EXPECT_EQ(errnum(m->update(bytes(5u), val(5), BPF_EXIST)), ENOENT);
  }
  EXPECT_TRUE(m->erase(bytes(4u)).ok());
  EXPECT_EQ(errnum(m->erase(bytes(4u))), ENOENT);
  EXPECT_EQ(errnum(m->lookup(bytes(4u))), ENOENT);
  EXPECT_TRUE(m->update(bytes(6u), val(6)).ok());
  auto got = m->lookup_and_delete(bytes(6u));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(*got, val(6));
  EXPECT_EQ(errnum(m->lookup_and_delete(bytes(6u))), ENOENT);
}

TEST_P(HashTypes, GetNextKeyVisitsEveryKeyOnceAndRestartsOnUnknownKey) {
  auto m = make(GetParam(), 4, 4, 64);
  std::set<uint32_t> want;
  for (uint32_t k = 0; k < 40; ++k) {
    ASSERT_TRUE(m->update(bytes(k * 7919), std::vector<uint8_t>(m->user_value_size(), 1)).ok());
    want.insert(k * 7919);
  }
  std::set<uint32_t> seen;
  std::vector<uint8_t> key;
  for (;;) {
    auto next = m->get_next_key(key);
    if (!next) {
      EXPECT_EQ(next.error().errnum, ENOENT);
      break;
    }
    EXPECT_TRUE(seen.insert(as<uint32_t>(*next)).second);
    key = *next;
  }
  EXPECT_EQ(seen, want);
  EXPECT_EQ(*m->get_next_key(bytes(1u)), *m->get_next_key({}));  // 1 is not a key: first key
  // Deleting the current key while iterating: the next call restarts from the first key.
  auto first = *m->get_next_key({});
  auto second = *m->get_next_key(first);
  ASSERT_TRUE(m->erase(first).ok());
  EXPECT_EQ(*m->get_next_key(first), second);
  auto empty = make(GetParam(), 4, 4, 4);
  EXPECT_EQ(errnum(empty->get_next_key({})), ENOENT);
}

TEST_P(HashTypes, ProgramFace) {
  auto m = make(GetParam(), 8, 16, 8);
  uint64_t k = 99;
  uint8_t v[16] = {1, 2, 3};
  EXPECT_EQ(m->lookup_elem(&k), nullptr);
  EXPECT_EQ(m->update_elem(&k, v, BPF_EXIST), -ENOENT);
  EXPECT_EQ(m->update_elem(&k, v, BPF_ANY), 0);
  auto* p = static_cast<uint8_t*>(m->lookup_elem(&k));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(std::memcmp(p, v, 16), 0);
  bool inside = false;
  for (const auto& r : m->value_regions()) inside |= p >= r.data && p + 16 <= r.data + r.size;
  EXPECT_TRUE(inside);
  p[15] = 77;  // programs write values in place
  EXPECT_EQ((*m->lookup(bytes(k)))[15], 77);
  EXPECT_EQ(m->delete_elem(&k), 0);
  EXPECT_EQ(m->delete_elem(&k), -ENOENT);
}

INSTANTIATE_TEST_SUITE_P(All, HashTypes,
                         ::testing::Values(BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_HASH,
                                           BPF_MAP_TYPE_LRU_PERCPU_HASH),
                         [](const auto& p) { return map_type_name(p.param); });

TEST(HashMap, DumpAndDeleteWhileIterating) {
  auto m = make(BPF_MAP_TYPE_HASH, 4, 4, 16);
  for (uint32_t k = 0; k < 10; ++k) ASSERT_TRUE(m->update(bytes(k), bytes(k * 10)).ok());
  auto all = *m->dump();
  ASSERT_EQ(all.size(), 10u);
  std::set<uint32_t> keys;
  for (const auto& [k, v] : all) {
    keys.insert(as<uint32_t>(k));
    EXPECT_EQ(as<uint32_t>(v), as<uint32_t>(k) * 10);
  }
  EXPECT_EQ(keys.size(), 10u);
  EXPECT_EQ(m->dump(3)->size(), 3u);
  // Deleting each element as it is visited: the walk restarts from the first key left, so
  // every element is still visited exactly once.
  std::multiset<uint32_t> visited;
  ASSERT_TRUE(m->for_each([&](auto k, auto) {
    visited.insert(as<uint32_t>(std::vector<uint8_t>(k.begin(), k.end())));
    EXPECT_TRUE(m->erase(k).ok());
    return true;
  }).ok());
  EXPECT_EQ(visited.size(), 10u);
  EXPECT_EQ(std::set<uint32_t>(visited.begin(), visited.end()).size(), 10u);
  EXPECT_EQ(errnum(m->get_next_key({})), ENOENT);
}

TEST(PercpuHash, NewElementFromProgramZeroesOtherCpus) {
  auto m = make(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 4);
  if (m->ncpus() < 2) GTEST_SKIP() << "needs 2 possible CPUs";
  uint32_t k = 1, v = 5;
  {
    cpu::ScopedCpu on(1);
    EXPECT_EQ(m->update_elem(&k, &v, 0), 0);
  }
  auto all = *m->lookup(bytes(k));
  EXPECT_EQ(all[0], 0);
  EXPECT_EQ(all[8], 5);
}

// Program lookups mark an element used, through lookup_elem and through the direct call that
// verified code makes alike.
TEST(LruHash, EvictsLeastRecentlyUsedAndLookupsRefresh) {
  for (bool direct : {false, true}) {
    auto m = make(BPF_MAP_TYPE_LRU_HASH, 4, 4, 4);
    for (uint32_t k = 1; k <= 4; ++k) ASSERT_TRUE(m->update(bytes(k), bytes(k)).ok());
    uint32_t k1 = 1;
    // A program touches 1: 2 is now the oldest.
    ASSERT_NE(direct ? m->direct_lookup()(m.get(), &k1) : m->lookup_elem(&k1), nullptr);
    ASSERT_TRUE(m->update(bytes(5u), bytes(5u)).ok());
    EXPECT_EQ(errnum(m->lookup(bytes(2u))), ENOENT) << direct;
    EXPECT_TRUE(m->lookup(bytes(1u)).ok()) << direct;
    ASSERT_TRUE(m->update(bytes(6u), bytes(6u)).ok());  // then 3
    EXPECT_EQ(errnum(m->lookup(bytes(3u))), ENOENT);
    for (uint32_t k : {1u, 4u, 5u, 6u}) EXPECT_TRUE(m->lookup(bytes(k)).ok()) << k;
    // User-space lookups do not count as use (as in the kernel): 1 goes next... after 4.
    ASSERT_TRUE(m->update(bytes(7u), bytes(7u)).ok());
    EXPECT_EQ(errnum(m->lookup(bytes(4u))), ENOENT);
  }
}

TEST(LruHash, NoCommonLruRoundsMaxEntriesAndEvictsPerCpu) {
  const unsigned n = cpu::possible();
  auto m = make(BPF_MAP_TYPE_LRU_HASH, 4, 4, 3, BPF_F_NO_COMMON_LRU);
  EXPECT_EQ(m->max_entries() % n, 0u);
  EXPECT_GE(m->max_entries(), 3u);
  cpu::ScopedCpu on(0);
  const uint32_t share = m->max_entries() / n;
  for (uint32_t k = 0; k < share + 1; ++k) {
    uint32_t v = k;
    ASSERT_EQ(m->update_elem(&k, &v, 0), 0);
  }
  uint32_t k0 = 0;
  EXPECT_EQ(m->lookup_elem(&k0), nullptr);  // CPU 0's oldest was evicted
  uint32_t last = share;
  EXPECT_NE(m->lookup_elem(&last), nullptr);
}

TEST(HashMap, SpinLockFlag) {
  MapDef def{BPF_MAP_TYPE_HASH, 4, 16, 4, 0, 0, nullptr, "locked", 0};
  auto m = *create_map(def);
  std::vector<uint8_t> v(16, 0xab);
  ASSERT_TRUE(m->update(bytes(1u), v).ok());
  auto out = *m->lookup(bytes(1u));
  EXPECT_EQ(out[0], 0);  // the lock word is never copied out
  EXPECT_EQ(out[4], 0xab);
  v.assign(16, 0xcd);
  EXPECT_TRUE(m->update(bytes(1u), v, BPF_F_LOCK).ok());
  EXPECT_EQ((*m->lookup(bytes(1u), BPF_F_LOCK))[15], 0xcd);
  auto plain = make(BPF_MAP_TYPE_HASH, 4, 16, 4);
  EXPECT_EQ(errnum(plain->update(bytes(1u), v, BPF_F_LOCK)), EINVAL);
}

TEST(MapAccess, ReadOnlyWriteOnlyAndFrozen) {
  auto ro = make(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY);
  EXPECT_EQ(errnum(ro->update(bytes(0u), bytes(1u))), EPERM);
  EXPECT_TRUE(ro->lookup(bytes(0u)).ok());
  auto wo = make(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_WRONLY);
  EXPECT_EQ(errnum(wo->lookup(bytes(0u))), EPERM);
  auto rodata = make(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY_PROG);
  EXPECT_FALSE(rodata->value_regions()[0].writable);
  EXPECT_TRUE(rodata->update(bytes(0u), bytes(5u)).ok());
  EXPECT_TRUE(rodata->freeze().ok());
  EXPECT_EQ(errnum(rodata->freeze()), EPERM);  // as the kernel: no write access left
  EXPECT_EQ(errnum(ro->freeze()), EPERM);
  EXPECT_EQ(errnum(rodata->update(bytes(0u), bytes(6u))), EPERM);
  EXPECT_EQ(as<uint32_t>(*rodata->lookup(bytes(0u))), 5u);
}

}  // namespace
}  // namespace bpfvm::maps::test
