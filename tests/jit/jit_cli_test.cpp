// The JIT through the command line: the conformance plugin's --jit on the whole suite, the
// engine choice of run-raw and the jited dump.
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "conformance/data_file.hpp"

namespace {

namespace fs = std::filesystem;

struct Output {
  int status = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Names of its own (and of this process), so this test can run beside cli_test and beside
// itself in another build's test run.
fs::path temp(const std::string& name) {
  return fs::path(::testing::TempDir()) / ("bpfvm_jit_cli_" + std::to_string(getpid()) + "_" + name);
}

Output bpfvm(const std::string& args, const std::string& stdin_text = "") {
  const fs::path in = temp("stdin"), out = temp("stdout"), err = temp("stderr");
  std::ofstream(in) << stdin_text;
  const std::string command =
      std::string(BPFVM_CLI) + " " + args + " <" + in.string() + " >" + out.string() + " 2>" + err.string();
  const int rc = std::system(command.c_str());
  return Output{WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(out), slurp(err)};
}

fs::path write(const std::string& name, const std::string& text) {
  const fs::path p = temp(name);
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

TEST(JitConformancePlugin, PassesTheWholeSuite) {
  int passed = 0;
  for (const auto& entry : fs::directory_iterator(BPFVM_CONFORMANCE_DIR)) {
    if (entry.path().extension() != ".data") continue;
    auto file = bpfvm::conformance::read_data_file(entry.path());
    ASSERT_TRUE(file.ok()) << entry.path();
    auto raw = bpfvm::conformance::program_of(*file);
    ASSERT_TRUE(raw.ok()) << entry.path();
    std::string program_hex, memory_hex;
    for (uint8_t b : bpfvm::isa::bytes_from_raw(*raw)) program_hex += fmt::format("{:02x} ", b);
    for (uint8_t b : file->memory) memory_hex += fmt::format("{:02x} ", b);
    // The runner's order: memory, then the plugin options.
    auto o = bpfvm("conformance-plugin '" + memory_hex + "' --jit", program_hex + "\n");
    ASSERT_EQ(o.status, 0) << entry.path() << ": " << o.out << o.err;
    EXPECT_EQ(std::stoull(o.out, nullptr, 16), *file->result) << entry.path();
    ++passed;
  }
  EXPECT_EQ(passed, 313);
}

TEST(JitCli, RunRawChoosesTheEngine) {
  const auto src = write("r.s", "ldxh %r0, [%r1+1]\nadd %r0, %r2\nexit\n");
  for (const char* engine : {"", "--jit", "--interpret"}) {
    auto o = bpfvm("run-raw " + src.string() + " --mem '01 02 03 04' " + engine);
    EXPECT_EQ(o.status, 0) << engine << o.err;
    EXPECT_EQ(o.out, "0x306\n") << engine;
  }
  // Reading r7 unwritten: the interpreter refuses, the JIT reads zero (until the verifier).
  const auto unwritten = write("u.s", "mov %r0, %r7\nexit\n");
  EXPECT_EQ(bpfvm("run-raw " + unwritten.string() + " --jit").out, "0x0\n");
  auto o = bpfvm("run-raw " + unwritten.string() + " --interpret");
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("R7 !read_ok"), std::string::npos) << o.err;
  o = bpfvm("run-raw " + src.string() + " --jit --interpret");
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("exclude each other"), std::string::npos) << o.err;
}

TEST(JitCli, RunRawReportsBadAccessesFromJitCode) {
  const auto oob = write("oob.s", "ldxdw %r0, [%r1+0]\nexit\n");
  auto o = bpfvm("run-raw " + oob.string() + " --mem '01 02' --jit");
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("insn 0: invalid memory read of 8 bytes"), std::string::npos) << o.err;
}

TEST(JitCli, DumpShowsBpfAndHostInstructions) {
  const auto src = write("d.s", "mov %r0, 42\nexit\n");
  auto o = bpfvm("jit-dump " + src.string());
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find(";    0: (b7) r0 = 42\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("mov eax, 0x2a"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find(";    1: (95) exit\n"), std::string::npos) << o.out;
  o = bpfvm("run-raw " + src.string() + " --dump-jited");
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("mov eax, 0x2a"), std::string::npos) << o.out;
  EXPECT_TRUE(o.out.ends_with("0x2a\n")) << o.out;
  o = bpfvm("jit-dump /nonexistent.s");
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.err, "bpfvm: error: cannot open /nonexistent.s: No such file or directory\n");
}

}  // namespace
