// Running the bpfvm binary from tests as a user or script would: shell arguments in, exit
// status and both streams out, files in a per-process temporary directory (test runs of other
// builds and worktrees share the machine's temporary directory).
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "conformance/data_file.hpp"

namespace bpfvm::test {

namespace fs = std::filesystem;

struct Output {
  int status = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline fs::path temp(const std::string& name) {
  return fs::path(::testing::TempDir()) / ("bpfvm_test_" + std::to_string(getpid()) + "_" + name);
}

// run_cli(ARGS) runs `bpfvm ARGS` through the shell (ARGS is shell text) with `stdin_text` on stdin.
inline Output run_cli(const std::string& args, const std::string& stdin_text = "") {
  const fs::path in = temp("stdin"), out = temp("stdout"), err = temp("stderr");
  std::ofstream(in) << stdin_text;
  const std::string command =
      std::string(BPFVM_CLI) + " " + args + " <" + in.string() + " >" + out.string() + " 2>" + err.string();
  const int rc = std::system(command.c_str());
  return Output{WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(out), slurp(err)};
}

inline fs::path write(const std::string& name, const std::string& text) {
  const fs::path p = temp(name);
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

// Every conformance program through `bpfvm conformance-plugin MEMHEX OPTIONS`, as the
// bpf_conformance runner calls it; returns how many passed (failures are reported).
inline int run_conformance_plugin(const std::string& options) {
  int passed = 0;
  for (const auto& entry : fs::directory_iterator(BPFVM_CONFORMANCE_DIR)) {
    if (entry.path().extension() != ".data") continue;
    auto file = conformance::read_data_file(entry.path());
    EXPECT_TRUE(file.ok()) << entry.path();
    if (!file) continue;
    auto raw = conformance::program_of(*file);
    EXPECT_TRUE(raw.ok()) << entry.path();
    if (!raw) continue;
    std::string program_hex, memory_hex;
    for (uint8_t b : isa::bytes_from_raw(*raw)) program_hex += fmt::format("{:02x}  ", b);
    for (uint8_t b : file->memory) memory_hex += fmt::format("{:02x} ", b);
    auto o = run_cli("conformance-plugin '" + memory_hex + "' " + options, program_hex + "\n");
    EXPECT_EQ(o.status, 0) << entry.path() << ": " << o.out << o.err;
    if (o.status != 0) continue;
    EXPECT_EQ(std::stoull(o.out, nullptr, 16), *file->result) << entry.path();
    if (std::stoull(o.out, nullptr, 16) == *file->result) ++passed;
  }
  return passed;
}

}  // namespace bpfvm::test
