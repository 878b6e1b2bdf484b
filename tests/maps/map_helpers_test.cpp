// The map helpers as a program calls them: a Map* in r1, pointers in r2.., the kernel's
// return values; and, for unverified programs, arguments checked through the host.
#include <functional>

#include "map_test_util.hpp"
#include "maps/map_helpers.hpp"
#include "maps/perf_event_array.hpp"
#include "maps/ringbuf.hpp"
#include "support/cpu.hpp"

namespace bpfvm::maps::test {
namespace {

uint64_t a(const void* p) { return reinterpret_cast<uint64_t>(p); }

struct Helpers {
  HelperTable table;
  Helpers() { add_map_helpers(table); }
  uint64_t call(int32_t id, HelperContext& ctx, uint64_t r1 = 0, uint64_t r2 = 0, uint64_t r3 = 0, uint64_t r4 = 0,
                uint64_t r5 = 0) const {
    const Helper* h = table.find(id);
    EXPECT_NE(h, nullptr) << id;
    return h ? h->fn(r1, r2, r3, r4, r5, ctx) : 0;
  }
};

// An unverified program's host: memory is accessible only inside `allowed`; callbacks run `fn`.
struct FakeHost final : HelperHost {
  std::vector<std::pair<const uint8_t*, std::size_t>> allowed;
  std::function<uint64_t(std::array<uint64_t, 5>)> fn;
  uint8_t* translate(uint64_t address, std::size_t size, bool) const override {
    const auto* p = reinterpret_cast<const uint8_t*>(address);
    for (auto [base, n] : allowed)
      if (p >= base && p + size <= base + n) return const_cast<uint8_t*>(p);
    return nullptr;
  }
  Result<uint64_t> call(uint64_t, std::array<uint64_t, 5> args) override { return fn(args); }
  bool tail_call(const TailCallTarget&, uint64_t) override { return false; }
};

TEST(MapHelpers, LookupUpdateDeleteThroughRegisters) {
  Helpers h;
  HelperContext ctx;
  auto m = make(BPF_MAP_TYPE_HASH, 4, 8, 4);
  uint32_t key = 3;
  uint64_t value = 77;
  EXPECT_EQ(h.call(BPF_FUNC_map_lookup_elem, ctx, a(m.get()), a(&key)), 0u);
  EXPECT_EQ(h.call(BPF_FUNC_map_update_elem, ctx, a(m.get()), a(&key), a(&value), BPF_NOEXIST), 0u);
  EXPECT_EQ(static_cast<int64_t>(h.call(BPF_FUNC_map_update_elem, ctx, a(m.get()), a(&key), a(&value), BPF_NOEXIST)), -EEXIST);
  auto* p = reinterpret_cast<uint64_t*>(h.call(BPF_FUNC_map_lookup_elem, ctx, a(m.get()), a(&key)));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 77u);
  EXPECT_EQ(h.call(BPF_FUNC_map_delete_elem, ctx, a(m.get()), a(&key)), 0u);
  EXPECT_EQ(static_cast<int64_t>(h.call(BPF_FUNC_map_delete_elem, ctx, a(m.get()), a(&key))), -ENOENT);
  EXPECT_EQ(h.table.find(BPF_FUNC_map_lookup_elem)->name, "bpf_map_lookup_elem");
  EXPECT_EQ(h.table.find(BPF_FUNC_map_lookup_elem)->proto.ret, RetType::kPtrToMapValueOrNull);
}

TEST(MapHelpers, UnverifiedArgumentsAreChecked) {
  Helpers h;
  FakeHost host;
  HelperContext ctx;
  ctx.host = &host;
  auto m = make(BPF_MAP_TYPE_ARRAY, 4, 8, 4);
  uint32_t key = 1;
  uint64_t value = 5;
  uint64_t not_a_map[4] = {};
  EXPECT_EQ(h.call(BPF_FUNC_map_lookup_elem, ctx, a(not_a_map), a(&key)), 0u);
  EXPECT_EQ(static_cast<int64_t>(h.call(BPF_FUNC_map_update_elem, ctx, a(not_a_map), a(&key), a(&value), 0)), -EINVAL);
  // The map is real but the key is not memory the program may read.
  EXPECT_EQ(h.call(BPF_FUNC_map_lookup_elem, ctx, a(m.get()), a(&key)), 0u);
  EXPECT_EQ(static_cast<int64_t>(h.call(BPF_FUNC_map_update_elem, ctx, a(m.get()), a(&key), a(&value), 0)), -EFAULT);
  host.allowed = {{reinterpret_cast<uint8_t*>(&key), 4}, {reinterpret_cast<uint8_t*>(&value), 8}};
  EXPECT_EQ(h.call(BPF_FUNC_map_update_elem, ctx, a(m.get()), a(&key), a(&value), 0), 0u);
  EXPECT_EQ(*reinterpret_cast<uint64_t*>(h.call(BPF_FUNC_map_lookup_elem, ctx, a(m.get()), a(&key))), 5u);
}

TEST(MapHelpers, AMapIsLiveUntilItIsDestroyed) {
  // live_map remembers the last map a thread found: destroying that map (or any) must end it.
  auto m = make(BPF_MAP_TYPE_ARRAY, 4, 8, 4);
  const uint64_t address = a(m.get());
  EXPECT_EQ(live_map(address), m.get());
  EXPECT_EQ(live_map(address), m.get());
  uint64_t not_a_map[4] = {};
  EXPECT_EQ(live_map(a(not_a_map)), nullptr);
  EXPECT_EQ(live_map(address), m.get());
  m.reset();
  EXPECT_EQ(live_map(address), nullptr);
}

TEST(MapHelpers, PushPopPeekAndCpu) {
  Helpers h;
  HelperContext ctx;
  auto q = make(BPF_MAP_TYPE_STACK, 0, 4, 2);
  uint32_t v = 1, out = 0;
  EXPECT_EQ(h.call(BPF_FUNC_map_push_elem, ctx, a(q.get()), a(&v), 0), 0u);
  v = 2;
  EXPECT_EQ(h.call(BPF_FUNC_map_push_elem, ctx, a(q.get()), a(&v), 0), 0u);
  EXPECT_EQ(h.call(BPF_FUNC_map_peek_elem, ctx, a(q.get()), a(&out)), 0u);
  EXPECT_EQ(out, 2u);
  EXPECT_EQ(h.call(BPF_FUNC_map_pop_elem, ctx, a(q.get()), a(&out)), 0u);
  EXPECT_EQ(h.call(BPF_FUNC_map_pop_elem, ctx, a(q.get()), a(&out)), 0u);
  EXPECT_EQ(out, 1u);
  EXPECT_EQ(static_cast<int64_t>(h.call(BPF_FUNC_map_pop_elem, ctx, a(q.get()), a(&out))), -ENOENT);
  cpu::ScopedCpu on(1);
  EXPECT_EQ(h.call(BPF_FUNC_get_smp_processor_id, ctx), 1u % cpu::possible());
}

TEST(MapHelpers, RingbufAndPerfOutput) {
  Helpers h;
  HelperContext ctx;
  auto rb = std::dynamic_pointer_cast<RingBufMap>(make(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096));
  uint64_t x = 42;
  EXPECT_EQ(h.call(BPF_FUNC_ringbuf_output, ctx, a(rb.get()), a(&x), 8, 0), 0u);
  auto* rec = reinterpret_cast<uint64_t*>(h.call(BPF_FUNC_ringbuf_reserve, ctx, a(rb.get()), 8, 0));
  ASSERT_NE(rec, nullptr);
  *rec = 43;
  EXPECT_EQ(h.call(BPF_FUNC_ringbuf_query, ctx, a(rb.get()), BPF_RB_AVAIL_DATA), 32u);
  h.call(BPF_FUNC_ringbuf_submit, ctx, a(rec), 0);
  auto* dropped = reinterpret_cast<uint64_t*>(h.call(BPF_FUNC_ringbuf_reserve, ctx, a(rb.get()), 8, 0));
  h.call(BPF_FUNC_ringbuf_discard, ctx, a(dropped), 0);
  std::vector<uint64_t> got;
  rb->consume([&](std::span<const uint8_t> r) {
    uint64_t v;
    std::memcpy(&v, r.data(), 8);
    got.push_back(v);
    return 0;
  });
  EXPECT_EQ(got, (std::vector<uint64_t>{42, 43}));

  auto perf = std::dynamic_pointer_cast<PerfEventArrayMap>(make(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2));
  ASSERT_TRUE(perf->open_buffer(1, 4096).ok());
  EXPECT_EQ(h.call(BPF_FUNC_perf_event_output, ctx, 0, a(perf.get()), 1, a(&x), 8), 0u);
  EXPECT_EQ(static_cast<int64_t>(h.call(BPF_FUNC_perf_event_output, ctx, 0, a(perf.get()), 0, a(&x), 8)), -ENOENT);
  EXPECT_EQ(perf->consume([](uint32_t, std::span<const uint8_t>) {}), 1);
}

TEST(MapHelpers, ForEachMapElemCallsBackUntilTold) {
  Helpers h;
  FakeHost host;
  HelperContext ctx;
  ctx.host = &host;
  auto m = make(BPF_MAP_TYPE_ARRAY, 4, 8, 5);
  for (uint32_t k = 0; k < 5; ++k) ASSERT_TRUE(m->update(bytes(k), bytes(uint64_t{k} * 10)).ok());
  uint64_t sum = 0;
  host.fn = [&](std::array<uint64_t, 5> args) -> uint64_t {
    EXPECT_EQ(args[0], a(m.get()));
    EXPECT_EQ(args[3], 99u);
    const uint32_t key = *reinterpret_cast<const uint32_t*>(args[1]);
    sum += *reinterpret_cast<const uint64_t*>(args[2]);
    return key == 2 ? 1 : 0;  // stop after index 2
  };
  EXPECT_EQ(h.call(BPF_FUNC_for_each_map_elem, ctx, a(m.get()), 0, 99, 0), 3u);
  EXPECT_EQ(sum, 0u + 10 + 20);
  EXPECT_EQ(static_cast<int64_t>(h.call(BPF_FUNC_for_each_map_elem, ctx, a(m.get()), 0, 99, 1)), -EINVAL);
}

TEST(MapHelpers, SpinLockExcludes) {
  Helpers h;
  HelperContext ctx;
  uint32_t lock = 0;
  h.call(BPF_FUNC_spin_lock, ctx, a(&lock));
  EXPECT_EQ(lock, 1u);
  h.call(BPF_FUNC_spin_unlock, ctx, a(&lock));
  EXPECT_EQ(lock, 0u);
}

}  // namespace
}  // namespace bpfvm::maps::test
