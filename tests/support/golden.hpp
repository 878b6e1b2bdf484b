// Golden files under tests/golden: compare text with a file; BPFVM_BLESS=1 rewrites the file.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace bpfvm::test {

inline std::string golden_path(const std::string& name) { return std::string(BPFVM_GOLDEN_DIR) + "/" + name; }

inline void check_golden(const std::string& name, const std::string& actual) {
  const std::string path = golden_path(name);
  if (std::getenv("BPFVM_BLESS") != nullptr) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << actual;
    GTEST_SKIP() << "wrote " << path;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "missing golden file " << path << " (run with BPFVM_BLESS=1 to create it)";
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(actual, expected.str()) << "output differs from " << path
                                    << " (if the change is intended, refresh with BPFVM_BLESS=1)";
}

}  // namespace bpfvm::test
