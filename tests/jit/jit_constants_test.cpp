// Known-constant propagation in the JIT (JitOptions::propagate_constants): operations on values
// known at compile time are folded, known register operands become immediates, comparisons of
// known values are decided. Each program is run with propagation on and off, checked and
// unchecked, and on the interpreter: all must agree; where something folds, the dump of the
// unchecked code shows the folded form.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "exec/interpreter.hpp"
#include "exec/jit/x86_64/jit.hpp"
#include "helpers/linux_helpers.hpp"
#include "isa/assembler.hpp"

namespace bpfvm::jit {
namespace {

// What a program gave, and the x86 code the unchecked JIT made of it with propagation.
struct Outcome {
  uint64_t result = 0;
  std::string dump;
  // The code of BPF instruction pc, one line per x86 instruction ("mnemonic operands").
  std::vector<std::string> code_of(std::size_t pc) const {
    static const std::regex kHeader(R"(^;\s+(\d+): )");
    static const std::regex kInsn(R"(^\s*[0-9a-f]+:\s+(?:[0-9a-f]{2} )*[0-9a-f]{2}\s{2,}(.*\S)\s*$)");
    std::vector<std::string> code;
    bool inside = false;
    std::istringstream lines(dump);
    for (std::string line; std::getline(lines, line);) {
      std::smatch m;
      if (line.starts_with(";")) {
        inside = std::regex_search(line, m, kHeader) && std::stoul(m[1]) == pc;
      } else if (inside && std::regex_match(line, m, kInsn)) {
        code.push_back(m[1]);
      }
    }
    return code;
  }
  // Whether pc became one instruction that only sets a register (the folded value).
  bool folded(std::size_t pc) const {
    const auto code = code_of(pc);
    return code.size() == 1 && (code[0].starts_with("mov ") || code[0].starts_with("movabs ") ||
                                code[0].starts_with("xor "));
  }
};

// Runs source with r1 = 16 bytes of memory holding `input` (twice), on the interpreter and on
// the JIT with every combination of propagation and checking; expects one result.
Outcome run_everywhere(const std::string& source, uint64_t input = 0) {
  static const HelperTable helpers = linux_helpers();
  Outcome outcome;
  auto insns = isa::assemble(source);
  EXPECT_TRUE(insns.ok()) << insns.error().to_string();
  if (!insns) return outcome;
  std::vector<uint64_t> memory = {input, input};
  RunOptions options;
  options.args[0] = reinterpret_cast<uint64_t>(memory.data());
  options.regions.push_back(MemoryRegion{reinterpret_cast<uint8_t*>(memory.data()), 16, true});
  auto interpreter = Interpreter::create(*insns, helpers);
  EXPECT_TRUE(interpreter.ok());
  if (!interpreter) return outcome;
  const auto expected = interpreter->run(options);
  EXPECT_TRUE(expected.ok()) << expected.error().to_string();
  if (!expected) return outcome;
  outcome.result = *expected;
  for (const bool checked : {true, false}) {
    for (const bool propagate : {false, true}) {
      auto jitted = JitProgram::compile(*insns, helpers, {.checked = checked, .propagate_constants = propagate});
      EXPECT_TRUE(jitted.ok()) << jitted.error().to_string();
      if (!jitted) continue;
      memory = {input, input};
      const auto got = jitted->run(options);
      EXPECT_TRUE(got.ok()) << got.error().to_string();
      if (got.ok()) {
        EXPECT_EQ(*got, *expected) << (checked ? "checked" : "unchecked") << (propagate ? ", propagated" : "");
      }
      if (!checked && propagate) outcome.dump = jitted->dump();
    }
  }
  return outcome;
}

// Every ALU operation on two known values, 64- and 32-bit, with the operands where the
// semantics have edges: division and modulo by 0 and -1, INT_MIN, shift counts past the width,
// 32-bit operations on values with upper bits set.
TEST(JitConstants, FoldedOperationsGiveTheInterpretersResults) {
  const std::vector<std::string> ops = {"add", "sub", "mul", "div", "sdiv", "mod", "smod", "or",
                                        "and", "lsh", "rsh", "arsh", "xor"};
  const std::vector<std::pair<uint64_t, uint64_t>> operands = {
      {100, 7},          {100, 0},          {0x8000000000000000, 0xffffffffffffffff},
      {0x80000000, 0xffffffff}, {0x123456789abcdef0, 67}, {0xfffffffffffffff0, 3},
      {0x1000000005, 0x100000002}, {5, 0x100000000}};
  for (const std::string& op : ops) {
    for (const char* width : {"", "32"}) {
      for (const auto& [a, b] : operands) {
        const std::string source = fmt::format("lddw %r0, {:#x}\nlddw %r2, {:#x}\n{}{} %r0, %r2\nexit\n", a, b, op, width);
        SCOPED_TRACE(source);
        const Outcome o = run_everywhere(source);
        EXPECT_TRUE(o.folded(4)) << o.dump;
      }
    }
  }
}

TEST(JitConstants, FoldedUnaryOperationsGiveTheInterpretersResults) {
  for (const char* op : {"neg", "neg32", "be16", "be32", "be64", "le16", "le32", "le64", "bswap16", "bswap32",
                         "bswap64"}) {
    const std::string source = fmt::format("lddw %r0, 0x8182838485868788\n{} %r0\nexit\n", op);
    SCOPED_TRACE(source);
    const Outcome o = run_everywhere(source);
    EXPECT_TRUE(o.folded(2)) << o.dump;
  }
  for (const char* op : {"movsx864", "movsx1664", "movsx3264", "movsx832", "movsx1632"}) {
    for (const uint64_t v : {uint64_t{0x8182838485868788}, uint64_t{0x7f7f7f7f}}) {
      const std::string source = fmt::format("lddw %r2, {:#x}\n{} %r0, %r2\nexit\n", v, op);
      SCOPED_TRACE(source);
      const Outcome o = run_everywhere(source);
      EXPECT_TRUE(o.folded(2)) << o.dump;
    }
  }
}

// A known register operand of an unknown value becomes an immediate: same results, less code.
TEST(JitConstants, KnownOperandsBecomeImmediates) {
  for (const char* body : {"mov %r2, 7\nadd %r0, %r2\n", "mov %r2, 8\ndiv %r0, %r2\n",
                                  "mov %r2, -1\nsdiv %r0, %r2\n", "lddw %r2, 0x100000003\nmod32 %r0, %r2\n",
                                  "mov %r2, 3\nlsh %r0, %r2\n", "mov %r2, 0\nmod %r0, %r2\n",
                                  "mov %r2, -16\nand %r0, %r2\n"}) {
    for (const uint64_t input : {uint64_t{1000}, uint64_t{0x8000000000000000}, uint64_t{0xffffffff00000007}}) {
      const std::string source = std::string("ldxdw %r0, [%r1+0]\n") + body + "exit\n";
      SCOPED_TRACE(source);
      const Outcome o = run_everywhere(source, input);
      // The operation (after a 1-slot mov or a 2-slot lddw) no longer reads r2 (rsi).
      const std::size_t op_pc = std::string_view(body).starts_with("lddw") ? 3 : 2;
      const auto code = o.code_of(op_pc);
      for (const std::string& line : code) EXPECT_EQ(line.find("si"), std::string::npos) << o.dump;
    }
  }
  // A 64-bit operand that does not fit a sign-extended imm32 stays a register.
  const Outcome wide = run_everywhere("ldxdw %r0, [%r1+0]\nlddw %r2, 0x100000000\nadd %r0, %r2\nexit\n", 5);
  EXPECT_EQ(wide.result, 0x100000005u);
  EXPECT_EQ(wide.code_of(3), std::vector<std::string>{"add rax, rsi"});
  const Outcome div = run_everywhere("ldxdw %r0, [%r1+0]\nmov %r2, 8\ndiv %r0, %r2\nexit\n", 1000);
  EXPECT_EQ(div.result, 125u);
  EXPECT_EQ(div.code_of(2), std::vector<std::string>{"shr rax, 3"}) << "division by a known power of two is a shift";
}

// Comparisons of known values are decided at compile time; a known operand is compared as an
// immediate; stores of known registers store immediates.
TEST(JitConstants, KnownComparisonsAndStores) {
  const Outcome decided = run_everywhere("mov %r2, 5\nmov %r0, 1\njgt %r2, 3, +2\nmov %r0, 2\nexit\nexit\n");
  EXPECT_EQ(decided.result, 1u);
  EXPECT_EQ(decided.code_of(2), std::vector<std::string>{"ret"}) << decided.dump;  // a jump to an exit
  const Outcome not_taken =
      run_everywhere("mov %r2, 5\nmov %r3, 9\nmov %r0, 1\njsgt32 %r2, %r3, +1\nmov %r0, 2\nexit\n");
  EXPECT_EQ(not_taken.result, 2u);
  EXPECT_TRUE(not_taken.code_of(3).empty()) << not_taken.dump;
  for (const uint64_t input : {uint64_t{3}, uint64_t{100}}) {
    for (const char* test : {"mov %r2, 50\njlt %r0, %r2, +1\n", "mov %r2, 6\njset %r0, %r2, +1\n",
                             "mov32 %r2, -6\njsgt32 %r0, %r2, +1\n"}) {
      const Outcome o = run_everywhere(std::string("ldxdw %r0, [%r1+0]\n") + test + "mov %r0, 0\nexit\n", input);
      const auto code = o.code_of(2);
      ASSERT_FALSE(code.empty()) << o.dump;
      EXPECT_EQ(code[0].find("si"), std::string::npos) << "compared as an immediate:\n" << o.dump;
    }
  }
  const Outcome stored = run_everywhere(
      "mov %r2, -1\nstxdw [%r10-8], %r2\nlddw %r3, 0x1234567890\nstxw [%r10-12], %r3\nstxh [%r10-14], %r3\n"
      "stxb [%r10-15], %r3\nldxdw %r0, [%r10-16]\nldxdw %r4, [%r10-8]\nadd %r0, %r4\nexit\n");
  // Bytes at r10-16: 00 90 | 90 78 | 90 78 56 34, plus -1.
  EXPECT_EQ(stored.result, 0x3456789078909000ull - 1);
  for (const std::size_t pc : {1, 4, 5, 6}) {
    for (const std::string& line : stored.code_of(pc)) EXPECT_EQ(line.find("dx"), std::string::npos) << stored.dump;
  }
}

// Constants are known within a basic block only: a jump target may be entered with other
// values, and calls change r0-r5.
TEST(JitConstants, WhatIsKnownEndsWithTheBlock) {
  const std::string merge = "ldxdw %r3, [%r1+0]\nmov %r2, 1\njeq %r3, 0, +1\nmov %r2, 2\nmov %r0, 10\nadd %r0, %r2\nexit\n";
  // (ASSERT: a JIT that kept constants across blocks would decide the loop's jump below
  // always taken, and the unchecked run would never end.)
  EXPECT_EQ(run_everywhere(merge, 0).result, 11u);
  EXPECT_EQ(run_everywhere(merge, 1).result, 12u);
  ASSERT_FALSE(HasFailure());
  const std::string loop = "mov %r0, 0\nmov %r2, 1\nadd %r0, %r2\nlsh %r2, 1\njlt %r2, 64, -3\nexit\n";
  EXPECT_EQ(run_everywhere(loop).result, 63u);
  // After a helper call r1-r5 hold nothing known (checked code zeroes them, as the interpreter).
  const std::string call = "mov %r1, 5\nmov %r6, 7\ncall 5\nmov %r0, %r6\nadd %r0, %r6\nexit\n";
  EXPECT_EQ(run_everywhere(call).result, 14u);  // r6 is kept across the call, and known
}

}  // namespace
}  // namespace bpfvm::jit
