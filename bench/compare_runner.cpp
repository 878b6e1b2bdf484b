// The timing harness's runner: measures each benchmark program (bench/progs) in one process,
// interleaved, as native code (clang -O2), in the kernel's JIT (BPF_PROG_TEST_RUN with repeat;
// skipped with a note where bpf() is unavailable: programs are loaded and test-run, never
// attached), in bpfvm's JIT (as objects load: verified, so unchecked; and checked, as
// unverified programs run) and in bpfvm's interpreter. Prints every sample as JSON; bench/compare.py
// takes the medians and writes docs/benchmarks.md and docs/benchmarks.png.
//
// Each sample is the average time per run over a batch of runs sized to take about
// --target-ms, in the thread's CPU time (the kernel's test_run likewise stops its clock while
// it yields the CPU), so other processes on a shared machine weigh on no engine's figures. Every engine goes through its own test-run path (the kernel's, bpfvm's
// test_run()), so each has a per-run overhead besides the program; the `empty` program
// measures it, in the same rounds.
//
// Each round loads every program afresh, in the kernel and in bpfvm's JITs (unless
// --same-code): where a JIT's code lands decides how the CPU's branch predictors and caches
// map it, and a few programs (bigswitch most) run faster or slower by a tenth depending on
// it. The kernel places each load's image at a random offset; bpfvm's code lands wherever its
// code pages come from. Fresh loads make each engine's median one over many placements
// rather than the luck of one.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bench_programs.hpp"
#include "exec/jit/x86_64/jit.hpp"
#include "helpers/linux_helpers.hpp"
#include "hooks/test_run.hpp"
#include "object/object.hpp"
#include "runtime/loader.hpp"
#include "thousand_insns.hpp"

namespace bpfvm::bench {
namespace {

enum EngineId : std::size_t { kNative, kKernel, kJit, kJitChecked, kInterpreter, kEngineCount };
constexpr std::array<const char*, kEngineCount> kEngineNames = {"native", "kernel", "jit", "jit_checked",
                                                                "interpreter"};

struct Args {
  std::string progs_dir = BPFVM_BENCH_PROGS_DIR;
  std::vector<std::string> only;  // empty: every program
  int rounds = 11;
  double target_ms = 10;
  int compile_samples = 101;  // at least: 10 per round of the 1,000-instruction program
  int cpu = -1;
  bool kernel = true;
  bool dump_jited = false;  // print bpfvm's unchecked code of the chosen programs, then stop
  bool reload = true;       // load the programs afresh every round (new code placements)
};

[[noreturn]] void die(const std::string& message) {
  std::cerr << "bpfvm_bench_compare: " << message << "\n";
  std::exit(1);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(arg + " needs a value");
      return argv[++i];
    };
    try {
      if (arg == "--progs-dir") a.progs_dir = value();
      else if (arg == "--only") a.only.push_back(value());
      else if (arg == "--rounds") a.rounds = std::stoi(value());
      else if (arg == "--target-ms") a.target_ms = std::stod(value());
      else if (arg == "--compile-samples") a.compile_samples = std::stoi(value());
      else if (arg == "--cpu") a.cpu = std::stoi(value());
      else if (arg == "--no-kernel") a.kernel = false;
      else if (arg == "--dump-jited") a.dump_jited = true;
      else if (arg == "--same-code") a.reload = false;
      else die("unknown argument " + arg + " (--progs-dir D, --only NAME, --rounds N, --target-ms MS, "
               "--compile-samples N, --cpu N, --no-kernel, --dump-jited, --same-code)");
    } catch (const std::logic_error&) {
      die("bad number for " + arg);
    }
  }
  if (a.rounds < 1 || a.target_ms <= 0 || a.compile_samples < 1) die("--rounds, --target-ms, --compile-samples must be positive");
  return a;
}

// The calling thread's CPU time: on a shared machine, time lost to other processes is left
// out, as the kernel's BPF_PROG_TEST_RUN leaves out the time it yields the CPU.
double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// The kernel's side of one program: libbpf loads the object (the kernel verifies and JITs it).
struct KernelProgram {
  bpf_object* object = nullptr;
  int fd = -1;
  KernelProgram() = default;
  KernelProgram(const KernelProgram&) = delete;
  KernelProgram& operator=(const KernelProgram&) = delete;
  ~KernelProgram() {
    if (object) bpf_object__close(object);
  }
};

// One program in every engine.
struct Subject {
  BenchProgram program;
  std::string path;
  std::size_t insns = 0;
  LoadedObject jit_object;          // JIT, as objects load by default (verified: unchecked)
  LoadedObject interpreter_object;  // its own maps: engines do not share state
  LoadedObject checked_object;      // JIT without verification: checked, its own maps
  std::unique_ptr<KernelProgram> kernel;
  // Earlier rounds' loads, kept so that no later load reuses their code pages.
  std::vector<LoadedObject> retired;
  std::array<uint32_t, kEngineCount> repeat{};
  std::array<std::vector<double>, kEngineCount> samples;
  std::array<std::optional<uint32_t>, kEngineCount> result;
};

LoadedObject load_or_die(const std::string& path, Engine engine, bool verify = true) {
  auto spec = object::open_object(path);
  if (!spec) die(path + ": " + spec.error().to_string());
  auto loaded = LoadedObject::load(*spec, nullptr, LoadOptions{.engine = engine, .verify = verify});
  if (!loaded) die(path + ": " + loaded.error().to_string());
  if (loaded->programs().empty()) die(path + ": no program");
  return std::move(*loaded);
}

// Why the kernel cannot run the programs here, or nullopt.
std::optional<std::string> load_kernel(Subject& s, const std::string& path) {
  auto k = std::make_unique<KernelProgram>();
  libbpf_set_print([](libbpf_print_level, const char*, va_list) { return 0; });
  k->object = bpf_object__open_file(path.c_str(), nullptr);
  if (k->object == nullptr) return "libbpf cannot open " + path;
  if (int err = bpf_object__load(k->object); err != 0) {
    return "the kernel did not load " + path + ": " + std::strerror(-err) + " (bpf() needs root or CAP_BPF)";
  }
  k->fd = bpf_program__fd(bpf_object__next_program(k->object, nullptr));
  s.kernel = std::move(k);
  return std::nullopt;
}

// Runs `repeat` times; the average ns per run and the program's result.
std::pair<double, uint32_t> measure(Subject& s, EngineId e, const std::vector<uint8_t>& data, uint32_t repeat) {
  switch (e) {
    case kNative: {
      uint64_t r = 0;
      const double start = thread_cpu_ns();
      for (uint32_t i = 0; i < repeat; ++i) {
        r = s.program.native(data.data(), data.data() + data.size());
        asm volatile("" : : "r"(r) : "memory");  // every call happens, none is hoisted
      }
      const double ns = (thread_cpu_ns() - start) / repeat;
      return {ns, static_cast<uint32_t>(r)};
    }
    case kKernel: {
      std::vector<uint8_t> out(data.size() + 256);
      LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data.data(), .data_out = out.data(),
                  .data_size_in = static_cast<uint32_t>(data.size()),
                  .data_size_out = static_cast<uint32_t>(out.size()), .repeat = static_cast<int>(repeat));
      if (bpf_prog_test_run_opts(s.kernel->fd, &opts) != 0) {
        die(std::string("BPF_PROG_TEST_RUN of ") + s.program.name + ": " + std::strerror(errno));
      }
      return {static_cast<double>(opts.duration), opts.retval};
    }
    default: {
      ProgramRunner runner;
      if (e == kJit) {
        runner = s.jit_object.programs().front()->runner();
      } else if (e == kInterpreter) {
        runner = s.interpreter_object.programs().front()->runner();
      } else {
        runner = s.checked_object.programs().front()->runner();
      }
      // test_run() runs the repeats as BPF_PROG_TEST_RUN does; its own duration is wall-clock
      // time, so the thread's CPU time around it is taken instead (the context it builds once
      // per call is spread over the repeats).
      const double start = thread_cpu_ns();
      auto r = test_run(runner, TestRunRequest{BPF_PROG_TYPE_XDP, data, {}, repeat});
      const double ns = (thread_cpu_ns() - start) / repeat;
      if (!r) die(std::string(s.program.name) + " (" + kEngineNames[e] + "): " + r.error().to_string());
      return {ns, r->retval};
    }
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// The CPU time of one compile, in microseconds.
double compile_sample_us(const std::vector<isa::Insn>& insns, const jit::JitOptions& options) {
  const double start = thread_cpu_ns();
  auto compiled = jit::JitProgram::compile(insns, linux_helpers(), options);
  const double ns = thread_cpu_ns() - start;
  if (!compiled) die("compile: " + compiled.error().to_string());
  return ns / 1000;
}

// Median compile time in microseconds.
double compile_us(const std::vector<isa::Insn>& insns, const jit::JitOptions& options, int samples) {
  std::vector<double> us;
  for (int k = 0; k < samples; ++k) us.push_back(compile_sample_us(insns, options));
  return median(us);
}

int run(const Args& args) {
  if (!jit::jit_available()) die("bpfvm's JIT needs an x86-64 host");
  if (args.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(args.cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) die("cannot pin to CPU " + std::to_string(args.cpu));
  }
  std::vector<BenchProgram> chosen = {kEmpty};
  for (const BenchProgram& p : kPrograms) {
    if (args.only.empty() || std::find(args.only.begin(), args.only.end(), p.name) != args.only.end()) {
      chosen.push_back(p);
    }
  }
  if (chosen.size() == 1) die("no such program (the programs are fnv1a, crc32, ilog2, ...)");

  const std::vector<uint8_t> data = packet(7);
  std::optional<std::string> kernel_note;
  if (!args.kernel) kernel_note = "--no-kernel was given";
  std::vector<std::unique_ptr<Subject>> subjects;
  for (const BenchProgram& p : chosen) {
    const std::string path = args.progs_dir + "/" + p.name + ".bpf.o";
    auto s = std::make_unique<Subject>(Subject{p, path, 0, load_or_die(path, Engine::kJit),
                                               load_or_die(path, Engine::kInterpreter),
                                               load_or_die(path, Engine::kJit, false), nullptr, {}, {}, {}, {}});
    const LoadedProgram& prog = *s->jit_object.programs().front();
    s->insns = prog.insns().size();
    if (prog.jit() == nullptr || prog.jit()->checked()) die(path + ": not verified and JIT-compiled unchecked");
    if (args.dump_jited) {
      std::cout << "# " << p.name << "\n" << prog.jit()->dump();
      continue;
    }
    if (!kernel_note) kernel_note = load_kernel(*s, path);
    subjects.push_back(std::move(s));
  }
  if (args.dump_jited) return 0;
  const bool with_kernel = !kernel_note.has_value();

  // Batch sizes: about target_ms per sample, after a warm-up run.
  const double target_ns = args.target_ms * 1e6;
  for (auto& s : subjects) {
    for (std::size_t e = 0; e < kEngineCount; ++e) {
      if (e == kKernel && !with_kernel) continue;
      auto [ns, result] = measure(*s, static_cast<EngineId>(e), data, 1);
      std::tie(ns, result) = measure(*s, static_cast<EngineId>(e), data, 16);
      s->repeat[e] = static_cast<uint32_t>(std::clamp(target_ns / std::max(ns, 1.0), 1.0, 1e7));
      s->result[e] = result;
    }
  }
  // Rounds: every program, every engine, the engines' order rotating from round to round; the
  // compile-time samples of the 1,000-instruction program spread over the rounds too, so that
  // a slow phase of the shared machine does not take all of them.
  const auto thousand = thousand_instructions();
  const jit::JitOptions unchecked{.checked = false};
  const int compiles_per_round = std::max(10, args.compile_samples / args.rounds);
  std::vector<double> compile_checked, compile_unchecked;
  for (int round = 0; round < args.rounds; ++round) {
    if (round > 0 && args.reload) {
      // New code placements: the earlier loads are kept, so the new code lands on new pages.
      for (auto& s : subjects) {
        s->retired.push_back(std::exchange(s->jit_object, load_or_die(s->path, Engine::kJit)));
        s->retired.push_back(std::exchange(s->checked_object, load_or_die(s->path, Engine::kJit, false)));
        if (with_kernel) {
          if (auto why = load_kernel(*s, s->path)) die(*why);
        }
      }
    }
    // One mode at a time, each after a compile that is not a sample: the first compile after
    // the programs' runs or after the other mode takes half again as long (caches, code pages).
    compile_sample_us(thousand, unchecked);
    for (int k = 0; k < compiles_per_round; ++k) compile_unchecked.push_back(compile_sample_us(thousand, unchecked));
    compile_sample_us(thousand, {});
    for (int k = 0; k < compiles_per_round; ++k) compile_checked.push_back(compile_sample_us(thousand, {}));
    for (auto& s : subjects) {
      for (std::size_t k = 0; k < kEngineCount; ++k) {
        const auto e = static_cast<EngineId>((k + static_cast<std::size_t>(round)) % kEngineCount);
        if (e == kKernel && !with_kernel) continue;
        auto [ns, result] = measure(*s, e, data, s->repeat[e]);
        s->samples[e].push_back(ns);
        if (result != s->result[e]) die(std::string(s->program.name) + ": results changed between runs");
      }
    }
  }

  nlohmann::ordered_json out;
  out["engines"] = kEngineNames;
  out["kernel_note"] = kernel_note ? nlohmann::ordered_json(*kernel_note) : nlohmann::ordered_json(nullptr);
  out["rounds"] = args.rounds;
  out["target_ms"] = args.target_ms;
  out["reloaded"] = args.reload;
  bool agree = true;
  for (auto& s : subjects) {
    nlohmann::ordered_json p;
    p["insns"] = s->insns;
    p["native_result"] = *s->result[kNative];
    for (std::size_t e = 0; e < kEngineCount; ++e) {
      if (s->samples[e].empty()) continue;
      p["samples"][kEngineNames[e]] = s->samples[e];
      p["repeat"][kEngineNames[e]] = s->repeat[e];
      p["result"][kEngineNames[e]] = *s->result[e];
      if (*s->result[e] != *s->result[kNative]) {
        agree = false;
        std::cerr << s->program.name << ": " << kEngineNames[e] << " returned " << *s->result[e] << ", native "
                  << *s->result[kNative] << "\n";
      }
    }
    p["compile_us"] = compile_us(s->jit_object.programs().front()->insns(), jit::JitOptions{.checked = false, .relocated = true},
                                 args.compile_samples);
    out["programs"][s->program.name] = std::move(p);
  }
  out["compile_1000"]["insns"] = thousand.size();
  out["compile_1000"]["checked_us"] = median(compile_checked);
  out["compile_1000"]["unchecked_us"] = median(compile_unchecked);
  out["compile_1000"]["unchecked_samples_us"] = compile_unchecked;
  out["compile_1000"]["checked_samples_us"] = compile_checked;
  std::cout << out.dump(1) << "\n";
  if (!agree) die("the engines disagree on a program's result");
  return 0;
}

}  // namespace
}  // namespace bpfvm::bench

int main(int argc, char** argv) { return bpfvm::bench::run(bpfvm::bench::parse(argc, argv)); }
