// QUEUE, STACK, BLOOM_FILTER, RINGBUF, PERF_EVENT_ARRAY, PROG_ARRAY, ARRAY_OF_MAPS,
// HASH_OF_MAPS, LPM_TRIE: the kernel's semantics on both faces.
#include <arpa/inet.h>
#include <unistd.h>

#include <array>

#include "map_test_util.hpp"
#include "maps/map_in_map.hpp"
#include "maps/perf_event_array.hpp"
#include "maps/prog_array.hpp"
#include "maps/ringbuf.hpp"
#include "support/cpu.hpp"

namespace bpfvm::maps::test {
namespace {

TEST(QueueMap, FifoOrderFullAndOverwrite) {
  auto q = make(BPF_MAP_TYPE_QUEUE, 0, 4, 3);
  EXPECT_EQ(errnum(q->lookup({})), ENOENT);
  EXPECT_EQ(errnum(q->lookup_and_delete({})), ENOENT);
  for (uint32_t v : {1u, 2u, 3u}) EXPECT_TRUE(q->update({}, bytes(v)).ok());
  EXPECT_EQ(errnum(q->update({}, bytes(4u))), E2BIG);
  EXPECT_EQ(errnum(q->update({}, bytes(4u), BPF_NOEXIST)), EINVAL);
  EXPECT_TRUE(q->update({}, bytes(4u), BPF_EXIST).ok());  // drops 1, the oldest
  EXPECT_EQ(as<uint32_t>(*q->lookup({})), 2u);           // peek
  std::vector<uint32_t> order;
  while (auto v = q->lookup_and_delete({})) order.push_back(as<uint32_t>(*v));
  EXPECT_EQ(order, (std::vector<uint32_t>{2, 3, 4}));
  EXPECT_EQ(errnum(q->erase({})), EINVAL);
  EXPECT_EQ(errnum(q->get_next_key({})), EINVAL);
  EXPECT_EQ(errnum(q->lookup_and_delete({}, BPF_F_LOCK)), EINVAL);
  uint32_t v = 9, out = 0;
  EXPECT_EQ(q->push_elem(&v, 0), 0);
  EXPECT_EQ(q->peek_elem(&out), 0);
  EXPECT_EQ(out, 9u);
  EXPECT_EQ(q->pop_elem(&out), 0);
  EXPECT_EQ(q->pop_elem(&out), -ENOENT);
  EXPECT_EQ(q->lookup_elem(nullptr), nullptr);
}

TEST(StackMap, LifoOrderAndOverwriteDropsOldest) {
  auto s = make(BPF_MAP_TYPE_STACK, 0, 4, 3);
  for (uint32_t v : {1u, 2u, 3u}) EXPECT_TRUE(s->update({}, bytes(v)).ok());
  EXPECT_TRUE(s->update({}, bytes(4u), BPF_EXIST).ok());
  std::vector<uint32_t> order;
  while (auto v = s->lookup_and_delete({})) order.push_back(as<uint32_t>(*v));
  EXPECT_EQ(order, (std::vector<uint32_t>{4, 3, 2}));
}

TEST(BloomFilter, NoFalseNegativesAndFewFalsePositives) {
  MapDef bad{BPF_MAP_TYPE_BLOOM_FILTER, 0, 8, 100, 0, 0x10, nullptr, "b", -1};
  EXPECT_EQ(errnum(create_map(bad)), EINVAL);
  auto b = make(BPF_MAP_TYPE_BLOOM_FILTER, 0, 8, 1000, 0, 3);
  for (uint64_t v = 0; v < 1000; ++v) ASSERT_TRUE(b->update({}, bytes(v * 2)).ok());
  for (uint64_t v = 0; v < 1000; ++v) EXPECT_TRUE(b->contains(bytes(v * 2)).ok()) << v;
  int false_positives = 0;
  for (uint64_t v = 0; v < 1000; ++v) false_positives += b->contains(bytes(v * 2 + 1)).ok();
  EXPECT_LT(false_positives, 100);
  EXPECT_EQ(errnum(b->update({}, bytes(uint64_t{1}), BPF_EXIST)), EINVAL);
  // The program face, on an empty filter (where nothing can be a false positive).
  auto fresh = make(BPF_MAP_TYPE_BLOOM_FILTER, 0, 8, 1000, 0, 3);
  uint64_t v = 12345;
  EXPECT_EQ(fresh->peek_elem(&v), -ENOENT);
  EXPECT_EQ(fresh->push_elem(&v, 0), 0);
  EXPECT_EQ(fresh->peek_elem(&v), 0);
  EXPECT_EQ(fresh->pop_elem(&v), -EOPNOTSUPP);
}

std::shared_ptr<RingBufMap> ringbuf(uint32_t size) {
  auto m = make(BPF_MAP_TYPE_RINGBUF, 0, 0, size);
  return std::dynamic_pointer_cast<RingBufMap>(m);
}

TEST(RingBuf, CreationRules) {
  const uint32_t page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  for (uint32_t size : {0u, page + 1, page * 3, 1000u}) {
    MapDef def{BPF_MAP_TYPE_RINGBUF, 0, 0, size, 0, 0, nullptr, "rb", -1};
    EXPECT_EQ(errnum(create_map(def)), EINVAL) << size;
  }
  MapDef keyed{BPF_MAP_TYPE_RINGBUF, 4, 0, page, 0, 0, nullptr, "rb", -1};
  EXPECT_EQ(errnum(create_map(keyed)), EINVAL);
}

TEST(RingBuf, ReserveSubmitDiscardInOrder) {
  auto rb = ringbuf(4096);
  ASSERT_TRUE(rb);
  EXPECT_EQ(rb->reserve(8, 1), nullptr);  // flags must be 0
  auto* a = static_cast<uint32_t*>(rb->reserve(4, 0));
  auto* b = static_cast<uint32_t*>(rb->reserve(4, 0));
  auto* c = static_cast<uint32_t*>(rb->reserve(4, 0));
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(RingBufMap::owning(b), rb.get());
  int dummy = 0;
  EXPECT_EQ(RingBufMap::owning(&dummy), nullptr);
  *a = 1, *b = 2, *c = 3;
  EXPECT_EQ(rb->query(BPF_RB_AVAIL_DATA), 48u);  // 3 x (8 header + 4 data, padded to 16)
  EXPECT_EQ(rb->query(BPF_RB_RING_SIZE), 4096u);
  std::vector<uint32_t> got;
  auto collect = [&](std::span<const uint8_t> rec) {
    uint32_t v;
    std::memcpy(&v, rec.data(), 4);
    got.push_back(v);
    return 0;
  };
  rb->submit(b, 0);
  EXPECT_EQ(rb->consume(collect), 0);  // a is still being written: nothing yet
  rb->submit(a, 0);
  rb->discard(c, 0);
  EXPECT_EQ(rb->consume(collect), 2);
  EXPECT_EQ(got, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(rb->query(BPF_RB_AVAIL_DATA), 0u);
  EXPECT_EQ(rb->query(BPF_RB_CONS_POS), 48u);
  EXPECT_EQ(rb->query(BPF_RB_PROD_POS), 48u);
}

TEST(RingBuf, FullThenWrapsAroundContiguously) {
  auto rb = ringbuf(4096);
  std::vector<uint8_t> rec(1000);
  int n = 0;
  while (rb->output(rec.data(), rec.size(), 0) == 0) ++n;
  EXPECT_EQ(n, 4);  // 1008 bytes each: 4 fit in 4096
  EXPECT_EQ(rb->output(rec.data(), rec.size(), 0), -EAGAIN);
  EXPECT_EQ(rb->output(rec.data(), 8, 7), -EINVAL);
  EXPECT_EQ(rb->reserve(4096, 0), nullptr);
  long consumed = rb->consume([](auto) { return 0; });
  EXPECT_EQ(consumed, 4);
  // Producer is at 4032: a 1000-byte record now wraps past the end of the data area.
  auto* p = static_cast<uint8_t*>(rb->reserve(1000, 0));
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 1000; ++i) p[i] = static_cast<uint8_t>(i);
  rb->submit(p, 0);
  std::vector<uint8_t> seen;
  EXPECT_EQ(rb->consume([&](std::span<const uint8_t> r) {
    seen.assign(r.begin(), r.end());
    return 0;
  }), 1);
  ASSERT_EQ(seen.size(), 1000u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(seen[i], static_cast<uint8_t>(i)) << i;
  bool inside = false;
  for (const auto& r : rb->value_regions()) inside |= p >= r.data && p + 1000 <= r.data + r.size;
  EXPECT_TRUE(inside);
}

TEST(RingBuf, Wakeups) {
  auto rb = ringbuf(4096);
  uint64_t x = 1;
  EXPECT_EQ(rb->output(&x, 8, 0), 0);  // consumer caught up: wakes it
  EXPECT_EQ(rb->wakeups(), 1u);
  EXPECT_EQ(rb->output(&x, 8, 0), 0);  // consumer behind: no wakeup
  EXPECT_EQ(rb->wakeups(), 1u);
  EXPECT_EQ(rb->output(&x, 8, BPF_RB_FORCE_WAKEUP), 0);
  EXPECT_EQ(rb->wakeups(), 2u);
  EXPECT_EQ(rb->consume([](auto) { return 0; }), 3);
  EXPECT_EQ(rb->output(&x, 8, BPF_RB_NO_WAKEUP), 0);
  EXPECT_EQ(rb->wakeups(), 2u);
  EXPECT_EQ(rb->poll([](auto) { return 0; }, 10), 1);
  EXPECT_EQ(errnum(rb->lookup({})), 524);
}

TEST(PerfEventArray, OutputPerSlotAndLost) {
  auto m = std::dynamic_pointer_cast<PerfEventArrayMap>(make(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2));
  ASSERT_TRUE(m);
  uint32_t v = 7;
  EXPECT_EQ(m->output(0, &v, 4), -ENOENT);
  EXPECT_EQ(m->output(2, &v, 4), -E2BIG);
  EXPECT_EQ(m->output(uint64_t{1} << 40, &v, 4), -EINVAL);
  ASSERT_TRUE(m->open_buffer(0, 80).ok());  // 16 + 56 bytes for the first two samples
  ASSERT_TRUE(m->open_buffer(1, 4096).ok());
  for (uint32_t i = 0; i < 3; ++i) EXPECT_EQ(m->output(1, &i, 4), 0);
  EXPECT_EQ(m->output(0, &v, 4), 0);
  uint8_t big[40] = {};
  EXPECT_EQ(m->output(0, big, sizeof big), 0);
  EXPECT_EQ(m->output(0, big, sizeof big), -ENOSPC);
  EXPECT_EQ(m->lost(0), 1u);
  {
    cpu::ScopedCpu on(1);
    uint32_t w = 99;
    EXPECT_EQ(m->output(BPF_F_CURRENT_CPU, &w, 4), 0);
  }
  std::vector<std::pair<uint32_t, uint32_t>> got;
  EXPECT_EQ(m->consume([&](uint32_t slot, std::span<const uint8_t> s) {
    uint32_t x = 0;
    std::memcpy(&x, s.data(), std::min<std::size_t>(4, s.size()));
    got.emplace_back(slot, x);
  }), 6);
  EXPECT_EQ(got, (std::vector<std::pair<uint32_t, uint32_t>>{{0, 7}, {0, 0}, {1, 0}, {1, 1}, {1, 2}, {1, 99}}));
  EXPECT_EQ(errnum(m->lookup(bytes(0u))), 524);
  EXPECT_TRUE(m->erase(bytes(0u)).ok());
  EXPECT_EQ(m->output(0, &v, 4), -ENOENT);
  MapDef bad{BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 8, 2, 0, 0, nullptr, "p", -1};
  EXPECT_EQ(errnum(create_map(bad)), EINVAL);
}

TEST(ProgArray, SlotsHoldProgramsTheRuntimeResolves) {
  auto m = std::dynamic_pointer_cast<ProgArrayMap>(make(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4));
  ASSERT_TRUE(m);
  EXPECT_EQ(errnum(m->update(bytes(0u), bytes(5u))), EBADF);  // no resolver: no programs
  auto prog = std::make_shared<int>(42);
  std::weak_ptr<int> watch = prog;
  m->set_resolver([&](uint32_t id) -> std::optional<ProgramRef> {
    if (id != 5) return std::nullopt;
    return ProgramRef{5, prog};
  });
  EXPECT_EQ(errnum(m->update(bytes(0u), bytes(6u))), EBADF);
  EXPECT_EQ(errnum(m->update(bytes(0u), bytes(5u), BPF_NOEXIST)), EINVAL);
  EXPECT_EQ(errnum(m->update(bytes(4u), bytes(5u))), E2BIG);
  EXPECT_TRUE(m->update(bytes(0u), bytes(5u)).ok());
  EXPECT_EQ(as<uint32_t>(*m->lookup(bytes(0u))), 5u);
  EXPECT_EQ(errnum(m->lookup(bytes(1u))), ENOENT);
  EXPECT_EQ(m->get(0).handle.get(), prog.get());
  EXPECT_FALSE(m->get(1).handle);
  EXPECT_FALSE(m->get(100).handle);
  prog.reset();
  m->set_resolver(nullptr);
  EXPECT_FALSE(watch.expired());  // the slot keeps the program alive
  auto held = m->get(0);          // as a running tail call does
  EXPECT_TRUE(m->erase(bytes(0u)).ok());
  EXPECT_FALSE(watch.expired());
  held = {};
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(errnum(m->erase(bytes(0u))), ENOENT);
  EXPECT_EQ(as<uint32_t>(*m->get_next_key(bytes(2u))), 3u);
}

TEST(MapInMap, InnerMapsMustMatchTheTemplate) {
  auto inner_def = std::make_shared<MapDef>(MapDef{BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0, 0, nullptr, "inner", -1});
  MapDef outer{BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, 0, 0, inner_def, "outer", -1};
  auto m = std::dynamic_pointer_cast<MapInMap>(*create_map(outer));
  ASSERT_TRUE(m);
  auto inner = *create_map(*inner_def);
  auto wrong = make(BPF_MAP_TYPE_ARRAY, 4, 8, 5);
  EXPECT_EQ(errnum(m->update(bytes(0u), bytes(wrong->id()))), EINVAL);
  EXPECT_EQ(errnum(m->update(bytes(0u), bytes(uint32_t{0}))), EBADF);
  EXPECT_TRUE(m->update(bytes(0u), bytes(inner->id())).ok());
  EXPECT_EQ(as<uint32_t>(*m->lookup(bytes(0u))), inner->id());
  uint32_t k = 0;
  EXPECT_EQ(m->lookup_elem(&k), inner.get());  // programs get the Map*
  k = 1;
  EXPECT_EQ(m->lookup_elem(&k), nullptr);
  EXPECT_EQ(errnum(m->lookup(bytes(1u))), ENOENT);
  EXPECT_EQ(errnum(m->update(bytes(2u), bytes(inner->id()))), E2BIG);
  EXPECT_TRUE(m->erase(bytes(0u)).ok());
  EXPECT_EQ(errnum(m->erase(bytes(0u))), ENOENT);

  auto flexible = std::make_shared<MapDef>(*inner_def);
  flexible->map_flags = BPF_F_INNER_MAP;
  MapDef hash_outer{BPF_MAP_TYPE_HASH_OF_MAPS, 8, 4, 2, 0, 0, flexible, "houter", -1};
  auto h = std::dynamic_pointer_cast<MapInMap>(*create_map(hash_outer));
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->set(bytes(uint64_t{10}), wrong).ok());  // BPF_F_INNER_MAP: any max_entries
  EXPECT_TRUE(h->set(bytes(uint64_t{20}), inner, BPF_NOEXIST).ok());
  EXPECT_EQ(errnum(h->set(bytes(uint64_t{20}), inner, BPF_NOEXIST)), EEXIST);
  EXPECT_EQ(errnum(h->set(bytes(uint64_t{30}), inner)), E2BIG);
  EXPECT_EQ(h->get(bytes(uint64_t{20})), inner);
  EXPECT_EQ(errnum(h->get_next_key(bytes(uint64_t{20})).ok() ? h->get_next_key(bytes(uint64_t{10})) : h->get_next_key({})), 0);

  MapDef no_inner{BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 2, 0, 0, nullptr, "x", -1};
  EXPECT_EQ(errnum(create_map(no_inner)), EBADF);
}

struct Lpm4 {
  uint32_t prefixlen;
  uint8_t addr[4];
};

std::vector<uint8_t> lpm_key(uint32_t len, const char* ip) {
  Lpm4 k{len, {}};
  inet_pton(AF_INET, ip, k.addr);
  return bytes(k);
}

TEST(LpmTrie, LongestPrefixWins) {
  MapDef prealloc{BPF_MAP_TYPE_LPM_TRIE, 8, 4, 16, 0, 0, nullptr, "lpm", -1};
  EXPECT_EQ(errnum(create_map(prealloc)), EINVAL);
  MapDef small_key{BPF_MAP_TYPE_LPM_TRIE, 4, 4, 16, BPF_F_NO_PREALLOC, 0, nullptr, "lpm", -1};
  EXPECT_EQ(errnum(create_map(small_key)), EINVAL);
  auto m = make(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 4, BPF_F_NO_PREALLOC);
  ASSERT_TRUE(m->update(lpm_key(8, "10.0.0.0"), bytes(8u)).ok());
  ASSERT_TRUE(m->update(lpm_key(16, "10.1.0.0"), bytes(16u)).ok());
  ASSERT_TRUE(m->update(lpm_key(24, "10.1.2.0"), bytes(24u)).ok());
  EXPECT_EQ(as<uint32_t>(*m->lookup(lpm_key(32, "10.1.2.3"))), 24u);
  EXPECT_EQ(as<uint32_t>(*m->lookup(lpm_key(32, "10.1.3.3"))), 16u);
  EXPECT_EQ(as<uint32_t>(*m->lookup(lpm_key(32, "10.200.3.3"))), 8u);
  EXPECT_EQ(as<uint32_t>(*m->lookup(lpm_key(20, "10.1.2.3"))), 16u);  // only the key's first 20 bits count
  EXPECT_EQ(errnum(m->lookup(lpm_key(32, "11.0.0.1"))), ENOENT);
  EXPECT_EQ(errnum(m->update(lpm_key(33, "10.0.0.0"), bytes(1u))), EINVAL);
  EXPECT_EQ(errnum(m->update(lpm_key(8, "10.9.9.9"), bytes(1u), BPF_NOEXIST)), EEXIST);  // same /8
  EXPECT_EQ(errnum(m->update(lpm_key(12, "10.0.0.0"), bytes(1u), BPF_EXIST)), ENOENT);
  ASSERT_TRUE(m->update(lpm_key(0, "0.0.0.0"), bytes(0u)).ok());
  EXPECT_EQ(errnum(m->update(lpm_key(12, "10.0.0.0"), bytes(1u))), ENOSPC);
  EXPECT_EQ(as<uint32_t>(*m->lookup(lpm_key(32, "11.0.0.1"))), 0u);
  // Post-order: more specific prefixes first, the default route last.
  std::vector<uint32_t> lens;
  std::vector<uint8_t> key;
  while (auto next = m->get_next_key(key)) {
    lens.push_back(as<uint32_t>(*next));
    key = *next;
  }
  EXPECT_EQ(lens, (std::vector<uint32_t>{24, 16, 8, 0}));
  EXPECT_TRUE(m->erase(lpm_key(16, "10.1.0.0")).ok());
  EXPECT_EQ(errnum(m->erase(lpm_key(16, "10.1.0.0"))), ENOENT);
  EXPECT_EQ(as<uint32_t>(*m->lookup(lpm_key(32, "10.1.3.3"))), 8u);
  auto* p = static_cast<uint32_t*>(m->lookup_elem(lpm_key(32, "10.1.2.3").data()));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 24u);
}

}  // namespace
}  // namespace bpfvm::maps::test
