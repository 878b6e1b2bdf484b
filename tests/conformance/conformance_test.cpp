// The eBPF conformance suite (../shared/conformance): every program gives its expected r0 in
// the interpreter, and every negative file gets an error.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "conformance/data_file.hpp"
#include "support/conformance_files.hpp"

namespace bpfvm::conformance {
namespace {

namespace fs = std::filesystem;

using test::data_files;
using test::param_name;

const fs::path kDir = test::kConformanceDir;

TEST(ConformanceSuite, IsPresent) {
  // Guards against a vacuous pass: the parameterised tests below come from this directory.
  EXPECT_EQ(data_files(kDir).size(), 313u) << "expected the 313 conformance files in " << kDir;
  EXPECT_EQ(data_files(kDir / "negative").size(), 60u);
}

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(Conformance, GivesTheExpectedResult) {
  auto file = read_data_file(kDir / (GetParam() + ".data"));
  ASSERT_TRUE(file.ok()) << file.error().to_string();
  ASSERT_TRUE(file->result.has_value());
  auto raw = program_of(*file);
  ASSERT_TRUE(raw.ok()) << raw.error().to_string();
  auto r0 = run_conformance_program(*raw, file->memory);
  ASSERT_TRUE(r0.ok()) << r0.error().to_string();
  EXPECT_EQ(*r0, *file->result) << std::hex << "r0 = 0x" << *r0 << ", expected 0x" << *file->result;
}


INSTANTIATE_TEST_SUITE_P(Suite, Conformance, ::testing::ValuesIn(data_files(kDir)), param_name);

// What each negative file must produce from bpfvm: the error from assembling, decoding or
// running it. The suite's own expected texts are for its reference assembler; these are ours,
// chosen to say the same thing.
const std::map<std::string, std::string> kNegativeExpectations = {
    {"empty", "no program: the file has neither an asm nor a raw section"},
    {"empty_instructions", "no program: the file has neither an asm nor a raw section"},
    {"error", "R0 !read_ok"},
    {"invalid_imm32_dec_range", "Immediate out of 32-bit range: 2147483648"},
    {"invalid_imm32_hex_range", "Immediate out of 32-bit range: 0x100000000"},
    {"invalid_label", "Invalid label: NOT_A_LABEL"},
    {"invalid_lock", "Invalid number of operands for lock"},
    {"invalid_lock2", "Invalid number of operands for lock"},
    {"invalid_mnemonic", "Invalid mnemonic: ldxq"},
    {"invalid_offset", "Invalid memory operand (expected [%rN+offset]): %r1"},
    {"invalid_offset_range", "Offset out of 16-bit range: +0x10000"},
    {"invalid_operand_count", "Invalid number of operands for lddw: expected 2, got 1"},
    {"invalid_register", "Invalid register: %r50"},
    {"invalid_unknown_directive", "unknown section '-- Unknown directive'"},
};

Result<uint64_t> assemble_and_run(const fs::path& path) {
  auto file = read_data_file(path);
  if (!file) return file.error();
  auto raw = program_of(*file);
  if (!raw) return raw.error();
  return run_conformance_program(*raw, file->memory);
}

class Negative : public ::testing::TestWithParam<std::string> {};

TEST_P(Negative, IsRejected) {
  const fs::path path = kDir / "negative" / (GetParam() + ".data");
  auto r0 = assemble_and_run(path);
  if (GetParam() == "incorrect_return_value_high_bits") {
    // A valid program whose file expects a wrong result: the runner must notice the mismatch.
    auto file = read_data_file(path);
    ASSERT_TRUE(r0.ok()) << r0.error().to_string();
    EXPECT_EQ(*r0, 0x8877665544332211ull);
    EXPECT_NE(*r0, *file->result);
    return;
  }
  ASSERT_FALSE(r0.ok()) << "accepted, r0 = 0x" << std::hex << *r0;
  const Error& e = r0.error();
  if (GetParam().starts_with("unused-")) {
    // Raw bytecode with a field the operation does not use set: the decoder's error.
    EXPECT_NE(e.message.find("uses reserved fields"), std::string::npos) << e.to_string();
    EXPECT_EQ(e.insn, 0u);
    return;
  }
  auto expected = kNegativeExpectations.find(GetParam());
  ASSERT_NE(expected, kNegativeExpectations.end()) << "no expectation for " << GetParam() << ": " << e.to_string();
  EXPECT_EQ(e.message, expected->second);
  EXPECT_TRUE(e.line.has_value() || e.insn.has_value() || GetParam().starts_with("empty")) << e.to_string();
}

INSTANTIATE_TEST_SUITE_P(Suite, Negative, ::testing::ValuesIn(data_files(kDir / "negative")), param_name);

}  // namespace
}  // namespace bpfvm::conformance
