// The eBPF conformance suite on the JIT, and the interpreter and the JIT side by side on every
// program of the suite: same r0, or both failing with the same error.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "conformance/data_file.hpp"
#include "support/conformance_files.hpp"

namespace bpfvm::conformance {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = test::kConformanceDir;

using test::data_files;
using test::param_name;

TEST(JitConformanceSuite, IsPresent) {
  EXPECT_EQ(data_files(kDir).size(), 313u) << "expected the 313 conformance files in " << kDir;
}

class JitConformance : public ::testing::TestWithParam<std::string> {};

TEST_P(JitConformance, GivesTheExpectedResult) {
  auto file = read_data_file(kDir / (GetParam() + ".data"));
  ASSERT_TRUE(file.ok()) << file.error().to_string();
  ASSERT_TRUE(file->result.has_value());
  auto raw = program_of(*file);
  ASSERT_TRUE(raw.ok()) << raw.error().to_string();
  auto r0 = run_conformance_program(*raw, file->memory, Engine::kJit);
  ASSERT_TRUE(r0.ok()) << r0.error().to_string();
  EXPECT_EQ(*r0, *file->result) << std::hex << "r0 = 0x" << *r0 << ", expected 0x" << *file->result;
}

TEST_P(JitConformance, AgreesWithTheInterpreter) {
  auto file = read_data_file(kDir / (GetParam() + ".data"));
  ASSERT_TRUE(file.ok()) << file.error().to_string();
  auto raw = program_of(*file);
  ASSERT_TRUE(raw.ok()) << raw.error().to_string();
  auto interpreted = run_conformance_program(*raw, file->memory, Engine::kInterpreter);
  auto jitted = run_conformance_program(*raw, file->memory, Engine::kJit);
  ASSERT_EQ(interpreted.ok(), jitted.ok()) << (interpreted.ok() ? jitted.error() : interpreted.error()).to_string();
  if (interpreted.ok()) {
    EXPECT_EQ(*interpreted, *jitted);
  } else {
    EXPECT_EQ(interpreted.error().to_string(), jitted.error().to_string());
  }
}


INSTANTIATE_TEST_SUITE_P(Suite, JitConformance, ::testing::ValuesIn(data_files(kDir)), param_name);

}  // namespace
}  // namespace bpfvm::conformance
