// Shared by the differential tests: run one assembled program in the kernel (load +
// BPF_PROG_TEST_RUN) and in bpfvm's interpreter, and compare.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>

#include "bpf_syscall.hpp"
#include "helpers/linux_helpers.hpp"
#include "hooks/test_run.hpp"
#include "isa/assembler.hpp"

namespace bpfvm::kernel {

#define SKIP_WITHOUT_BPF()                                                         \
  if (auto reason = unavailable_reason()) GTEST_SKIP() << "bpf() unavailable: " << *reason

struct Both {
  TestRunOutput kernel;
  Result<TestRunResult> ours = Error{};
};

// Loads `source` into the kernel and into bpfvm's interpreter and test-runs both.
inline Both run_both(uint32_t prog_type, const std::string& source, const std::vector<uint8_t>& data,
              const std::vector<uint8_t>& ctx = {}, std::size_t ctx_out_size = 0) {
  Both both;
  auto insns = isa::assemble(source);
  EXPECT_TRUE(insns.ok()) << insns.error().to_string();
  if (!insns) return both;
  const auto raw = isa::encode(*insns);
  LoadResult loaded = load_program(prog_type, raw, 1);
  EXPECT_GE(loaded.fd, 0) << "kernel rejected:\n" << loaded.log << source;
  if (loaded.fd < 0) return both;
  // raw_tracepoint test runs take no repeat count (and no packet).
  both.kernel = test_run(loaded.fd, data, ctx, data.empty() ? 0 : 1, ctx_out_size);
  close(loaded.fd);
  const HelperTable& helpers = linux_helpers();
  auto interpreter = Interpreter::create(*insns, helpers);
  EXPECT_TRUE(interpreter.ok()) << interpreter.error().to_string();
  if (!interpreter) return both;
  both.ours = bpfvm::test_run([&](const RunOptions& o) { return interpreter->run(o); },
                              TestRunRequest{prog_type, data, ctx, 1});
  return both;
}

inline void expect_same(const Both& both, bool compare_ctx = false) {
  ASSERT_EQ(both.kernel.error, 0) << "kernel test run failed: " << std::strerror(both.kernel.error);
  ASSERT_TRUE(both.ours.ok()) << both.ours.error().to_string();
  EXPECT_EQ(both.ours->retval, both.kernel.retval);
  EXPECT_EQ(both.ours->data_out, both.kernel.data_out);
  if (compare_ctx) {
    EXPECT_EQ(both.ours->ctx_out, both.kernel.ctx_out);
  }
}

}  // namespace bpfvm::kernel
