// Map throughput through the program face (what helpers call), with 1 and 2 threads on one
// shared map. Run: ./build/default/bench/bpfvm_maps_bench and read items_per_second (ops/s).
#include <benchmark/benchmark.h>
#include <linux/bpf.h>

#include <stdexcept>

#include "maps/map.hpp"

namespace {

using namespace bpfvm;

constexpr uint32_t kEntries = 65536;
constexpr uint32_t kKeys = 16384;  // keys in use: lookups hit

maps::MapPtr make(uint32_t type) {
  maps::MapDef def;
  def.type = type;
  def.key_size = 4;
  def.value_size = 8;
  def.max_entries = kEntries;
  def.name = "bench";
  auto m = maps::create_map(def);
  if (!m) throw std::runtime_error(m.error().to_string());
  for (uint32_t k = 0; k < kKeys; ++k) {
    const uint64_t v = k;
    (*m)->update_elem(&k, &v, BPF_ANY);
  }
  return *m;
}

maps::Map& shared(uint32_t type) {
  static maps::MapPtr hash = make(BPF_MAP_TYPE_HASH);
  static maps::MapPtr array = make(BPF_MAP_TYPE_ARRAY);
  return type == BPF_MAP_TYPE_HASH ? *hash : *array;
}

void lookup(benchmark::State& state, uint32_t type) {
  maps::Map& m = shared(type);
  uint32_t key = static_cast<uint32_t>(state.thread_index()) * 7919;
  uint64_t sum = 0;
  for (auto _ : state) {
    key = (key + 1) % kKeys;
    auto* v = static_cast<uint64_t*>(m.lookup_elem(&key));
    sum += v ? *v : 0;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void update(benchmark::State& state, uint32_t type) {
  maps::Map& m = shared(type);
  uint32_t key = static_cast<uint32_t>(state.thread_index()) * 7919;
  uint64_t value = 0;
  for (auto _ : state) {
    key = (key + 1) % kKeys;
    benchmark::DoNotOptimize(m.update_elem(&key, &++value, BPF_ANY));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// A map small enough to stay in the L1 cache (64 keys, as bench/progs/hashmap.bpf.c): what a
// lookup costs when memory does not.
void BM_HashLookupSmall(benchmark::State& state) {
  maps::MapDef def;
  def.type = BPF_MAP_TYPE_HASH;
  def.key_size = 4;
  def.value_size = 8;
  def.max_entries = 64;
  def.name = "small";
  auto m = maps::create_map(def);
  if (!m) throw std::runtime_error(m.error().to_string());
  for (uint32_t k = 0; k < 64; ++k) {
    const uint64_t v = k;
    (*m)->update_elem(&k, &v, BPF_ANY);
  }
  uint32_t key = 0;
  uint64_t sum = 0;
  for (auto _ : state) {
    key = (key + 13) & 63;
    auto* v = static_cast<uint64_t*>((*m)->lookup_elem(&key));
    sum += v ? *v : 0;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_HashLookupSmall);

void BM_HashLookup(benchmark::State& s) { lookup(s, BPF_MAP_TYPE_HASH); }
void BM_HashUpdate(benchmark::State& s) { update(s, BPF_MAP_TYPE_HASH); }
void BM_ArrayLookup(benchmark::State& s) { lookup(s, BPF_MAP_TYPE_ARRAY); }
void BM_ArrayUpdate(benchmark::State& s) { update(s, BPF_MAP_TYPE_ARRAY); }

BENCHMARK(BM_HashLookup)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_HashUpdate)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_ArrayLookup)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_ArrayUpdate)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
