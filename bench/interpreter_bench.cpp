// Interpreter speed on loop-heavy programs, beside the same loop compiled natively. Run:
//   ./build/default/bench/bpfvm_bench
// and read the ratio of the bpfvm and native times; the machine is shared, so compare runs of
// one invocation, not absolute numbers across days.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "conformance/data_file.hpp"
#include "exec/interpreter.hpp"
#include "isa/assembler.hpp"

namespace {

using namespace bpfvm;

constexpr int kIterations = 10000;
constexpr std::size_t kBytes = 1500;  // one Ethernet frame

const char* const kSumLoop =
    "mov %r0, 0\nmov %r1, 0\n"
    "loop:\nadd %r0, %r1\nxor %r0, 0x5a5a\nadd %r1, 1\njlt %r1, 10000, loop\nexit\n";

const char* const kFnv1a =
    "mov32 %r0, 0x811c9dc5\nmov %r3, 0\n"
    "loop:\nmov %r4, %r1\nadd %r4, %r3\nldxb %r5, [%r4+0]\nxor32 %r0, %r5\nmul32 %r0, 0x01000193\n"
    "add %r3, 1\njlt %r3, %r2, loop\nexit\n";

Interpreter make(const char* source, const HelperTable& helpers) {
  auto insns = isa::assemble(source);
  if (!insns) throw std::runtime_error(insns.error().to_string());
  auto interpreter = Interpreter::create(std::move(*insns), helpers);
  if (!interpreter) throw std::runtime_error(interpreter.error().to_string());
  return std::move(*interpreter);
}

void report(benchmark::State& state, double insns_per_run) {
  state.counters["insns"] = benchmark::Counter(insns_per_run * static_cast<double>(state.iterations()),
                                               benchmark::Counter::kIsRate);
}

void BM_Interpreter_SumLoop(benchmark::State& state) {
  HelperTable helpers;
  Interpreter in = make(kSumLoop, helpers);
  RunOptions options;
  for (auto _ : state) {
    auto r = in.run(options);
    benchmark::DoNotOptimize(r);
  }
  report(state, 2 + 4.0 * kIterations + 1);
}
BENCHMARK(BM_Interpreter_SumLoop);

void BM_Native_SumLoop(benchmark::State& state) {
  for (auto _ : state) {
    uint64_t r0 = 0;
    for (uint64_t r1 = 0; r1 < kIterations; ++r1) {
      r0 += r1;
      r0 ^= 0x5a5a;
      benchmark::DoNotOptimize(r0);
    }
  }
  report(state, 2 + 4.0 * kIterations + 1);
}
BENCHMARK(BM_Native_SumLoop);

void BM_Interpreter_Fnv1a(benchmark::State& state) {
  HelperTable helpers;
  Interpreter in = make(kFnv1a, helpers);
  std::vector<uint8_t> packet(kBytes);
  std::iota(packet.begin(), packet.end(), uint8_t{0});
  RunOptions options;
  options.args = {reinterpret_cast<uint64_t>(packet.data()), packet.size()};
  options.initialized_args = 2;
  options.regions.push_back(MemoryRegion{packet.data(), packet.size(), false});
  for (auto _ : state) {
    auto r = in.run(options);
    benchmark::DoNotOptimize(r);
  }
  report(state, 2 + 7.0 * kBytes + 1);
}
BENCHMARK(BM_Interpreter_Fnv1a);

void BM_Native_Fnv1a(benchmark::State& state) {
  std::vector<uint8_t> packet(kBytes);
  std::iota(packet.begin(), packet.end(), uint8_t{0});
  for (auto _ : state) {
    uint32_t h = 0x811c9dc5;
    for (uint8_t b : packet) {
      h = (h ^ b) * 0x01000193;
      benchmark::DoNotOptimize(h);
    }
  }
  report(state, 2 + 7.0 * kBytes + 1);
}
BENCHMARK(BM_Native_Fnv1a);

}  // namespace

BENCHMARK_MAIN();
