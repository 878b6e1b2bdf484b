// The benchmark programs as a differential test: each C source, compiled natively and for BPF,
// gives the same result natively, in bpfvm and in the kernel (loaded with libbpf as the
// oracle, run with BPF_PROG_TEST_RUN). The kernel part skips itself where bpf() is unavailable.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstring>
#include <string>
#include <vector>

#include "bench_programs.hpp"
#include "bpf_syscall.hpp"
#include "hooks/test_run.hpp"
#include "object/object.hpp"
#include "runtime/loader.hpp"

namespace bpfvm {
namespace {

using bench::BenchProgram;
using bench::kPrograms;
using bench::packet;

std::string object_path(const BenchProgram& b) { return std::string(BPFVM_BENCH_PROGS_DIR) + "/" + b.name + ".bpf.o"; }

uint32_t run_bpfvm(const BenchProgram& b, const std::vector<uint8_t>& data, Engine engine = default_engine()) {
  auto spec = object::open_object(object_path(b));
  EXPECT_TRUE(spec.ok()) << spec.error().to_string();
  auto loaded = LoadedObject::load(*spec, nullptr, LoadOptions{engine});
  EXPECT_TRUE(loaded.ok()) << loaded.error().to_string();
  if (!loaded) return 0xdeadbeef;
  if (const jit::JitProgram* jitted = loaded->programs().front()->jit()) {
    // clang's code writes registers before reading them on every path: the JIT proves it when
    // compiling and emits no run-time tracking.
    EXPECT_FALSE(jitted->tracks_registers());
  }
  auto r = test_run(loaded->programs().front()->runner(), TestRunRequest{BPF_PROG_TYPE_XDP, data, {}, 1});
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  return r.ok() ? r->retval : 0xdeadbeef;
}

TEST(BenchPrograms, BpfvmComputesWhatNativeCodeComputes) {
  for (const BenchProgram& b : kPrograms) {
    SCOPED_TRACE(b.name);
    for (uint32_t seed : {1u, 2u, 3u}) {
      const auto data = packet(seed);
      const uint32_t native = bench::native_result(b, data);
      EXPECT_EQ(run_bpfvm(b, data, Engine::kInterpreter), native);
      if (jit::jit_available()) {
        EXPECT_EQ(run_bpfvm(b, data, Engine::kJit), native);
      }
    }
  }
}

TEST(BenchPrograms, TheKernelComputesTheSame) {
  if (auto reason = kernel::unavailable_reason()) GTEST_SKIP() << "bpf() unavailable: " << *reason;
  for (const BenchProgram& b : kPrograms) {
    SCOPED_TRACE(b.name);
    bpf_object* obj = bpf_object__open_file(object_path(b).c_str(), nullptr);
    ASSERT_NE(obj, nullptr);
    ASSERT_EQ(bpf_object__load(obj), 0) << "the kernel's verifier rejected " << b.name;
    bpf_program* prog = bpf_object__next_program(obj, nullptr);
    ASSERT_NE(prog, nullptr);
    const auto data = packet(7);
    std::vector<uint8_t> out(data.size() + 256);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data.data(), .data_out = out.data(),
                .data_size_in = static_cast<uint32_t>(data.size()), .data_size_out = static_cast<uint32_t>(out.size()),
                .repeat = 1);
    ASSERT_EQ(bpf_prog_test_run_opts(bpf_program__fd(prog), &opts), 0);
    EXPECT_EQ(opts.retval, run_bpfvm(b, data));
    bpf_object__close(obj);
  }
}

}  // namespace
}  // namespace bpfvm
