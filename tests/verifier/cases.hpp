// The verifier's hand-written cases (tests/verifier/cases.json): one program per rule, with
// what Linux 6.18 answered for it (verdict, errno, first message), recorded by
// scripts/verifier-cases.py. The unit test holds bpfvm to those answers; the kernel test
// asks the running kernel again.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "verifier/case_file.hpp"

namespace bpfvm::test {

struct VerifierCase {
  verifier::ProgramCase program;
  std::string license;
  bool kernel_accepted = false;
  int kernel_errno = 0;
  std::string kernel_message;
};

inline std::vector<VerifierCase> verifier_cases() {
  std::ifstream in(BPFVM_SOURCE_DIR "/tests/verifier/cases.json");
  std::stringstream text;
  text << in.rdbuf();
  const auto all = nlohmann::json::parse(text.str());
  std::vector<VerifierCase> out;
  for (const auto& j : all) {
    auto program = verifier::parse_case(j.dump());
    EXPECT_TRUE(program.ok()) << j.value("name", "?") << ": " << program.error().message;
    if (!program) continue;
    VerifierCase c;
    c.program = std::move(*program);
    c.license = j.value("license", "GPL");
    const auto& k = j.at("kernel");
    c.kernel_accepted = k.at("accepted").get<bool>();
    c.kernel_errno = k.value("errno", 0);
    c.kernel_message = k.value("message", "");
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace bpfvm::test
