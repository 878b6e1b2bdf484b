// Interpreter and JIT speed on loop-heavy programs, beside the same loop compiled natively,
// and the JIT's compile time. Run:
//   ./build/default/bench/bpfvm_bench
// and read the ratios of the bpfvm and native times; the machine is shared, so compare runs of
// one invocation, not absolute numbers across days.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <ctime>
#include <numeric>
#include <vector>

#include "conformance/data_file.hpp"
#include "exec/interpreter.hpp"
#include "exec/jit/x86_64/jit.hpp"
#include "helpers/linux_helpers.hpp"
#include "isa/assembler.hpp"
#include "thousand_insns.hpp"

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

// checked: as unverified programs run; unchecked: as verified ones do.
Interpreter make(const char* source, const HelperTable& helpers, bool checked = true) {
  auto insns = isa::assemble(source);
  if (!insns) throw std::runtime_error(insns.error().to_string());
  auto interpreter = Interpreter::create(std::move(*insns), helpers, InterpreterOptions{.checked = checked});
  if (!interpreter) throw std::runtime_error(interpreter.error().to_string());
  return std::move(*interpreter);
}

jit::JitProgram make_jit(const char* source, const HelperTable& helpers, jit::JitOptions options = {}) {
  auto insns = isa::assemble(source);
  if (!insns) throw std::runtime_error(insns.error().to_string());
  auto program = jit::JitProgram::compile(std::move(*insns), helpers, options);
  if (!program) throw std::runtime_error(program.error().to_string());
  return std::move(*program);
}

void report(benchmark::State& state, double insns_per_run) {
  state.counters["insns"] = benchmark::Counter(insns_per_run * static_cast<double>(state.iterations()),
                                               benchmark::Counter::kIsRate);
}

void BM_Interpreter_SumLoop(benchmark::State& state) {
  HelperTable helpers;
  Interpreter in = make(kSumLoop, helpers, state.range(0) != 0);
  RunOptions options;
  for (auto _ : state) {
    auto r = in.run(options);
    benchmark::DoNotOptimize(r);
  }
  report(state, 2 + 4.0 * kIterations + 1);
}
BENCHMARK(BM_Interpreter_SumLoop)->ArgName("checked")->Arg(1)->Arg(0);

// The interpreter's per-run overhead (checked: a zeroed stack; unchecked: the thread's).
void BM_Interpreter_Exit(benchmark::State& state) {
  HelperTable helpers;
  Interpreter in = make("mov %r0, 0\nexit\n", helpers, state.range(0) != 0);
  RunOptions options;
  for (auto _ : state) {
    auto r = in.run(options);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Interpreter_Exit)->ArgName("checked")->Arg(1)->Arg(0);

// Checked mode (the default without a verifier): bounds checks and the branch budget.
void BM_Jit_SumLoop(benchmark::State& state) {
  HelperTable helpers;
  jit::JitProgram program = make_jit(kSumLoop, helpers);
  RunOptions options;
  for (auto _ : state) {
    auto r = program.run(options);
    benchmark::DoNotOptimize(r);
  }
  report(state, 2 + 4.0 * kIterations + 1);
}
BENCHMARK(BM_Jit_SumLoop);

// What a verified program will get: no run-time checks.
void BM_JitUnchecked_SumLoop(benchmark::State& state) {
  HelperTable helpers;
  jit::JitProgram program = make_jit(kSumLoop, helpers, jit::JitOptions{.checked = false});
  RunOptions options;
  for (auto _ : state) {
    auto r = program.run(options);
    benchmark::DoNotOptimize(r);
  }
  report(state, 2 + 4.0 * kIterations + 1);
}
BENCHMARK(BM_JitUnchecked_SumLoop);

// The JIT's per-run overhead: a program that only exits (checked: zeroed stack, region checks;
// unchecked: the thread's reused state).
void BM_Jit_Exit(benchmark::State& state) {
  HelperTable helpers;
  jit::JitProgram program = make_jit("mov %r0, 0\nexit\n", helpers, jit::JitOptions{.checked = state.range(0) != 0});
  RunOptions options;
  for (auto _ : state) {
    auto r = program.run(options);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Jit_Exit)->ArgName("checked")->Arg(1)->Arg(0);

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
  Interpreter in = make(kFnv1a, helpers, state.range(0) != 0);
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
BENCHMARK(BM_Interpreter_Fnv1a)->ArgName("checked")->Arg(1)->Arg(0);

void run_jit_fnv1a(benchmark::State& state, jit::JitOptions jit_options) {
  HelperTable helpers;
  jit::JitProgram program = make_jit(kFnv1a, helpers, jit_options);
  std::vector<uint8_t> packet(kBytes);
  std::iota(packet.begin(), packet.end(), uint8_t{0});
  RunOptions options;
  options.args = {reinterpret_cast<uint64_t>(packet.data()), packet.size()};
  options.initialized_args = 2;
  options.regions.push_back(MemoryRegion{packet.data(), packet.size(), false});
  for (auto _ : state) {
    auto r = program.run(options);
    benchmark::DoNotOptimize(r);
  }
  report(state, 2 + 7.0 * kBytes + 1);
}
void BM_Jit_Fnv1a(benchmark::State& state) { run_jit_fnv1a(state, {}); }
BENCHMARK(BM_Jit_Fnv1a);
void BM_JitUnchecked_Fnv1a(benchmark::State& state) { run_jit_fnv1a(state, jit::JitOptions{.checked = false}); }
BENCHMARK(BM_JitUnchecked_Fnv1a);

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

// JIT compile time of bench::thousand_instructions(): the time per iteration is the time per
// 1,000 instructions (checking, lowering, W^X mapping and unmapping included).
void BM_JitCompile_1000Insns(benchmark::State& state) {
  HelperTable helpers;
  const std::vector<isa::Insn> program = bpfvm::bench::thousand_instructions();
  const jit::JitOptions options{.checked = state.range(0) != 0};
  for (auto _ : state) {
    auto compiled = jit::JitProgram::compile(program, helpers, options);
    if (!compiled) state.SkipWithError(compiled.error().to_string().c_str());
    benchmark::DoNotOptimize(compiled);
  }
  state.counters["insns"] = benchmark::Counter(static_cast<double>(program.size() * state.iterations()),
                                               benchmark::Counter::kIsRate);
}
BENCHMARK(BM_JitCompile_1000Insns)->ArgName("checked")->Arg(1)->Arg(0);

// bpf_ktime_get_ns, 100 calls per run, summed: the helper call as checked code makes it (the
// run's state saved, the stop flag tested), the direct call of unchecked code (a context-free
// helper), and native code reading the same clock (CLOCK_MONOTONIC, through the vDSO).
constexpr int kClockReads = 100;
const char* const kKtimeLoop =
    "mov %r6, 0\nmov %r7, 0\nloop:\ncall 5\nadd %r6, %r0\nadd %r7, 1\njlt %r7, 100, loop\nmov %r0, %r6\nexit\n";

void BM_Jit_Ktime(benchmark::State& state) {
  jit::JitProgram program = make_jit(kKtimeLoop, linux_helpers(), jit::JitOptions{.checked = state.range(0) != 0});
  RunOptions options;
  for (auto _ : state) {
    auto r = program.run(options);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kClockReads);
}
BENCHMARK(BM_Jit_Ktime)->ArgName("checked")->Arg(1)->Arg(0);

void BM_Native_Ktime(benchmark::State& state) {
  for (auto _ : state) {
    uint64_t sum = 0;
    for (int i = 0; i < kClockReads; ++i) {
      timespec ts{};
      clock_gettime(CLOCK_MONOTONIC, &ts);
      sum += static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kClockReads);
}
BENCHMARK(BM_Native_Ktime);

}  // namespace

BENCHMARK_MAIN();
