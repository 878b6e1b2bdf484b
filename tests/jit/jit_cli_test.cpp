// The JIT through the command line: the conformance plugin's --jit on the whole suite, the
// engine choice of run-raw and the jited dump.
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "conformance/data_file.hpp"
#include "support/cli_runner.hpp"

namespace {

using namespace bpfvm::test;

// The runner's order: memory, then the plugin options.
TEST(JitConformancePlugin, PassesTheWholeSuite) { EXPECT_EQ(run_conformance_plugin("--jit"), 313); }

TEST(JitCli, RunRawChoosesTheEngine) {
  const auto src = write("r.s", "ldxh %r0, [%r1+1]\nadd %r0, %r2\nexit\n");
  for (const char* engine : {"", "--jit", "--interpret"}) {
    auto o = run_cli("run-raw " + src.string() + " --mem '01 02 03 04' " + engine);
    EXPECT_EQ(o.status, 0) << engine << o.err;
    EXPECT_EQ(o.out, "0x306\n") << engine;
  }
  // Reading r7 unwritten: both engines refuse, as the kernel's verifier would.
  const auto unwritten = write("u.s", "mov %r0, %r7\nexit\n");
  for (const char* engine : {"--jit", "--interpret"}) {
    auto o = run_cli("run-raw " + unwritten.string() + " " + engine);
    EXPECT_EQ(o.status, 1);
    EXPECT_NE(o.err.find("R7 !read_ok"), std::string::npos) << o.err;
  }
  auto o = run_cli("run-raw " + src.string() + " --jit --interpret");
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("exclude each other"), std::string::npos) << o.err;
}

TEST(JitCli, RunRawReportsBadAccessesFromJitCode) {
  const auto oob = write("oob.s", "ldxdw %r0, [%r1+0]\nexit\n");
  auto o = run_cli("run-raw " + oob.string() + " --mem '01 02' --jit");
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("insn 0: invalid memory read of 8 bytes"), std::string::npos) << o.err;
}

TEST(JitCli, DumpShowsBpfAndHostInstructions) {
  const auto src = write("d.s", "mov %r0, 42\nexit\n");
  auto o = run_cli("jit-dump " + src.string());
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find(";    0: (b7) r0 = 42\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("mov eax, 0x2a"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find(";    1: (95) exit\n"), std::string::npos) << o.out;
  o = run_cli("run-raw " + src.string() + " --dump-jited");
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("mov eax, 0x2a"), std::string::npos) << o.out;
  EXPECT_TRUE(o.out.ends_with("0x2a\n")) << o.out;
  o = run_cli("jit-dump /nonexistent.s");
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.err, "bpfvm: error: cannot open /nonexistent.s: No such file or directory\n");
}

}  // namespace
