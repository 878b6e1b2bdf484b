// The JIT's semantics where the conformance suite does not pin them down (each case run on the
// interpreter too: both must agree), its safety in checked mode, W^X code, concurrent runs and
// the jited dump.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <linux/bpf.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "conformance/data_file.hpp"
#include "exec/interpreter.hpp"
#include "exec/jit/x86_64/jit.hpp"
#include "helpers/linux_helpers.hpp"
#include "isa/assembler.hpp"
#include "maps/map.hpp"
#include "maps/map_helpers.hpp"
#include "support/cpu.hpp"

namespace bpfvm::jit {
namespace {

const HelperTable& conformance_table() {
  static const HelperTable table = conformance::conformance_helpers();
  return table;
}

RunOptions options_for(std::vector<uint8_t>& memory, RunOptions options = {}) {
  options.args[0] = reinterpret_cast<uint64_t>(memory.data());
  options.args[1] = memory.size();
  options.initialized_args = 2;
  options.regions.push_back(MemoryRegion{memory.data(), memory.size(), true});
  options.packet = memory;
  return options;
}

Result<uint64_t> jit_run(std::string_view source, std::vector<uint8_t> memory = {}, RunOptions options = {},
                         JitOptions jit_options = {}, const HelperTable* helpers = nullptr) {
  auto insns = isa::assemble(source);
  if (!insns) return insns.error();
  auto program = JitProgram::compile(std::move(*insns), helpers ? *helpers : conformance_table(), jit_options);
  if (!program) return program.error();
  return program->run(options_for(memory, options));
}

Result<uint64_t> interpreter_run(std::string_view source, std::vector<uint8_t> memory = {}, RunOptions options = {},
                                 const HelperTable* helpers = nullptr) {
  auto insns = isa::assemble(source);
  if (!insns) return insns.error();
  auto interpreter = Interpreter::create(std::move(*insns), helpers ? *helpers : conformance_table());
  if (!interpreter) return interpreter.error();
  return interpreter->run(options_for(memory, options));
}

// Each program gives, JIT-compiled in checked and in unchecked mode, what the interpreter gives.
void expect_both_modes_as_the_interpreter(const std::vector<std::string>& sources) {
  for (const std::string& source : sources) {
    auto expected = interpreter_run(source);
    ASSERT_TRUE(expected.ok()) << source << expected.error().to_string();
    for (bool checked : {true, false}) {
      auto r = jit_run(source, {}, {}, JitOptions{.checked = checked});
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      EXPECT_EQ(*r, *expected) << source;
    }
  }
}

// r0 of a program on the JIT (with and without BMI2), after checking the interpreter agrees.
uint64_t value(std::string_view source, std::vector<uint8_t> memory = {}) {
  auto expected = interpreter_run(source, memory);
  EXPECT_TRUE(expected.ok()) << expected.error().to_string();
  for (bool bmi2 : {true, false}) {
    auto r = jit_run(source, memory, {}, JitOptions{.checked = true, .use_bmi2 = bmi2});
    EXPECT_TRUE(r.ok()) << source << "\n" << r.error().to_string();
    if (!r.ok()) return 0xdeadbeef;
    if (expected.ok()) {
      EXPECT_EQ(*r, *expected) << source << " (bmi2 " << bmi2 << ")";
    }
  }
  return *jit_run(source, memory);
}

std::string without_addresses(const std::string& text) {
  static const std::regex kAddress("0x[0-9a-f]{8,}");
  return std::regex_replace(text, kAddress, "0x?");
}

// Both engines fail at the same instruction with the same message.
void fails_at(std::string_view source, std::size_t insn, const std::string& message_part,
              std::vector<uint8_t> memory = {}, RunOptions options = {}) {
  auto r = jit_run(source, memory, options);
  ASSERT_FALSE(r.ok()) << source << " gave 0x" << std::hex << *r;
  EXPECT_NE(r.error().message.find(message_part), std::string::npos) << r.error().message;
  ASSERT_TRUE(r.error().insn.has_value()) << r.error().message;
  EXPECT_EQ(*r.error().insn, insn) << r.error().message;
  auto expected = interpreter_run(source, memory, options);
  ASSERT_FALSE(expected.ok());
  // Stack addresses differ between the engines' stacks; everything else is the same text.
  EXPECT_EQ(without_addresses(r.error().to_string()), without_addresses(expected.error().to_string()));
}

TEST(JitSemantics, DivisionAndModuloByZero) {
  EXPECT_EQ(value("mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit\n"), 0u);
  EXPECT_EQ(value("mov %r0, 7\nmov %r1, 0\nmod %r0, %r1\nexit\n"), 7u);
  EXPECT_EQ(value("lddw %r0, 0x100000007\nmov %r1, 0\nmod32 %r0, %r1\nexit\n"), 7u);
  EXPECT_EQ(value("lddw %r0, 0x100000007\nmod32 %r0, 0\nexit\n"), 7u);
  EXPECT_EQ(value("lddw %r0, 0x100000007\ndiv32 %r0, 0\nexit\n"), 0u);
  EXPECT_EQ(value("mov %r0, -7\nsdiv %r0, 0\nexit\n"), 0u);
  EXPECT_EQ(value("mov %r0, -7\nsmod %r0, 0\nexit\n"), static_cast<uint64_t>(-7));
}

// Unsigned division and modulo by a constant power of two become shifts and masks.
TEST(JitSemantics, DivisionAndModuloByPowersOfTwo) {
  for (const char* value_source : {"lddw %r0, 0xfedcba9876543217", "mov %r0, -1", "mov %r0, 12345"}) {
    for (const char* op : {"div", "mod", "div32", "mod32"}) {
      for (int divisor : {1, 2, 8, 1 << 20, 1 << 30}) {
        const std::string source = fmt::format("{}\n{} %r0, {}\nexit\n", value_source, op, divisor);
        // value() compares the interpreter; here the divisor in a register too (the general path).
        const std::string general =
            fmt::format("{}\nmov %r1, {}\n{} %r0, %r1\nexit\n", value_source, divisor, op);
        EXPECT_EQ(value(source), value(general)) << source;
      }
    }
  }
}

// Comparisons with 0 are emitted as `test`: every condition, 64 and 32 bits, around zero.
TEST(JitSemantics, ComparisonsWithZeroTakeEveryConditionAsCmpWould) {
  for (const char* jump : {"jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle"}) {
    for (const char* width : {"", "32"}) {
      for (const char* v : {"0", "1", "-1", "0x7fffffff", "0x80000000", "0x100000000", "0x8000000000000000"}) {
        const std::string taken = fmt::format("lddw %r1, {}\n{}{} %r1, 0, yes\nmov %r0, 0\nexit\nyes:\nmov %r0, 1\nexit\n",
                                              v, jump, width);
        const std::string by_register = fmt::format(
            "lddw %r1, {}\nmov %r2, 0\n{}{} %r1, %r2, yes\nmov %r0, 0\nexit\nyes:\nmov %r0, 1\nexit\n", v, jump,
            width);
        EXPECT_EQ(value(taken), value(by_register)) << taken;
      }
    }
  }
}

// Unchecked code turns clang's zero-extension (lsh 32 then rsh 32 of one register) into one
// mov32, unless something jumps to the second shift.
TEST(JitSemantics, ShiftPairZeroExtensionsAsTheInterpreter) {
  const std::vector<std::string> sources = {
      "lddw %r0, 0xfedcba9876543210\nlsh %r0, 32\nrsh %r0, 32\nexit\n",
      "lddw %r3, 0x80000001ffffffff\nlsh %r3, 32\nrsh %r3, 32\nmov %r0, %r3\nexit\n",
      // A jump lands on the rsh: both shifts must stay (r0 = 0xffffffff >> 32 on that path).
      "lddw %r0, 0xffffffff\nja mid\nlsh %r0, 32\nmid:\nrsh %r0, 32\nexit\n",
      // Different registers or amounts: no pair.
      "lddw %r0, 0x123456789\nmov %r1, %r0\nlsh %r1, 32\nrsh %r0, 32\nadd %r0, %r1\nexit\n",
      "lddw %r0, 0x123456789\nlsh %r0, 32\nrsh %r0, 31\nexit\n",
  };
  for (const std::string& source : sources) {
    auto expected = interpreter_run(source);
    ASSERT_TRUE(expected.ok()) << expected.error().to_string();
    auto r = jit_run(source, {}, {}, JitOptions{.checked = false});
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(*r, *expected) << source;
  }
}

// Unchecked code turns clang's rY = (u32)rX (lsh rX 32; rY = rX; rsh rY 32) into a mov32, and
// shifts rX too unless the code after it writes rX before reading it.
TEST(JitSemantics, LowHalfCopiesAsTheInterpreter) {
  const std::string copy = "lsh %r6, 32\nmov %r4, %r6\nrsh %r4, 32\n";
  const std::vector<std::string> sources = {
      // rX written again before any read: no shift.
      "ldxdw %r6, [%r1+0]\n" + copy + "mov %r6, 7\nadd %r6, %r4\nmov %r0, %r6\nexit\n",
      // rX read afterwards: in the block, by a store, past the block's end, by the next copy.
      "ldxdw %r6, [%r1+0]\n" + copy + "mov %r0, %r6\nadd %r0, %r4\nexit\n",
      "ldxdw %r6, [%r1+0]\n" + copy + "stxdw [%r10-8], %r6\nldxdw %r0, [%r10-8]\nadd %r0, %r4\nexit\n",
      "ldxdw %r6, [%r1+0]\n" + copy + "jeq %r4, 0, zero\nmov %r0, %r6\nexit\nzero:\nmov %r0, 1\nexit\n",
      "ldxdw %r6, [%r1+0]\n" + copy + copy + "mov %r0, %r6\nadd %r0, %r4\nexit\n",
      // A known rX.
      "lddw %r6, 0x123456789abcdef0\n" + copy + "mov %r0, %r6\nadd %r0, %r4\nexit\n",
      "lddw %r6, 0x123456789abcdef0\n" + copy + "mov %r6, 0\nmov %r0, %r4\nexit\n",
      // A jump lands on the mov: no fusion.
      "ldxdw %r6, [%r1+0]\nmov %r4, 5\njeq %r6, 0, mid\nlsh %r6, 32\nmid:\nmov %r4, %r6\nrsh %r4, 32\n"
      "mov %r0, %r4\nadd %r0, %r6\nexit\n",
  };
  for (const std::string& source : sources) {
    for (const uint64_t input : {uint64_t{0}, uint64_t{0x8877665544332211}, uint64_t{0xffffffff}}) {
      std::vector<uint8_t> memory(8);
      std::memcpy(memory.data(), &input, 8);
      auto expected = interpreter_run(source, memory);
      ASSERT_TRUE(expected.ok()) << expected.error().to_string();
      for (const bool propagate : {false, true}) {
        auto r = jit_run(source, memory, {}, JitOptions{.checked = false, .propagate_constants = propagate});
        ASSERT_TRUE(r.ok()) << r.error().to_string();
        EXPECT_EQ(*r, *expected) << source << std::hex << input;
      }
    }
  }
}

// Unchecked code makes a load, an add/sub/and/or/xor and a store back to the same place one
// x86 operation on memory when the loaded register is dead afterwards (on every path: through
// jumps, to exits, which read r0 only); elsewhere the three stay. Every size, op, 32- and 64-bit,
// by an immediate and a register: the interpreter's results.
TEST(JitSemantics, MemoryUpdatesAsTheInterpreter) {
  const char* sizes[] = {"b", "h", "w", "dw"};
  const char* words[] = {"byte", "word", "dword", "qword"};
  const char* ops[] = {"add", "sub", "and", "or", "xor"};
  struct Tail {
    const char* code;
    const char* dead;  // the registers rA is dead after the store as
  };
  const Tail tails[] = {
      {"ldxdw %r0, [%r6+8]\nexit\n", "%r2 %r0"},  // an exit: r7 not known dead there
      {"exit\n", "%r2"},
      {"ldxdw %r0, [%r6+8]\nadd %r0, %rA\nexit\n", "%r0"},
      {"jeq %r3, 5, skip\nmov %rA, 1\nskip:\nldxdw %r0, [%r6+8]\nexit\n", "%r2 %r0"},
      {"jeq %r3, 5, skip\nmov %rA, 1\nskip:\nldxdw %r0, [%r6+8]\nadd %r0, %rA\nexit\n", "%r0"},
      {"ja over\nmov %r0, %rA\nover:\nmov %rA, 2\nldxdw %r0, [%r6+8]\nadd %r0, %rA\nexit\n", "%r2 %r0 %r7"},
  };
  for (unsigned size = 0; size < 4; ++size) {
    for (const char* op : ops) {
      for (const bool alu32 : {false, true}) {
        for (const std::string operand : {"0x7f", "-3", "%r3"}) {
          for (const Tail& tail : tails) {
            for (const char* a : {"%r2", "%r0", "%r7"}) {
              std::string source = fmt::format("mov %r0, 9\nmov %r6, %r1\nlddw %r3, 0x8182838485868788\n"
                                               "ldx{} {}, [%r6+8]\n{}{} {}, {}\nstx{} [%r6+8], {}\n",
                                               sizes[size], a, op, alu32 ? "32" : "", a, operand, sizes[size], a);
              std::string rest = tail.code;
              for (std::size_t at; (at = rest.find("%rA")) != std::string::npos;) rest.replace(at, 3, a);
              source += rest;
              std::vector<uint8_t> memory(16);
              for (std::size_t k = 0; k < memory.size(); ++k) memory[k] = static_cast<uint8_t>(0xf1 - 7 * k);
              auto expected = interpreter_run(source, memory);
              ASSERT_TRUE(expected.ok()) << source << expected.error().to_string();
              auto insns = isa::assemble(source);
              ASSERT_TRUE(insns.ok());
              auto program = JitProgram::compile(*insns, conformance_table(), JitOptions{.checked = false});
              ASSERT_TRUE(program.ok()) << program.error().to_string();
              auto got = program->run(options_for(memory));
              ASSERT_TRUE(got.ok()) << got.error().to_string();
              EXPECT_EQ(*got, *expected) << source;
              const bool fused = std::string_view(tail.dead).find(a) != std::string_view::npos && !(alu32 && size == 3);
              const std::string memory_op = fmt::format("{} {} ptr [rbx + 8]", op, words[size]);
              EXPECT_EQ(program->dump().find(memory_op) != std::string::npos, fused) << source << program->dump();
            }
          }
        }
      }
    }
  }
}

TEST(JitSemantics, DivisionKeepsR0AndR3WhateverTheOperands) {
  // x86 divides rdx:rax, which hold r3 and r0.
  EXPECT_EQ(value("mov %r0, 100\nmov %r3, 7\nmov %r4, 30\nmov %r5, 4\ndiv %r4, %r5\nadd %r0, %r4\nadd %r0, %r3\nexit\n"),
            100u + 7 + 7);
  EXPECT_EQ(value("mov %r0, 100\nmov %r3, 7\nmod %r3, %r0\nmov %r0, %r3\nexit\n"), 7u);
  EXPECT_EQ(value("mov %r0, 100\nmov %r3, 7\ndiv %r0, %r3\nexit\n"), 14u);
  EXPECT_EQ(value("mov %r0, 100\nmov %r3, 7\nmod %r0, %r3\nadd %r0, %r3\nexit\n"), 2u + 7);
  EXPECT_EQ(value("mov %r0, -100\nmov %r3, 7\nsdiv %r3, %r3\nsmod %r0, %r3\nexit\n"), 0u);
  EXPECT_EQ(value("mov %r0, -100\nmov %r3, 7\nsdiv32 %r0, %r3\nexit\n"), static_cast<uint32_t>(-14));
}

// Every division and modulo with dst and src in r0 and r3 (which x86's divide overwrites) and
// elsewhere, by registers and constants (0, -1, INT_MIN among them), in checked and unchecked
// code: the result and every other register r0-r5 as the interpreter leaves them.
TEST(JitSemantics, DivisionOperandsInEveryPlaceKeepTheOtherRegisters) {
  const char* ops[] = {"div", "mod", "sdiv", "smod", "div32", "mod32", "sdiv32", "smod32"};
  const char* dividends[] = {"0x8000000000000000", "-100", "0xfedcba9876543217", "7"};
  const char* divisors[] = {"0", "-1", "3", "-7", "0x80000000", "0x100000003"};
  for (const char* op : ops) {
    for (uint8_t dst : {0, 3, 1, 5}) {
      for (int src : {0, 3, 2, 5, -1}) {  // -1: an immediate divisor
        for (const char* dividend : dividends) {
          for (const char* divisor : divisors) {
            if (src < 0 && std::string_view(divisor).size() > 10) continue;  // imm32 only
            std::string source;
            for (int r = 0; r <= 5; ++r) source += fmt::format("lddw %r{}, {}\n", r, 0x1111 * (r + 1));
            if (src >= 0) source += fmt::format("lddw %r{}, {}\n", src, divisor);
            source += fmt::format("lddw %r{}, {}\n", dst, dividend);
            source += src >= 0 ? fmt::format("{} %r{}, %r{}\n", op, dst, src)
                               : fmt::format("{} %r{}, {}\n", op, dst, divisor);
            // r0 = a mix of r0-r5, so a register the division lost shows.
            source += "mov %r6, %r0\n";
            for (int r = 1; r <= 5; ++r) source += fmt::format("mul %r6, 31\nadd %r6, %r{}\n", r);
            source += "mov %r0, %r6\nexit\n";
            auto expected = interpreter_run(source);
            ASSERT_TRUE(expected.ok()) << source << expected.error().to_string();
            for (bool checked : {true, false}) {
              auto r = jit_run(source, {}, {}, JitOptions{.checked = checked});
              ASSERT_TRUE(r.ok()) << source << r.error().to_string();
              EXPECT_EQ(*r, *expected) << source << (checked ? " (checked)" : " (unchecked)");
            }
          }
        }
      }
    }
  }
}

// Unchecked code makes `rX = rY; rX += rZ (or imm)` one lea, unless something jumps to the add.
TEST(JitSemantics, AddressPairsAsTheInterpreter) {
  const std::vector<std::string> sources = {
      "lddw %r1, 0x123456789\nmov %r2, 5\nmov %r0, %r1\nadd %r0, %r2\nexit\n",
      "lddw %r1, 0x123456789\nmov %r0, %r1\nadd %r0, -128\nexit\n",
      "lddw %r1, 0xffffffffffffffff\nmov %r0, %r1\nadd %r0, 0x7fffffff\nexit\n",
      // rX += rX after rX = rY: twice rY.
      "lddw %r1, 0x123456789\nmov %r0, %r1\nadd %r0, %r0\nexit\n",
      // rX += rY after rX = rY; rX = rX.
      "lddw %r4, 0x8000000000000001\nmov %r0, %r4\nadd %r0, %r4\nexit\n",
      "lddw %r0, 0x123456789\nmov %r0, %r0\nadd %r0, 3\nexit\n",
      // rX = rY; rX += imm; rX += rZ: one lea of three terms (rZ may be rY), not when rZ is rX
      // or something jumps to the second add.
      "lddw %r1, 0x123456789\nmov %r2, 5\nmov %r0, %r1\nadd %r0, -128\nadd %r0, %r2\nexit\n",
      "lddw %r1, 0x123456789\nmov %r0, %r1\nadd %r0, 0x7fffffff\nadd %r0, %r1\nexit\n",
      "lddw %r1, 0x123456789\nmov %r0, %r1\nadd %r0, 7\nadd %r0, %r0\nexit\n",
      "mov %r1, 1\nmov %r2, 9\nmov %r0, 10\njeq %r1, 1, mid\nmov %r0, %r1\nadd %r0, 3\nmid:\nadd %r0, %r2\nexit\n",
      // Something jumps to the add: both stay.
      "mov %r1, 1\nmov %r0, 10\njeq %r1, 1, mid\nmov %r0, %r1\nmid:\nadd %r0, 5\nexit\n",
      // 32-bit halves or other registers: no pair.
      "lddw %r1, 0x1ffffffff\nmov %r0, %r1\nadd32 %r0, 1\nexit\n",
      "lddw %r1, 0x1ffffffff\nmov32 %r0, %r1\nadd %r0, 1\nexit\n",
      "mov %r1, 7\nmov %r0, %r1\nadd %r1, 1\nadd %r0, %r1\nexit\n",
  };
  expect_both_modes_as_the_interpreter(sources);
}

// Unchecked code makes `rA <<= s; [rB = imm64;] rB += rA` one lea and the shift (s = 1 to 3),
// unless something jumps inside; both registers end as the interpreter leaves them.
TEST(JitSemantics, ScaledIndexesAsTheInterpreter) {
  std::vector<std::string> sources;
  for (int s : {0, 1, 2, 3, 4}) {
    const std::string start = "lddw %r1, 0x8123456789\nlddw %r2, 0x1000\n";
    const std::string end = "mov %r0, %r1\nmul %r0, 1000003\nadd %r0, %r2\nexit\n";
    sources.push_back(start + fmt::format("lsh %r1, {}\nadd %r2, %r1\n", s) + end);
    sources.push_back(start + fmt::format("lsh %r1, {}\nlddw %r2, 0x7fff00001234\nadd %r2, %r1\n", s) + end);
    sources.push_back(start + fmt::format("lsh %r1, {}\nlddw %r2, -5\nadd %r2, %r1\n", s) + end);
    // Same register, another register loaded, a 32-bit add, a jump inside: no lea.
    sources.push_back(start + fmt::format("lsh %r1, {}\nadd %r1, %r1\n", s) + end);
    sources.push_back(start + fmt::format("lsh %r1, {}\nlddw %r3, 7\nadd %r2, %r1\nadd %r2, %r3\n", s) + end);
    sources.push_back(start + fmt::format("lsh %r1, {}\nadd32 %r2, %r1\n", s) + end);
    sources.push_back(start + fmt::format("jeq %r1, 0, skip\nlsh %r1, {}\nskip:\nadd %r2, %r1\n", s) + end);
    sources.push_back(start + fmt::format("lsh %r1, {}\njeq %r1, 0, in\nin:\nadd %r2, %r1\n", s) + end);
  }
  expect_both_modes_as_the_interpreter(sources);
}

// Unchecked code returns straight from jumps to exits, and drops the code of an exit that a
// conditional jump just skips (a loop latch): loops, subprograms, exits that are also targets.
TEST(JitSemantics, JumpsToExitsReturnAsTheInterpreter) {
  const std::vector<std::string> sources = {
      // A counted loop whose latch skips an exit; the exit is also the target of a jump.
      "mov %r0, 0\nmov %r2, 0\nja head\nlatch:\nadd %r2, 1\njne %r2, 10, head\nout:\nexit\n"
      "head:\nadd %r0, %r2\njgt %r0, 30, out\nja latch\n",
      "mov %r0, 0\nmov %r2, 0\nja head\nlatch:\nadd %r2, 1\njne %r2, 10, head\nout:\nexit\n"
      "head:\nadd %r0, %r2\njgt %r0, 300, out\nja latch\n",
      // A latch skipping `r0 = imm; exit` (moved out of line), which other jumps share: the
      // loop ends at the latch (77), by a jump to the shared r0 = imm (77, or 2^32 - 5 and
      // -5 from the 32- and 64-bit moves), or by a jump to the exit itself (the sum).
      "mov %r0, 0\nmov %r2, 0\nja head\nlatch:\nadd %r2, 1\njne %r2, 10, head\nshared:\nmov %r0, 77\nout:\nexit\n"
      "head:\nadd %r0, %r2\njgt %r0, 300, out\njeq %r2, 70, shared\nja latch\n",
      "mov %r0, 0\nmov %r2, 0\nja head\nlatch:\nadd %r2, 1\njne %r2, 10, head\nshared:\nmov %r0, 77\nout:\nexit\n"
      "head:\nadd %r0, %r2\njgt %r0, 30, out\njeq %r2, 7, shared\nja latch\n",
      "mov %r0, 0\nmov %r2, 0\nja head\nlatch:\nadd %r2, 1\njne %r2, 10, head\nshared:\nmov32 %r0, -5\nout:\nexit\n"
      "head:\nadd %r0, %r2\njgt %r0, 300, out\njeq %r2, 7, shared\nja latch\n",
      "mov %r0, 0\nmov %r2, 0\nja head\nlatch:\nadd %r2, 1\njne %r2, 10, head\nshared:\nmov %r0, -5\nout:\nexit\n"
      "head:\nadd %r0, %r2\njgt %r0, 300, out\njeq %r2, 7, shared\nja latch\n",
      "mov %r0, 0\nmov %r2, 0\nja head\nlatch:\nadd %r2, 1\njne %r2, 10, head\nshared:\nmov %r0, 77\nout:\nexit\n"
      "head:\nadd %r0, %r2\njgt %r0, 30, out\njeq %r2, 70, shared\nja latch\n",
      // ... and r0 = a register (the loop's sum), 64- and 32-bit.
      "mov %r6, 0\nmov %r2, 0\nja head\nlatch:\nadd %r2, 1\njne %r2, 10, head\nshared:\nmov %r0, %r6\nexit\n"
      "head:\nadd %r6, %r2\njeq %r2, 7, shared\nja latch\n",
      "lddw %r6, 0x100000000\nmov %r2, 0\nja head\nlatch:\nadd %r2, 1\njne %r2, 10, head\nshared:\nmov32 %r0, %r6\n"
      "exit\nhead:\nadd %r6, %r2\njeq %r2, 70, shared\nja latch\n",
      // `if cond goto +1; goto L` (one inverted jump): L back, forward, an exit, and a goto
      // something else jumps to (both stay).
      "mov %r0, 0\nmov %r2, 0\nloop:\nadd %r2, 1\nadd %r0, %r2\njgt %r2, 9, +1\nja loop\nexit\n",
      "mov %r0, 0\nmov %r2, 0\nloop:\nadd %r2, 1\nadd %r0, %r2\njgt %r2, 9, +1\nja out\nja loop\nout:\nexit\n",
      "mov %r0, 0\nmov %r2, 0\nloop:\nadd %r2, 1\nadd %r0, %r2\njle %r2, 9, +1\nja e\nja loop\ne:\nexit\n",
      "mov %r0, 0\nmov %r2, 0\nloop:\nadd %r2, 1\nadd %r0, %r2\njeq %r2, 5, back\njgt %r2, 9, +1\nback:\nja loop\n"
      "exit\n",
      // Forward conditional and unconditional jumps to exits.
      "mov %r0, 3\njeq %r0, 3, e\nmov %r0, 4\ne:\nexit\n",
      "mov %r0, 3\njne %r0, 3, e\nmov %r0, 4\ne:\nexit\n",
      "mov %r0, 3\nja e\nmov %r0, 4\ne:\nexit\n",
      // The skipped exit in a subprogram, and one a local call enters.
      "mov %r1, 5\ncall local f\nadd %r0, 1\nexit\nf:\nmov %r0, %r1\njne %r1, 5, g\nexit\ng:\nmov %r0, 9\nexit\n",
      "mov %r1, 4\ncall local f\nadd %r0, 1\nexit\nf:\nmov %r0, %r1\njne %r1, 5, g\nexit\ng:\nmov %r0, 9\nexit\n",
      "mov %r0, 2\njeq %r0, 2, k\ncall local h\nk:\nexit\nh:\nexit\n",
      "mov %r0, 2\njeq %r0, 3, k\ncall local h\nk:\nexit\nh:\nmov %r0, 6\njne %r0, 6, z\nexit\nz:\nexit\n",
  };
  expect_both_modes_as_the_interpreter(sources);
}

// Unchecked code makes `rX = 1; if A op B goto L; rX = 0; goto L` a setcc and one jump:
// every condition, both widths, register and immediate operands, as the interpreter.
TEST(JitSemantics, FlagSelectsAsTheInterpreter) {
  std::vector<std::string> sources;
  for (const char* jump : {"jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset"}) {
    for (const char* width : {"", "32"}) {
      for (const char* a : {"0", "1", "-1", "0x80000000", "0x100000001"}) {
        for (const char* b : {"0", "1", "-1", "0x80000001"}) {
          const std::string start = fmt::format("lddw %r1, {}\nlddw %r2, {}\nlddw %r4, 77\nmov %r0, 5\n", a, b);
          const std::string end = "L:\nadd %r0, %r4\nexit\n";
          sources.push_back(start + fmt::format("mov %r4, 1\n{}{} %r1, %r2, L\nmov %r4, 0\nja L\n", jump, width) + end);
          sources.push_back(start + fmt::format("mov32 %r4, 1\n{}{} %r1, 1, L\nmov32 %r4, 0\nja L\n", jump, width) + end);
        }
      }
      // rX compared, a jump inside, different targets: no select.
      const std::string start = "lddw %r1, 3\nlddw %r4, 77\nmov %r0, 5\n";
      const std::string end = "L:\nadd %r0, %r4\nexit\n";
      sources.push_back(start + fmt::format("mov %r4, 1\n{}{} %r4, %r1, L\nmov %r4, 0\nja L\n", jump, width) + end);
      sources.push_back(start + fmt::format("mov %r4, 1\n{}{} %r1, %r4, L\nmov %r4, 0\nja L\n", jump, width) + end);
      sources.push_back(start + fmt::format("jeq %r1, 3, M\nmov %r4, 1\n{}{} %r1, 2, L\nM:\nmov %r4, 0\nja L\n", jump,
                                            width) + end);
      sources.push_back(start + fmt::format("mov %r4, 1\n{}{} %r1, 2, L\nmov %r4, 0\nja N\nL:\nadd %r0, 1\nN:\n"
                                            "add %r0, %r4\nexit\n", jump, width));
    }
  }
  expect_both_modes_as_the_interpreter(sources);
}

// Unchecked code makes `if cond goto L; rX = imm; goto L` a cmov: every condition, both widths,
// register and immediate operands, rX among them, L after the jump, before it or an exit;
// operands from memory (known constants would decide the jump instead).
TEST(JitSemantics, SelectsAsTheInterpreter) {
  const std::vector<uint64_t> values = {0, 1, ~uint64_t{0}, 0x80000000, 0x100000001};
  for (const char* jump : {"jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset"}) {
    for (const char* width : {"", "32"}) {
      for (const char* set : {"mov %r4, 0", "mov %r4, -1", "mov32 %r4, -1", "mov %r4, 0x7fffffff"}) {
        const std::string start = "ldxdw %r2, [%r1+8]\nldxdw %r1, [%r1+0]\nmov %r0, 5\nmov %r4, 77\n";
        const std::vector<std::string> sources = {
            start + fmt::format("{}{} %r1, %r2, L\n{}\nja L\nL:\nadd %r0, %r4\nexit\n", jump, width, set),
            start + fmt::format("{}{} %r1, 1, L\n{}\nja L\nL:\nadd %r0, %r4\nexit\n", jump, width, set),
            start + fmt::format("{}{} %r4, %r1, L\n{}\nja L\nL:\nadd %r0, %r4\nexit\n", jump, width, set),
            start + fmt::format("{}{} %r1, %r2, L\n{}\nja L\nL:\nadd %r0, %r4\nexit\n", jump, width,
                                std::regex_replace(set, std::regex("%r4"), "%r0")),
            // L before the jump: a loop of at most a few rounds.
            start + fmt::format("L:\nadd %r0, %r4\nadd %r0, 50\njgt %r0, 200, E\n{}{} %r1, %r2, L\n{}\nja L\nE:\nexit\n",
                                jump, width, set),
        };
        for (const std::string& source : sources) {
          for (const uint64_t a : values) {
            for (const uint64_t b : values) {
              std::vector<uint8_t> memory(16);
              std::memcpy(memory.data(), &a, 8);
              std::memcpy(memory.data() + 8, &b, 8);
              auto expected = interpreter_run(source, memory);
              ASSERT_TRUE(expected.ok()) << source << expected.error().to_string();
              for (const bool propagate : {true, false}) {
                auto r = jit_run(source, memory, {}, JitOptions{.checked = false, .propagate_constants = propagate});
                ASSERT_TRUE(r.ok()) << r.error().to_string();
                EXPECT_EQ(*r, *expected) << source << "a = " << a << ", b = " << b;
              }
            }
          }
        }
      }
    }
  }
}

TEST(JitSemantics, SignedDivisionOfIntMinByMinusOne) {
  EXPECT_EQ(value("lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit\n"), 0x8000000000000000ull);
  EXPECT_EQ(value("lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit\n"), 0u);
  EXPECT_EQ(value("lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1\nexit\n"), 0x8000000000000000ull);
  EXPECT_EQ(value("lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1\nexit\n"), 0u);
  EXPECT_EQ(value("mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit\n"), 0x80000000ull);
  EXPECT_EQ(value("mov32 %r0, 0x80000000\nmov32 %r1, -1\nsdiv32 %r0, %r1\nexit\n"), 0x80000000ull);
  EXPECT_EQ(value("mov32 %r0, -7\nsmod32 %r0, 2\nexit\n"), 0xffffffffull);
}

TEST(JitSemantics, ShiftsMaskTheirAmountWithAndWithoutBmi2) {
  EXPECT_EQ(value("mov %r0, 1\nlsh %r0, 65\nexit\n"), 2u);
  EXPECT_EQ(value("mov32 %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1\nexit\n"), 2u);
  EXPECT_EQ(value("mov32 %r0, 0x80000000\narsh32 %r0, 63\nexit\n"), 0xffffffffu);
  // A 32-bit shift by a masked count of 0 still zero-extends.
  EXPECT_EQ(value("mov %r0, -1\nmov %r1, 32\nrsh32 %r0, %r1\nexit\n"), 0xffffffffu);
  EXPECT_EQ(value("mov %r0, -1\nrsh32 %r0, 32\nexit\n"), 0xffffffffu);
  // The count in r4 (rcx), the value in r4, both.
  EXPECT_EQ(value("mov %r0, 3\nmov %r4, 2\nlsh %r0, %r4\nadd %r0, %r4\nexit\n"), 14u);
  EXPECT_EQ(value("mov %r4, 3\nmov %r1, 2\nlsh %r4, %r1\nmov %r0, %r4\nexit\n"), 12u);
  EXPECT_EQ(value("mov %r4, 3\nlsh %r4, %r4\nmov %r0, %r4\nexit\n"), 24u);
  EXPECT_EQ(value("mov %r4, -8\narsh32 %r4, %r4\nmov %r0, %r4\nexit\n"), 0xffffffffu);
}

TEST(JitSemantics, Alu32ZeroExtends) {
  EXPECT_EQ(value("lddw %r0, 0xffffffffffffffff\nadd32 %r0, 1\nexit\n"), 0u);
  EXPECT_EQ(value("lddw %r0, 0xffffffff00000005\nmov32 %r0, %r0\nexit\n"), 5u);
  EXPECT_EQ(value("mov %r0, -1\nexit\n"), ~0ull);
  EXPECT_EQ(value("mov32 %r0, -1\nexit\n"), 0xffffffffull);
  EXPECT_EQ(value("lddw %r0, 0xffffffff00000005\nneg32 %r0\nexit\n"), 0xfffffffbull);
  EXPECT_EQ(value("lddw %r0, 0x1122334455667788\nle32 %r0\nexit\n"), 0x55667788u);
  EXPECT_EQ(value("lddw %r0, 0x1122334455667788\nbe16 %r0\nexit\n"), 0x8877u);
  EXPECT_EQ(value("lddw %r1, 0x1122334455667788\nmovsx832 %r0, %r1\nexit\n"), 0xffffff88u);
}

TEST(JitSemantics, AtomicsReturnOldValuesAndZeroExtend) {
  const char* prologue = "lddw %r6, 0xffffffff00000000\nstdw [%r10-8], 0xf0\n";
  auto prog = [&](const std::string& body) { return std::string(prologue) + body; };
  EXPECT_EQ(value(prog("mov %r1, 0x0f\nlock fetch or [%r10-8], %r1\nldxdw %r0, [%r10-8]\nadd %r0, %r1\nexit\n")),
            0xffu + 0xf0u);
  EXPECT_EQ(value(prog("mov %r0, 0x0f\nlock fetch and32 [%r10-8], %r0\nexit\n")), 0xf0u);
  EXPECT_EQ(value(prog("mov %r0, 0x3c\nlock fetch xor [%r10-8], %r0\nldxdw %r1, [%r10-8]\nlsh %r0, 8\nor %r0, %r1\nexit\n")),
            (0xf0u << 8) | 0xccu);
  EXPECT_EQ(value(prog("mov %r1, %r6\nlock xchg32 [%r10-8], %r1\nmov %r0, %r1\nexit\n")), 0xf0u);
  EXPECT_EQ(value(prog("mov %r0, %r6\nor %r0, 0xf0\nmov %r2, 5\nlock cmpxchg32 [%r10-8], %r2\nexit\n")), 0xf0u);
  EXPECT_EQ(value(prog("mov %r0, 0xf0\nmov %r2, 5\nlock cmpxchg [%r10-8], %r2\nldxdw %r1, [%r10-8]\nadd %r0, %r1\nexit\n")),
            0xf5u);
  EXPECT_EQ(value(prog("mov %r1, %r6\nor %r1, 1\nlock fetch add32 [%r10-8], %r1\nmov %r0, %r1\nexit\n")), 0xf0u);
  EXPECT_EQ(value(prog("mov %r1, %r10\nmov %r2, 2\nlock add [%r1-8], %r2\nldxdw %r0, [%r10-8]\nexit\n")), 0xf2u);
}

TEST(JitSemantics, LocalCallsSaveR6ToR9AndGetAFreshFrame) {
  EXPECT_EQ(value("mov %r6, 1\nstdw [%r10-8], 5\ncall local f\nldxdw %r1, [%r10-8]\nadd %r0, %r1\nadd %r0, %r6\nexit\n"
                  "f:\nmov %r6, 100\nldxdw %r0, [%r10-8]\nstdw [%r10-8], 1000\nadd %r0, 10\nexit\n"),
            10u + 5u + 1u);
  EXPECT_EQ(value("stdw [%r10-8], 9\nmov %r1, %r10\nadd %r1, -8\ncall local f\nldxdw %r0, [%r10-8]\nexit\n"
                  "f:\nstdw [%r1], 77\nmov %r0, 0\nexit\n"),
            77u);
}

TEST(JitSemantics, CallDepthIsLimitedToEightFrames) {
  fails_at("mov %r1, 0\ncall local f\nexit\nf:\nadd %r1, 1\ncall local f\nexit\n", 4,
           "the call stack of 9 frames is too deep");
  fails_at("lddw_func %r2, f\ncall %r2\nexit\nf:\ncall %r2\nexit\n", 4, "the call stack of 9 frames is too deep");
}

TEST(JitSemantics, CallxReachesHelpersAndSubprograms) {
  EXPECT_EQ(value("mov %r1, 33\nmov %r2, 5\ncall %r2\nexit\n"), 33u);
  EXPECT_EQ(value("lddw_func %r3, f\ncall %r3\nadd %r0, 1\nexit\nf:\nmov %r0, 41\nexit\n"), 42u);
  fails_at("mov %r2, 1234\ncall %r2\nexit\n", 1, "neither a subprogram nor a known helper");
  fails_at("lddw_func %r3, f\nadd %r3, 8\ncall %r3\nexit\nf:\nmov %r0, 41\nexit\n", 3,
           "neither a subprogram nor a known helper");
}

TEST(JitSemantics, HelpersSeeTheirArgumentsAndCanStopTheProgram) {
  EXPECT_EQ(value("mov %r1, 0\ncall 5\nmov %r0, 2\nexit\n"), 0u);
  EXPECT_EQ(value("mov %r1, 0\ncall local f\nmov %r0, 2\nexit\nf:\ncall 5\nmov %r0, 3\nexit\n"), 0u);
  HelperTable helpers;
  helpers.add(Helper{1, "sum", [](uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e, HelperContext& ctx) {
                       return a + b + c + d + e + ctx.pc * 1000;
                     }});
  auto r = jit_run("mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\ncall 1\nexit\n", {}, {}, {}, &helpers);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, 5015u);
}

TEST(JitSemantics, LegacyPacketLoadsAreBigEndianAndStopWhenOutOfBounds) {
  const std::vector<uint8_t> packet = {0x12, 0x34, 0x56, 0x78, 0x9a};
  EXPECT_EQ(value("ldabsh 1\nexit\n", packet), 0x3456u);
  EXPECT_EQ(value("ldabsw 0\nexit\n", packet), 0x12345678u);
  EXPECT_EQ(value("mov %r6, 2\nldindb %r6, 2\nexit\n", packet), 0x9au);
  EXPECT_EQ(value("ldabsw 2\nmov %r0, 7\nexit\n", packet), 0u);
  EXPECT_EQ(value("mov %r6, -1\nldindb %r6, 0\nmov %r0, 7\nexit\n", packet), 0u);
  EXPECT_EQ(value("ldabsb -1\nmov %r0, 7\nexit\n", packet), 0u);
}

TEST(JitSemantics, EarlyEndsFromSubprogramsEndTheWholeProgram) {
  const std::vector<uint8_t> packet = {1, 2, 3};
  // An LD_ABS out of bounds two frames deep: r0 = 0 and nothing after it runs.
  EXPECT_EQ(value("mov %r0, 5\ncall local f\nmov %r0, 9\nexit\nf:\ncall local g\nmov %r0, 8\nexit\n"
                  "g:\nldabsw 2\nmov %r0, 7\nexit\n",
                  packet),
            0u);
}

TEST(JitSemantics, HelpersSeeTheRunsOptions) {
  HelperTable helpers;
  helpers.add(Helper{2, "arg5", [](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
                       return ctx.options->args[4] + ctx.options->regions.size();
                     }});
  RunOptions options;
  options.args[4] = 40;
  auto r = jit_run("call 2\nexit\n", {}, options, {}, &helpers);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, 41u);  // jit_run adds one region
}

TEST(JitSafety, HelpersCheckPointerArgumentsAgainstTheStackAndRegions) {
  HelperTable helpers;
  helpers.add(Helper{2, "readable", [](uint64_t p, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
                       return uint64_t{ctx.access(p, 8, false) != nullptr};
                     }});
  auto readable = [&](const std::string& setup) {
    auto r = jit_run(setup + "call 2\nexit\n", std::vector<uint8_t>(16), {}, {}, &helpers);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    return r.ok() && *r == 1;
  };
  EXPECT_TRUE(readable("mov %r1, %r10\nadd %r1, -8\n"));
  EXPECT_TRUE(readable("add %r1, 8\n"));    // the last 8 bytes of the region
  EXPECT_FALSE(readable("add %r1, 9\n"));   // one past
  EXPECT_FALSE(readable("mov %r1, 4096\n"));
}

// A helper that calls back into the program: f(r2, r3), or 99 when the host refuses.
HelperTable callback_helpers() {
  HelperTable helpers = conformance_table();
  helpers.add(Helper{2, "calls_back", [](uint64_t f, uint64_t a, uint64_t b, uint64_t, uint64_t, HelperContext& ctx) {
                       auto r = ctx.host->call(f, {a, b, 0, 0, 0});
                       return r.ok() ? *r : uint64_t{99};
                     }});
  return helpers;
}

TEST(JitCallbacks, RunAsSubprogramsOfTheHelpersCaller) {
  const HelperTable helpers = callback_helpers();
  // The callback sees r1, r2 from the helper, has its own zeroed frame, keeps the caller's r6.
  const char* source =
      "mov %r6, 1000\nstxdw [%r10-8], %r6\nlddw_func %r1, f\nmov %r2, 7\nmov %r3, 5\ncall 2\n"
      "add %r0, %r6\nldxdw %r1, [%r10-8]\nadd %r0, %r1\nexit\n"
      "f:\nldxdw %r0, [%r10-8]\nmov %r6, 3\nmul %r1, %r6\nadd %r0, %r1\nadd %r0, %r2\nexit\n";
  auto expected = interpreter_run(source, {}, {}, &helpers);
  ASSERT_TRUE(expected.ok()) << expected.error().to_string();
  EXPECT_EQ(*expected, 7 * 3 + 5 + 1000 + 1000u);
  for (bool checked : {true, false}) {
    auto r = jit_run(source, {}, {}, JitOptions{.checked = checked}, &helpers);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(*r, *expected) << "checked " << checked;
  }
}

TEST(JitCallbacks, RefusedAndFailingCallbacksAsInTheInterpreter) {
  const HelperTable helpers = callback_helpers();
  auto both = [&](const char* source) {
    auto expected = interpreter_run(source, {}, {}, &helpers);
    auto r = jit_run(source, {}, {}, {}, &helpers);
    EXPECT_EQ(r.ok(), expected.ok()) << source;
    if (r.ok() && expected.ok()) {
      EXPECT_EQ(*r, *expected) << source;
    }
    if (!r.ok() && !expected.ok()) {
      EXPECT_EQ(r.error().message, expected.error().message);
      EXPECT_EQ(r.error().insn, expected.error().insn);
    }
    return r;
  };
  // Not a subprogram: the helper is told, and the program goes on.
  auto r = both("mov %r1, 12345\ncall 2\nexit\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 99u);
  // A bad access inside the callback ends the whole run, naming the callback's instruction.
  r = both("lddw_func %r1, f\ncall 2\nexit\nf:\nmov %r1, 0\nldxdw %r0, [%r1+0]\nexit\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().insn, 5u);
  // Callbacks calling back: the ninth frame is refused, at the helper call that would open it.
  r = both("lddw_func %r1, f\ncall 2\nexit\nf:\nlddw_func %r1, f\ncall 2\nexit\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("too deep"), std::string::npos) << r.error().message;
  // The one documented difference: a callback address made by arithmetic, into the middle of
  // a subprogram. The interpreter calls it; checked JIT code (compiled knowing which registers
  // are written where) refuses it, and the helper sees an error.
  const char* forged = "lddw_func %r1, f\nadd %r1, 24\ncall 2\nexit\nf:\nmov %r0, 1\nmov %r0, 2\nexit\n";
  EXPECT_EQ(*interpreter_run(forged, {}, {}, &helpers), 2u);
  EXPECT_EQ(*jit_run(forged, {}, {}, {}, &helpers), 99u);
  // A callback into the second half of an ld_imm64 is an internal error in both engines.
  {
    auto insns = isa::assemble("lddw_func %r1, f\ncall 2\nexit\nf:\nlddw %r0, 1\nexit\n");
    ASSERT_TRUE(insns.ok());
    (*insns)[0].imm += 1;  // f + 1: the tail of f's ld_imm64
    auto program = JitProgram::compile(*insns, helpers);
    auto interpreter = Interpreter::create(*insns, helpers);
    ASSERT_TRUE(program.ok() && interpreter.ok());
    for (const auto& failed : {program->run({}), interpreter->run({})}) {
      ASSERT_FALSE(failed.ok());
      EXPECT_EQ(failed.error().kind, ErrorKind::kInternal) << failed.error().to_string();
    }
  }
  // A helper in the callback asking to stop ends the run with the outer helper's r0.
  HelperTable stopping = helpers;
  stopping.add(Helper{3, "stop", [](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
                        ctx.stop = true;
                        return uint64_t{5};
                      }});
  const char* stops = "lddw_func %r1, f\ncall 2\nmov %r0, 1\nexit\nf:\ncall 3\nmov %r0, 2\nexit\n";
  auto expected = interpreter_run(stops, {}, {}, &stopping);
  auto jitted = jit_run(stops, {}, {}, {}, &stopping);
  ASSERT_TRUE(expected.ok() && jitted.ok());
  EXPECT_EQ(*jitted, *expected);
  EXPECT_EQ(*jitted, 5u);
}

TEST(JitSemantics, MayGotoFallsThroughUntilTheBudgetIsSpent) {
  EXPECT_EQ(value("mov %r0, 0\nloop:\nmay_goto done\nadd %r0, 1\nja loop\ndone:\nexit\n"), kMayGotoBudget);
}

TEST(JitSafety, MemoryOutsideTheAllowedRegionsStopsTheRun) {
  fails_at("ldxdw %r0, [%r1+0]\nexit\n", 0, "invalid memory read of 8 bytes", {1, 2, 3, 4});
  fails_at("mov %r0, 0\nstxb [%r1+4], %r0\nexit\n", 1, "invalid memory write of 1 bytes", {1, 2, 3, 4});
  fails_at("mov %r2, 0\nldxb %r0, [%r2+0]\nexit\n", 1, "(r2 +0)");
  fails_at("ldxdw %r0, [%r10+0]\nexit\n", 0, "invalid memory read");
  fails_at("ldxw %r0, [%r10-4100]\nexit\n", 0, "invalid memory read");
  fails_at("mov %r1, 2\nlock add [%r10+8], %r1\nexit\n", 1, "invalid memory write of 8 bytes");
  fails_at("mov %r2, 1\nlock add [%r10-15], %r2\nexit\n", 1, "misaligned 8-byte atomic access");
  EXPECT_EQ(value("ldxw %r0, [%r1+0]\nexit\n", {1, 0, 0, 0}), 1u);
}

TEST(JitSafety, ReadOnlyRegionsRejectWritesAndLaterRegionsAreChecked) {
  std::vector<uint8_t> ro = {1, 2, 3, 4}, rw1(8), rw2(16);
  auto insns = isa::assemble("stb [%r2+15], 9\nldxb %r0, [%r1+3]\nstb [%r1+0], 9\nexit\n");
  ASSERT_TRUE(insns.ok());
  HelperTable none;
  auto program = JitProgram::compile(*insns, none);
  ASSERT_TRUE(program.ok()) << program.error().to_string();
  RunOptions options;
  options.args[0] = reinterpret_cast<uint64_t>(ro.data());
  options.args[1] = reinterpret_cast<uint64_t>(rw2.data());
  options.initialized_args = 2;
  options.regions.push_back(MemoryRegion{ro.data(), ro.size(), false});
  options.regions.push_back(MemoryRegion{rw1.data(), rw1.size(), true});
  options.regions.push_back(MemoryRegion{rw2.data(), rw2.size(), true});
  auto r = program->run(options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().insn, 2u);
  EXPECT_NE(r.error().message.find("invalid memory write"), std::string::npos) << r.error().message;
  EXPECT_EQ(ro[0], 1);
  EXPECT_EQ(rw2[15], 9);
  // More regions than the state holds inline.
  std::vector<std::vector<uint8_t>> many(10, std::vector<uint8_t>(4));
  options.regions.clear();
  for (auto& m : many) options.regions.push_back(MemoryRegion{m.data(), m.size(), true});
  options.args[0] = reinterpret_cast<uint64_t>(many[9].data());
  options.args[1] = reinterpret_cast<uint64_t>(many[8].data()) - 15 + 3;
  auto ok = program->run(options);
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_EQ(many[8][3], 9);
  EXPECT_EQ(many[9][0], 9);
}

TEST(JitSafety, InfiniteLoopsStopAtTheBranchLimit) {
  RunOptions options;
  options.branch_limit = 1000;
  fails_at("mov %r0, 0\nloop:\nja loop\n", 1, "stopped after 1000 taken branches", {}, options);
  fails_at("mov %r0, 0\nloop:\nadd %r0, 1\njne %r0, 0, loop\nexit\n", 1, "stopped after 1000 taken branches", {},
           options);
  fails_at("mov %r0, 0\ncall local f\nexit\nf:\nja f\n", 3, "stopped after 1000 taken branches", {}, options);
}

TEST(JitSafety, UnknownHelpersAndUnresolvedMapsAreRejectedBeforeRunning) {
  auto r = jit_run("call 77\nexit\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "invalid func unknown#77");
  EXPECT_EQ(r.error().insn, 0u);
  r = jit_run("lddw_map_fd %r1, 3\nmov %r0, 0\nexit\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("lddw_map_fd refers to a map"), std::string::npos);
  fails_at("call kfunc 12\nexit\n", 0, "kernel function calls (kfunc #12) are not available");
}

// Reads of registers nobody wrote end the run as in the interpreter: same instruction, same
// register, whether the analysis decides it when compiling or run time tracks the writes.
TEST(JitSafety, UnwrittenRegistersAreReportedAsTheInterpreterReportsThem) {
  // Decided when compiling: never written on any path.
  fails_at("mov %r0, %r7\nexit\n", 0, "R7 !read_ok");
  fails_at("or %r0, %r10\nexit\n", 0, "R0 !read_ok");
  fails_at("exit\n", 0, "R0 !read_ok");
  fails_at("mov %r1, 1\ncall 5\nmov %r0, %r1\nexit\n", 2, "R1 !read_ok");  // helpers leave r1-r5 unwritten
  fails_at("mov %r6, 1\ncall local f\nexit\nf:\nmov %r0, %r6\nexit\n", 3, "R6 !read_ok");  // callee's r6
  fails_at("mov %r0, 0\nlock cmpxchg [%r10-8], %r7\nexit\n", 1, "R7 !read_ok");
  // Written on some paths only: tracked at run time.
  const char* some_paths = "jeq %r1, 0, skip\nmov %r6, 5\nskip:\nmov %r0, %r6\nexit\n";
  fails_at(some_paths, 2, "R6 !read_ok", {});           // r1 = the (empty) memory's address: not 0
  EXPECT_EQ(value("jeq %r1, 0, skip\nmov %r6, 5\nskip:\nmov %r0, %r6\nexit\n", {1}), 5u);
  // r2 is written at entry only when the caller passes it (memory runs do).
  EXPECT_EQ(value("mov %r0, %r2\nexit\n", {1, 2, 3}), 3u);
  auto insns = isa::assemble("mov %r0, %r2\nexit\n");
  ASSERT_TRUE(insns.ok());
  auto program = JitProgram::compile(*insns, conformance_table());
  auto interpreter = Interpreter::create(*insns, conformance_table());
  ASSERT_TRUE(program.ok() && interpreter.ok());
  RunOptions one_arg;  // r1 only, as the kernel passes
  one_arg.args = {1, 2};
  for (const auto& r : {program->run(one_arg), interpreter->run(one_arg)}) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "R2 !read_ok");
  }
  // Tracked through calls: the callee's r1-r5 are the caller's, its return leaves r0 written.
  EXPECT_EQ(value("jeq %r1, 0, skip\nmov %r3, 4\nskip:\nmov %r2, 1\ncall local f\nexit\nf:\nmov %r0, %r3\nexit\n",
                  {1}),
            4u);
  fails_at("jeq %r1, 0, skip\nmov %r7, 4\nskip:\ncall local f\nmov %r0, %r7\nexit\nf:\nmov %r0, 1\nexit\n", 3,
           "R7 !read_ok", {});
}

TEST(JitSafety, UncheckedCodeDoesNotTrackRegisters) {
  // Unchecked code is for verified programs, which never read unwritten registers.
  auto r = jit_run("mov %r0, %r7\nexit\n", {}, {}, JitOptions{.checked = false});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, 0u);
}

TEST(JitSafety, UncheckedModeRunsCorrectPrograms) {
  const char* source = "mov %r0, 0\nmov %r1, 0\nloop:\nstxdw [%r10-8], %r1\nldxdw %r2, [%r10-8]\nadd %r0, %r2\n"
                       "add %r1, 1\njlt %r1, 100, loop\nexit\n";
  auto r = jit_run(source, {}, {}, JitOptions{.checked = false});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, 4950u);
}

// Unchecked code computes lookups in plain ARRAY maps inline (no helper call), with the
// helper's results: the element's address, NULL for keys past max_entries.
TEST(JitSemantics, InlineArrayLookupsGiveTheHelpersResults) {
  // value_size 12: elements 16 bytes apart (not a power of two: 24 with value_size 20).
  // value_size 4: 8 bytes apart (a scaled index).
  for (uint32_t value_size : {12u, 20u, 4u}) {
    maps::MapDef def;
    def.type = BPF_MAP_TYPE_ARRAY;
    def.key_size = 4;
    def.value_size = value_size;
    def.max_entries = 5;
    def.name = "arr";
    auto map = maps::create_map(def);
    ASSERT_TRUE(map.ok()) << map.error().to_string();
    for (uint32_t k = 0; k < 5; ++k) {
      std::vector<uint8_t> v(value_size, 0);
      v[0] = static_cast<uint8_t>(10 + k);
      ASSERT_TRUE((*map)->update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&k), 4), v).ok());
    }
    // The key comes from memory; r0 = the element's first byte, or -1 for NULL: clang's null
    // check right after the call (decided by the range check), the opposite test, and r1 read
    // between the map reference and the call (so it must be loaded). The key register, which
    // the lookup reads instead of the stack slot, is r6, r1 (overwritten by the map reference,
    // which the inlined lookup does not load), or a 64-bit value whose low half is the key.
    for (const std::string& start : {
             std::string("ldxw %r6, [%r1+0]\nstxw [%r10-4], %r6\nmov %r2, %r10\nadd %r2, -4\nlddw_map_fd %r1, 1\n"),
             std::string("ldxw %r1, [%r1+0]\nstxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw_map_fd %r1, 1\n"),
             std::string("ldxdw %r3, [%r1+0]\nstxw [%r10-4], %r3\nmov %r2, %r10\nadd %r2, -4\nlddw_map_fd %r1, 1\n"),
         }) {
    for (const std::string& rest : {
             std::string("call 1\njeq %r0, 0, none\nldxb %r1, [%r0+0]\nmov %r0, %r1\nexit\nnone:\nmov %r0, -1\nexit\n"),
             std::string("call 1\njne %r0, 0, found\nmov %r0, -1\nexit\nfound:\nldxb %r1, [%r0+0]\nmov %r0, %r1\nexit\n"),
             std::string("mov %r7, %r1\ncall 1\njeq %r0, 0, none\nldxb %r1, [%r0+0]\nmov %r0, %r7\nexit\nnone:\n"
                         "mov %r0, -1\nexit\n"),
         }) {
      auto insns = isa::assemble(start + rest);
      ASSERT_TRUE(insns.ok()) << insns.error().to_string();
      const bool returns_map = rest.find("%r7") != std::string::npos;
      (*insns)[5].imm64 = reinterpret_cast<uint64_t>(map->get());
      ASSERT_TRUE((*map)->direct_array().has_value());
      JitOptions inlined{.checked = false, .relocated = true};
      inlined.map_lookups.push_back(maps::direct_map_lookup(**map));
      ASSERT_TRUE(inlined.map_lookups.back().is_inline());
      auto fast = JitProgram::compile(*insns, linux_helpers(), inlined);
      ASSERT_TRUE(fast.ok()) << fast.error().to_string();
      auto called = JitProgram::compile(*insns, linux_helpers(), JitOptions{.checked = false, .relocated = true});
      ASSERT_TRUE(called.ok()) << called.error().to_string();
      auto interpreter = Interpreter::create(*insns, linux_helpers(), true);
      ASSERT_TRUE(interpreter.ok()) << interpreter.error().to_string();
      // The inlined code calls nothing but the body (the helper call is gone).
      auto calls = [](const std::string& dump) {
        std::size_t n = 0;
        for (std::size_t at = dump.find("call "); at != std::string::npos; at = dump.find("call ", at + 1)) ++n;
        return n;
      };
      EXPECT_LT(calls(fast->dump()), calls(called->dump()));
      for (uint32_t key : {0u, 1u, 4u, 5u, 6u, 0x7fffffffu, 0x80000000u, 0xffffffffu}) {
        std::vector<uint8_t> memory(8, 0xee);  // the upper half of a 64-bit key register: not the key
        std::memcpy(memory.data(), &key, 4);
        RunOptions options = options_for(memory);
        for (const MemoryRegion& r : (*map)->value_regions()) options.regions.push_back(r);
        auto expected = interpreter->run(options);
        ASSERT_TRUE(expected.ok()) << expected.error().to_string();
        const uint64_t found = returns_map ? reinterpret_cast<uint64_t>(map->get()) : 10 + key;
        EXPECT_EQ(*expected, key >= 5 ? static_cast<uint64_t>(-1) : found) << key;
        auto a = fast->run(options);
        auto b = called->run(options);
        ASSERT_TRUE(a.ok() && b.ok());
        EXPECT_EQ(*a, *expected) << "key " << key << ", value_size " << value_size << "\n" << rest;
        EXPECT_EQ(*b, *expected) << "key " << key << ", value_size " << value_size << "\n" << rest;
      }
    }
    }
  }
}

// An ARRAY map of 4 elements 16 bytes apart (value_size 12), element k filled with 10 + k,
// and its MapLookup for inline lookups.
struct FourElements {
  maps::MapPtr map;
  MapLookup lookup;
  FourElements() {
    maps::MapDef def;
    def.type = BPF_MAP_TYPE_ARRAY;
    def.key_size = 4;
    def.value_size = 12;
    def.max_entries = 4;
    def.name = "arr";
    auto created = maps::create_map(def);
    EXPECT_TRUE(created.ok()) << created.error().to_string();
    if (!created) return;
    map = std::move(*created);
    for (uint32_t k = 0; k < 4; ++k) {
      std::vector<uint8_t> v(12, static_cast<uint8_t>(10 + k));
      EXPECT_TRUE(map->update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&k), 4), v).ok());
    }
    lookup = maps::direct_map_lookup(*map);
    EXPECT_TRUE(lookup.is_inline());
  }
};

// Runs jitted and the interpreter on memory (r1), with map's values accessible: same result.
void expect_as_interpreter(const JitProgram& jitted, const Interpreter& interpreter, const maps::Map& map,
                           std::vector<uint8_t> memory) {
  RunOptions options = options_for(memory);
  for (const MemoryRegion& r : map.value_regions()) options.regions.push_back(r);
  auto expected = interpreter.run(options);
  ASSERT_TRUE(expected.ok()) << expected.error().to_string();
  auto got = jitted.run(options);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(*got, *expected);
}

// The 4 bytes of a u32 input.
std::vector<uint8_t> bytes_of(uint32_t input) {
  std::vector<uint8_t> memory(4);
  std::memcpy(memory.data(), &input, 4);
  return memory;
}

// A lookup whose key the verifier proved in range (InsnFacts::key_in_range) is an address
// computation without the range check or the NULL test after it; with a known key, a
// constant. Same results as the helper.
TEST(JitSemantics, ArrayLookupsWithKeysInRange) {
  const FourElements map;
  const MapLookup& inline_array = map.lookup;
  struct Case {
    const char* key;  // leaves the key at fp-8
    bool known;
    uint32_t value;
  };
  for (const Case c : {Case{"ldxw %r6, [%r1+0]\nand %r6, 3\nstxw [%r10-8], %r6\n", false, 0},
                       Case{"stw [%r10-8], 2\n", true, 2}}) {
    SCOPED_TRACE(c.key);
    auto insns = isa::assemble(std::string(c.key) +
                               "mov %r2, %r10\nadd %r2, -8\nlddw_map_fd %r1, 1\ncall 1\njeq %r0, 0, none\n"
                               "ldxb %r0, [%r0+0]\nexit\nnone:\nmov %r0, -1\nexit\n");
    ASSERT_TRUE(insns.ok()) << insns.error().to_string();
    std::vector<verifier::InsnFacts> facts(insns->size());
    std::size_t call = 0;
    for (std::size_t pc = 0; pc < insns->size(); ++pc) {
      if ((*insns)[pc].op == isa::Op::LdMapFd) (*insns)[pc + 1].imm64 = inline_array.ref;
      if ((*insns)[pc].op == isa::Op::CallHelper) call = pc;
      facts[pc].reached = (*insns)[pc].op != isa::Op::LdImm64Tail;
    }
    // Without known constants and bounds, which may drop the range check too (below).
    JitOptions plain{.checked = false, .propagate_constants = false, .relocated = true, .map_lookups = {inline_array}};
    JitOptions proved = plain;
    facts[call].key_in_range = true;
    facts[call].key_known = c.known;
    facts[call].key = c.value;
    proved.facts = facts;
    auto without = JitProgram::compile(*insns, linux_helpers(), plain);
    auto with = JitProgram::compile(*insns, linux_helpers(), proved);
    auto interpreter = Interpreter::create(*insns, linux_helpers(), true);
    ASSERT_TRUE(without.ok() && with.ok() && interpreter.ok());
    EXPECT_LT(with->code_size(), without->code_size());
    for (uint32_t input : {0u, 1u, 2u, 3u, 7u, 0xfffffffeu}) {
      std::vector<uint8_t> memory(4);
      std::memcpy(memory.data(), &input, 4);
      RunOptions options = options_for(memory);
      for (const MemoryRegion& r : map.map->value_regions()) options.regions.push_back(r);
      auto expected = interpreter->run(options);
      ASSERT_TRUE(expected.ok()) << expected.error().to_string();
      EXPECT_EQ(*expected, 10 + (c.known ? c.value : input & 3));
      auto got = with->run(options);
      ASSERT_TRUE(got.ok()) << got.error().to_string();
      EXPECT_EQ(*got, *expected) << input;
    }
  }
}

// The key register is found when clang's key store is the program's first instruction too.
TEST(JitSemantics, ArrayLookupKeyStoredFirst) {
  const FourElements map;
  auto insns = isa::assemble("stxw [%r10-4], %r1\nmov %r2, %r10\nadd %r2, -4\nlddw_map_fd %r1, 1\ncall 1\n"
                             "jeq %r0, 0, none\nldxb %r0, [%r0+0]\nexit\nnone:\nmov %r0, -1\nexit\n");
  ASSERT_TRUE(insns.ok()) << insns.error().to_string();
  (*insns)[4].imm64 = map.lookup.ref;
  auto jitted = JitProgram::compile(*insns, linux_helpers(),
                                    JitOptions{.checked = false, .relocated = true, .map_lookups = {map.lookup}});
  auto interpreter = Interpreter::create(*insns, linux_helpers(), true);
  ASSERT_TRUE(jitted.ok() && interpreter.ok());
  EXPECT_NE(jitted->dump().find("mov eax, edi"), std::string::npos) << jitted->dump();  // r1's low half
  // r1 is the memory's address: its low half is the key (out of range, or not).
  std::vector<uint8_t> memory(4, 0);
  expect_as_interpreter(*jitted, *interpreter, *map.map, memory);
}

// Without the verifier's facts, the JIT's own bounds within a basic block (propagate_constants)
// drop an inline lookup's range check when the key register is below max_entries: after `&=`,
// `>>=`, a narrow load. Anything that may take the key past them keeps the check: an add (of
// a register or a known constant), a bigger mask, a jump into the block. The interpreter
// gives the same results for keys in and out of range.
TEST(JitSemantics, ArrayLookupKeysBoundedInTheirBlock) {
  const FourElements map;
  const MapLookup& inline_array = map.lookup;
  struct Case {
    const char* key;  // computes the key in %r6 (or reg) from %r6 (the input) and %r7 (zero)
    bool checked;     // whether the range check must stay
    const char* reg = "%r6";
  };
  for (const Case c : {Case{"and %r6, 3\n", false}, Case{"and32 %r6, 3\n", false},
                       Case{"and %r6, 7\n", true}, Case{"and %r6, 3\nmov %r7, 1\nadd %r6, %r7\n", true},
                       Case{"and %r6, 3\nadd %r6, 1\n", true}, Case{"and %r6, 3\nmov %r7, %r6\nmov %r6, %r7\n", false},
                       Case{"and %r6, 255\nrsh %r6, 6\n", false}, Case{"and %r6, 255\nrsh %r6, 5\n", true},
                       Case{"and %r6, 3\nja next\nnext:\n", true}, Case{"lsh %r6, 62\nrsh %r6, 62\n", false},
                       Case{"mov %r6, 2\n", false},
                       // clang's way: the key in r1, which the map's ld_imm64 (left out) then names.
                       Case{"mov %r1, %r6\nand %r1, 3\n", false, "%r1"}, Case{"mov %r1, %r6\n", true, "%r1"}}) {
    SCOPED_TRACE(c.key);
    const std::string source = std::string("ldxw %r6, [%r1+0]\nmov %r7, 0\n") + c.key +
                               "stxw [%r10-4], " + c.reg + "\nmov %r2, %r10\nadd %r2, -4\nlddw_map_fd %r1, 1\ncall 1\n"
                               "jeq %r0, 0, none\nldxb %r0, [%r0+0]\nexit\nnone:\nmov %r0, -1\nexit\n";
    auto insns = isa::assemble(source);
    ASSERT_TRUE(insns.ok()) << insns.error().to_string();
    std::size_t call = 0;
    for (std::size_t pc = 0; pc < insns->size(); ++pc) {
      if ((*insns)[pc].op == isa::Op::LdMapFd) (*insns)[pc + 1].imm64 = inline_array.ref;
      if ((*insns)[pc].op == isa::Op::CallHelper) call = pc;
    }
    auto jitted = JitProgram::compile(*insns, linux_helpers(),
                                      JitOptions{.checked = false, .relocated = true, .map_lookups = {inline_array}});
    auto interpreter = Interpreter::create(*insns, linux_helpers(), true);
    ASSERT_TRUE(jitted.ok() && interpreter.ok());
    // The call's code: a compare (the range check) or none.
    const std::string dump = jitted->dump();
    const std::size_t at = dump.find(fmt::format(";{:>5}: (85)", call));
    ASSERT_NE(at, std::string::npos) << dump;
    const std::string code = dump.substr(at, dump.find("\n;", at + 1) - at);
    EXPECT_EQ(code.find("cmp") != std::string::npos, c.checked) << code;
    // The key's address (r2 = r10; r2 += -4) is not computed: the key comes from its register.
    const std::size_t address = dump.find(fmt::format(";{:>5}: (bf) r2 = r10\n;", call - 4));
    EXPECT_NE(address, std::string::npos) << dump;
    for (uint32_t input : {0u, 1u, 2u, 3u, 4u, 7u, 0x43u, 0xfffffffeu}) {
      SCOPED_TRACE(input);
      expect_as_interpreter(*jitted, *interpreter, *map.map, bytes_of(input));
    }
  }
}

// clang stores a lookup's key on the stack; an inline lookup takes it from the register, so
// the store is left out where nothing can read that stack slot. It stays where something
// may: a load from the slot, a copy of r10 (a pointer to the stack that escapes), a lookup
// done by a call.
TEST(JitSemantics, KeyStoresNothingReadsAreLeftOut) {
  const FourElements map;
  const std::string lookup = "stxw [%r10-4], %r6\nmov %r2, %r10\nadd %r2, -4\nlddw_map_fd %r1, 1\ncall 1\n"
                             "jeq %r0, 0, none\nldxb %r0, [%r0+0]\n";
  struct Case {
    std::string source;
    bool stored;
  };
  for (const Case& c : {
           Case{"ldxw %r6, [%r1+0]\n" + lookup + "exit\nnone:\nmov %r0, -1\nexit\n", false},
           // Other bytes of the stack are read, not the key's.
           Case{"ldxw %r6, [%r1+0]\nstdw [%r10-16], 7\n" + lookup + "ldxdw %r1, [%r10-16]\nadd %r0, %r1\nexit\n"
                "none:\nmov %r0, -1\nexit\n", false},
           Case{"ldxw %r6, [%r1+0]\n" + lookup + "ldxw %r1, [%r10-4]\nadd %r0, %r1\nexit\nnone:\nmov %r0, -1\nexit\n",
                true},
           Case{"ldxw %r6, [%r1+0]\n" + lookup + "ldxb %r1, [%r10-2]\nadd %r0, %r1\nexit\nnone:\nmov %r0, -1\nexit\n",
                true},
           Case{"ldxw %r6, [%r1+0]\n" + lookup + "mov %r3, %r10\nldxw %r1, [%r3-4]\nadd %r0, %r1\nexit\n"
                "none:\nmov %r0, -1\nexit\n", true},
       }) {
    SCOPED_TRACE(c.source);
    auto insns = isa::assemble(c.source);
    ASSERT_TRUE(insns.ok()) << insns.error().to_string();
    for (std::size_t pc = 0; pc < insns->size(); ++pc) {
      if ((*insns)[pc].op == isa::Op::LdMapFd) (*insns)[pc + 1].imm64 = map.lookup.ref;
    }
    for (const bool inline_lookup : {true, false}) {
      JitOptions options{.checked = false, .relocated = true};
      if (inline_lookup) options.map_lookups = {map.lookup};
      auto jitted = JitProgram::compile(*insns, linux_helpers(), options);
      auto interpreter = Interpreter::create(*insns, linux_helpers(), true);
      ASSERT_TRUE(jitted.ok() && interpreter.ok());
      // The store's code: what follows its line up to the next instruction's.
      const std::string dump = jitted->dump();
      const std::size_t at = dump.find("*(u32 *)(r10 -4) = r6\n");
      ASSERT_NE(at, std::string::npos) << dump;
      const bool stored = dump.compare(dump.find('\n', at) + 1, 1, ";") != 0;
      EXPECT_EQ(stored, c.stored || !inline_lookup) << dump;
      for (uint32_t input : {0u, 3u, 4u, 0x10203u}) {
        SCOPED_TRACE(input);
        expect_as_interpreter(*jitted, *interpreter, *map.map, bytes_of(input));
      }
    }
  }
}

// A HASH map of 8 entries with keys of key_size bytes, BPF_F_ZERO_SEED (its hash, hence its
// buckets, known), holding value key * 3 + 1 (u64, then padding) for each of `keys`.
maps::MapPtr hash_of(uint32_t key_size, uint32_t value_size, const std::vector<uint64_t>& keys) {
  maps::MapDef def;
  def.type = BPF_MAP_TYPE_HASH;
  def.key_size = key_size;
  def.value_size = value_size;
  def.max_entries = 8;
  def.map_flags = BPF_F_ZERO_SEED;
  def.name = "h";
  auto map = maps::create_map(def);
  EXPECT_TRUE(map.ok()) << map.error().to_string();
  if (!map) return nullptr;
  for (const uint64_t k : keys) {
    std::vector<uint8_t> value(value_size, 0xee);
    const uint64_t v = k * 3 + 1;
    std::memcpy(value.data(), &v, 8);
    EXPECT_TRUE((*map)->update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&k), key_size), value).ok());
  }
  return *map;
}

// r0 = the u64 at the start of the value of the key read from memory, -1 when there is none.
std::string hash_lookup_program(uint32_t key_size) {
  return fmt::format("ldx{0} %r6, [%r1+0]\nstx{0} [%r10-8], %r6\nmov %r2, %r10\nadd %r2, -8\nlddw_map_fd %r1, 1\n"
                     "call 1\njeq %r0, 0, none\nldxdw %r0, [%r0+0]\nexit\nnone:\nmov %r0, -1\nexit\n",
                     key_size == 4 ? "w" : "dw");
}

// Unchecked code looks a HASH map's key up inline when it is the first of its bucket and calls
// the map's lookup otherwise: keys first and second in a shared bucket, keys missing from an
// empty bucket and from a full one, 4- and 8-byte keys, values 8 and 16 bytes apart. The
// interpreter's results, and the inline code is there (the map's hash multiplier).
TEST(JitSemantics, InlineHashLookupsGiveTheHelpersResults) {
  for (const uint32_t key_size : {4u, 8u}) {
    for (const uint32_t value_size : {8u, 12u}) {
      SCOPED_TRACE(fmt::format("key_size {}, value_size {}", key_size, value_size));
      const auto probe = hash_of(key_size, value_size, {});
      ASSERT_NE(probe, nullptr);
      const MapLookup layout = maps::direct_map_lookup(*probe);
      ASSERT_TRUE(layout.is_hash());
      const auto bucket = [&](uint64_t k) { return layout.shift < 64 ? (k * layout.multiplier) >> layout.shift : 0; };
      const auto key_of = [&](uint64_t n) { return key_size == 8 ? n | (n << 40) : n; };
      // Two keys of one bucket, a key of a third one, and a key of an empty bucket.
      std::vector<uint64_t> shared;
      for (uint64_t n = 1; shared.size() < 3; ++n) {
        if (shared.empty() || bucket(key_of(n)) == bucket(shared[0])) shared.push_back(key_of(n));
      }
      uint64_t alone = 0, empty = 0;
      for (uint64_t n = 100; alone == 0 || empty == 0; ++n) {
        const uint64_t k = key_of(n);
        if (bucket(k) == bucket(shared[0])) continue;
        if (alone == 0) alone = k;
        else if (bucket(k) != bucket(alone)) empty = k;
      }
      // shared[2] is missing from a bucket that has keys; shared[0] was inserted first, so it
      // is second in its chain.
      const auto map = hash_of(key_size, value_size, {shared[0], shared[1], alone});
      ASSERT_NE(map, nullptr);
      auto insns = isa::assemble(hash_lookup_program(key_size));
      ASSERT_TRUE(insns.ok()) << insns.error().to_string();
      (*insns)[5].imm64 = reinterpret_cast<uint64_t>(map.get());  // the second slot: the resolved reference
      auto jitted = JitProgram::compile(*insns, linux_helpers(),
                                        JitOptions{.checked = false, .relocated = true,
                                                   .map_lookups = {maps::direct_map_lookup(*map)}});
      ASSERT_TRUE(jitted.ok()) << jitted.error().to_string();
      EXPECT_NE(jitted->dump().find(fmt::format("{:#x}", layout.multiplier)), std::string::npos) << jitted->dump();
      auto interpreter = Interpreter::create(*insns, linux_helpers(), true);
      ASSERT_TRUE(interpreter.ok());
      for (const uint64_t k : {shared[0], shared[1], shared[2], alone, empty}) {
        std::vector<uint8_t> memory(8);
        std::memcpy(memory.data(), &k, 8);
        RunOptions options = options_for(memory);
        for (const MemoryRegion& r : map->value_regions()) options.regions.push_back(r);
        auto expected = interpreter->run(options);
        ASSERT_TRUE(expected.ok()) << expected.error().to_string();
        const bool present = k == shared[0] || k == shared[1] || k == alone;
        EXPECT_EQ(*expected, present ? k * 3 + 1 : static_cast<uint64_t>(-1)) << k;
        auto got = jitted->run(options);
        ASSERT_TRUE(got.ok()) << got.error().to_string();
        EXPECT_EQ(*got, *expected) << k;
      }
    }
  }
}

// Inline hash lookups while another thread deletes and inserts a key that shares its bucket
// with another: that key is found with its value or not at all, the other keys always (a
// lookup that trusted a chain being changed would miss them). Only the churned key's elements
// are freed and reused, so every value read stays its key's. A smoke test: a race it does not
// hit goes unseen.
TEST(JitSemantics, InlineHashLookupsDuringUpdates) {
  const auto probe = hash_of(4, 8, {});
  ASSERT_NE(probe, nullptr);
  const MapLookup layout = maps::direct_map_lookup(*probe);
  const auto bucket = [&](uint64_t k) { return layout.shift < 64 ? (k * layout.multiplier) >> layout.shift : 0; };
  std::vector<uint64_t> keys = {0};
  uint64_t churned = 0;
  for (uint64_t k = 1; churned == 0; ++k) {
    if (bucket(k) == bucket(0)) churned = k;
  }
  for (uint64_t k = 1; keys.size() < 6; ++k) {
    if (k != churned) keys.push_back(k);
  }
  keys.push_back(churned);
  const auto map = hash_of(4, 8, keys);
  ASSERT_NE(map, nullptr);
  auto insns = isa::assemble(hash_lookup_program(4));
  ASSERT_TRUE(insns.ok());
  (*insns)[5].imm64 = reinterpret_cast<uint64_t>(map.get());  // the second slot: the resolved reference
  auto jitted = JitProgram::compile(*insns, linux_helpers(),
                                    JitOptions{.checked = false, .relocated = true,
                                               .map_lookups = {maps::direct_map_lookup(*map)}});
  ASSERT_TRUE(jitted.ok());
  std::atomic<bool> done{false};
  std::thread writer([&] {
    const uint64_t v = churned * 3 + 1;
    const auto key = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&churned), 4);
    while (!done.load(std::memory_order_relaxed)) {
      (void)map->erase(key);
      (void)map->update(key, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), 8));
    }
  });
  uint64_t churned_found = 0, wrong = 0;
  for (int run = 0; run < 200000; ++run) {
    const uint64_t k = keys[static_cast<std::size_t>(run) % keys.size()];
    std::vector<uint8_t> memory(8, 0);
    std::memcpy(memory.data(), &k, 4);
    auto got = jitted->run(options_for(memory));
    const bool right = got.ok() && (*got == k * 3 + 1 || (k == churned && *got == static_cast<uint64_t>(-1)));
    if (!right) ++wrong;
    if (right && k == churned && *got != static_cast<uint64_t>(-1)) ++churned_found;
  }
  done = true;
  writer.join();
  EXPECT_EQ(wrong, 0u);
  EXPECT_GT(churned_found, 0u);
}

// Unchecked code calls other maps' lookups directly (MapLookup::call, with the map and the key
// where the program put them in r1 and r2), in the JIT and in the unchecked interpreter, with
// the helper's results. The call given here counts its calls, so the test sees it is made.
std::atomic<int> direct_calls{0};
DirectLookup counted_lookup = nullptr;
void* counting_direct_lookup(void* map, const void* key) {
  ++direct_calls;
  return counted_lookup(map, key);
}

TEST(JitSemantics, DirectMapLookupsGiveTheHelpersResults) {
  struct Case {
    uint32_t type, key_size;
  };
  for (const Case c : {Case{BPF_MAP_TYPE_HASH, 4}, Case{BPF_MAP_TYPE_HASH, 8}, Case{BPF_MAP_TYPE_HASH, 12},
                       Case{BPF_MAP_TYPE_LRU_HASH, 4}, Case{BPF_MAP_TYPE_PERCPU_ARRAY, 4}}) {
    maps::MapDef def;
    def.type = c.type;
    def.key_size = c.key_size;
    def.value_size = 8;
    def.max_entries = 8;
    def.name = "m";
    auto map = maps::create_map(def);
    ASSERT_TRUE(map.ok()) << map.error().to_string();
    for (uint32_t k = 0; k < 8; k += 2) {  // even keys: present
      std::vector<uint8_t> key(c.key_size, 0), value(map->get()->user_value_size(), static_cast<uint8_t>(10 + k));
      std::memcpy(key.data(), &k, 4);
      ASSERT_TRUE((*map)->update(key, value).ok());
    }
    // The key comes from memory (zero-extended to key_size); r0 = the value's first byte, or
    // -1 for NULL. r1 is read between the map reference and the call.
    auto insns = isa::assemble(
        "ldxw %r6, [%r1+0]\nmov %r7, 0\nstxdw [%r10-16], %r7\nstxdw [%r10-8], %r7\nstxw [%r10-16], %r6\n"
        "mov %r2, %r10\nadd %r2, -16\nlddw_map_fd %r1, 1\nmov %r8, %r1\ncall 1\njeq %r0, 0, none\n"
        "ldxb %r0, [%r0+0]\nexit\nnone:\nmov %r0, -1\nexit\n");
    ASSERT_TRUE(insns.ok()) << insns.error().to_string();
    (*insns)[8].imm64 = reinterpret_cast<uint64_t>(map->get());
    counted_lookup = (*map)->direct_lookup();
    const MapLookup direct{.ref = reinterpret_cast<uint64_t>(map->get()), .call = counting_direct_lookup};
    JitOptions jo{.checked = false, .relocated = true};
    jo.map_lookups.push_back(direct);
    auto jit = JitProgram::compile(*insns, linux_helpers(), jo);
    ASSERT_TRUE(jit.ok()) << jit.error().to_string();
    auto fast = Interpreter::create(*insns, linux_helpers(),
                                    InterpreterOptions{.relocated = true, .checked = false, .map_lookups = {direct}});
    ASSERT_TRUE(fast.ok()) << fast.error().to_string();
    auto helper = Interpreter::create(*insns, linux_helpers(), true);
    ASSERT_TRUE(helper.ok()) << helper.error().to_string();
    direct_calls = 0;
    int runs = 0;
    for (uint32_t key : {0u, 1u, 2u, 6u, 7u, 8u, 0xffffffffu}) {
      std::vector<uint8_t> memory(4);
      std::memcpy(memory.data(), &key, 4);
      RunOptions options = options_for(memory);
      for (const MemoryRegion& r : (*map)->value_regions()) options.regions.push_back(r);
      auto expected = helper->run(options);
      ASSERT_TRUE(expected.ok()) << expected.error().to_string();
      // Every key below max_entries is in an array, zeroed until written.
      const bool array = c.type == BPF_MAP_TYPE_PERCPU_ARRAY;
      const uint64_t want = key % 2 == 0 && key < 8 ? 10 + key : array && key < 8 ? 0 : static_cast<uint64_t>(-1);
      EXPECT_EQ(*expected, want) << key;
      auto a = jit->run(options);
      auto b = fast->run(options);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(*a, *expected) << maps::map_type_name(c.type) << " key " << key;
      EXPECT_EQ(*b, *expected) << maps::map_type_name(c.type) << " key " << key;
      runs += 2;
    }
    EXPECT_EQ(direct_calls.load(), runs) << maps::map_type_name(c.type);
  }
}

// Unchecked code calls context-free helpers (clocks, ids) directly, without saving the run's
// state or testing the stop flag after them, with the same results as the full call.
TEST(JitSemantics, ContextFreeHelpersAreCalledDirectly) {
  // r0 = cpu id * 2^32 + uid, from get_smp_processor_id and get_current_uid_gid (both
  // context-free), with r6-r9 kept across the calls.
  auto insns = isa::assemble(
      "mov %r6, 7\nmov %r9, -1\ncall 8\nmov %r7, %r0\ncall 15\nlsh %r7, 32\nand %r0, 0xffff\nadd %r0, %r7\n"
      "add %r0, %r6\nadd %r0, %r9\nexit\n");
  ASSERT_TRUE(insns.ok()) << insns.error().to_string();
  HelperTable full = linux_helpers();  // the same helpers, not marked context-free
  for (int32_t id : {8, 15}) {
    Helper h = *full.find(id);
    ASSERT_TRUE(h.context_free) << h.name;
    h.context_free = false;
    full.add(h);
  }
  auto direct = JitProgram::compile(*insns, linux_helpers(), JitOptions{.checked = false});
  auto called = JitProgram::compile(*insns, full, JitOptions{.checked = false});
  ASSERT_TRUE(direct.ok() && called.ok());
  auto lines = [](const std::string& dump) { return std::count(dump.begin(), dump.end(), '\n'); };
  EXPECT_LT(lines(direct->dump()), lines(called->dump()));
  cpu::ScopedCpu on(1 % cpu::possible());
  const uint64_t want = (uint64_t{1 % cpu::possible()} << 32) + (getuid() & 0xffff) + 7 - 1;
  for (const JitProgram* p : {&*direct, &*called}) {
    auto r = p->run(RunOptions{});
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(*r, want);
  }
}

// The mapping that holds `address`, as /proc/self/maps lists it ("r-xp").
std::string permissions_of(const void* address) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto a = reinterpret_cast<uintptr_t>(address);
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::string perms;
    in >> std::hex >> lo >> dash >> hi >> perms;
    if (a >= lo && a < hi) return perms;
  }
  return "";
}

TEST(JitMemory, CodeIsExecutableAndNotWritable) {
  auto insns = isa::assemble("mov %r0, 1\nexit\n");
  ASSERT_TRUE(insns.ok());
  auto program = JitProgram::compile(*insns, conformance_table());
  ASSERT_TRUE(program.ok());
  ASSERT_NE(program->code(), nullptr);
  ASSERT_GT(program->code_size(), 0u);
  const std::string perms = permissions_of(program->code());
  EXPECT_EQ(perms.substr(0, 3), "r-x") << perms;
  const void* code = program->code();
  {
    JitProgram moved = std::move(*program);
    EXPECT_EQ(moved.code(), code);
    EXPECT_EQ(*moved.run({}), 1u);
  }
  // Its pages are unmapped, or kept for the next program, writable and not executable.
  const std::string after = permissions_of(code);
  EXPECT_TRUE(after.empty() || after.substr(0, 3) == "rw-") << after << ": the code stays executable after its program is gone";
}

// Pages are reused from program to program: the next one runs its own code, and nothing of
// the earlier one is left executable past its end (int3 there).
TEST(JitMemory, ReusedPagesHoldOnlyTheNewCode) {
  std::string big = "mov %r0, 1\n";
  for (int k = 0; k < 300; ++k) big += "add %r0, 3\nmul %r0, 5\n";
  big += "exit\n";
  for (int round = 0; round < 3; ++round) {
    {
      auto insns = isa::assemble(big);
      ASSERT_TRUE(insns.ok());
      auto program = JitProgram::compile(*insns, conformance_table(), JitOptions{.checked = round % 2 == 0});
      ASSERT_TRUE(program.ok());
      ASSERT_TRUE(program->run({}).ok());
    }
    auto insns = isa::assemble("mov %r0, 42\nexit\n");
    ASSERT_TRUE(insns.ok());
    auto program = JitProgram::compile(*insns, conformance_table(), JitOptions{.checked = false});
    ASSERT_TRUE(program.ok());
    EXPECT_EQ(permissions_of(program->code()).substr(0, 3), "r-x");
    EXPECT_EQ(*program->run({}), 42u);
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t end = (program->code_size() + page - 1) / page * page;
    for (std::size_t k = program->code_size(); k < end; ++k) {
      ASSERT_EQ(program->code()[k], 0xcc) << "byte " << k << " past the code";
    }
  }
}

TEST(JitConcurrency, ManyThreadsRunOneProgram) {
  // Each thread sums its own buffer through the stack, a subprogram and a helper.
  const char* source =
      "mov %r6, %r1\nmov %r7, %r2\nmov %r8, 0\nmov %r9, 0\n"
      "loop:\njge %r9, %r7, done\nmov %r1, %r6\nadd %r1, %r9\nldxb %r1, [%r1+0]\n"
      "stxdw [%r10-8], %r1\ncall local twice\nadd %r8, %r0\nadd %r9, 1\nja loop\n"
      "done:\nmov %r1, %r8\ncall 5\nexit\n"
      "twice:\nmov %r0, %r1\nlsh %r0, 1\nstxdw [%r10-8], %r0\nldxdw %r0, [%r10-8]\nexit\n";
  auto insns = isa::assemble(source);
  ASSERT_TRUE(insns.ok()) << insns.error().to_string();
  auto program = JitProgram::compile(*insns, conformance_table());
  ASSERT_TRUE(program.ok()) << program.error().to_string();
  constexpr int kThreads = 8, kRuns = 300;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<uint8_t> buffer(64 + t);
      uint64_t expected = 0;
      for (std::size_t k = 0; k < buffer.size(); ++k) {
        buffer[k] = static_cast<uint8_t>(k * (t + 1));
        expected += 2 * buffer[k];
      }
      RunOptions options;
      options.args = {reinterpret_cast<uint64_t>(buffer.data()), buffer.size()};
      options.initialized_args = 2;
      options.regions.push_back(MemoryRegion{buffer.data(), buffer.size(), false});
      for (int run = 0; run < kRuns; ++run) {
        auto r = program->run(options);
        if (!r.ok() || *r != expected) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(JitDump, ShowsEachBpfInstructionAndItsCode) {
  auto insns = isa::assemble("mov %r0, 42\nldxw %r1, [%r1+0]\ncall 5\nexit\n");
  ASSERT_TRUE(insns.ok());
  auto program = JitProgram::compile(*insns, conformance_table());
  ASSERT_TRUE(program.ok());
  const std::string dump = program->dump();
  EXPECT_NE(dump.find("; prologue\n"), std::string::npos) << dump;
  EXPECT_NE(dump.find(";    0: (b7) r0 = 42\n"), std::string::npos) << dump;
  EXPECT_NE(dump.find(";    1: (61) r1 = *(u32 *)(r1 +0)\n"), std::string::npos) << dump;
  EXPECT_NE(dump.find(";    2: (85) call"), std::string::npos) << dump;
  EXPECT_NE(dump.find(";    3: (95) exit\n"), std::string::npos) << dump;
  EXPECT_NE(dump.find("mov eax, 0x2a"), std::string::npos) << dump;
  EXPECT_NE(dump.find("push rbp"), std::string::npos) << dump;
  // r6-r9 are unused, but a helper may tail-call into a program that uses them: the prologue
  // saves all of rbx, r13-r15.
  const std::string prologue = dump.substr(0, dump.find(";    0:"));
  EXPECT_NE(prologue.find("push rbx"), std::string::npos) << prologue;
  EXPECT_NE(prologue.find("push r15"), std::string::npos) << prologue;
}

TEST(JitDump, PrologueSavesTheCalleeSavedRegistersTheProgramUses) {
  auto insns = isa::assemble("mov %r6, 1\nmov %r9, 2\nmov %r0, %r6\nexit\n");
  ASSERT_TRUE(insns.ok());
  auto program = JitProgram::compile(*insns, conformance_table());
  ASSERT_TRUE(program.ok());
  const std::string dump = program->dump();
  const std::string prologue = dump.substr(0, dump.find(";    0:"));
  EXPECT_NE(prologue.find("push rbx"), std::string::npos) << prologue;
  EXPECT_NE(prologue.find("push r15"), std::string::npos) << prologue;
  EXPECT_EQ(prologue.find("push r13"), std::string::npos) << prologue;
  EXPECT_EQ(*program->run({}), 1u);
}

}  // namespace
}  // namespace bpfvm::jit
