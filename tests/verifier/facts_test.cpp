// The verifier's facts for the JIT (verifier/facts.hpp) on small hand-written programs: what
// must be reported, what must not (one path where the fact fails is enough), across pruned
// paths and loops; and the JIT compiled with them gives the interpreter's results.
#include <gtest/gtest.h>

#include <linux/bpf.h>

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "exec/interpreter.hpp"
#include "exec/jit/x86_64/jit.hpp"
#include "helpers/linux_helpers.hpp"
#include "isa/assembler.hpp"
#include "verifier/case_file.hpp"
#include "verifier/explain.hpp"
#include "verifier/structure.hpp"
#include "verifier/verifier.hpp"

namespace bpfvm::verifier {
namespace {

using isa::Op;

ProgramCase program_of(const std::string& asm_text, const std::string& extra = "", const std::string& type = "xdp") {
  auto parsed = parse_case(R"({"prog_type": ")" + type + R"(", "asm": )" + nlohmann::json(asm_text).dump() + extra + "}");
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  return parsed.ok() ? *parsed : ProgramCase{};
}

Verdict verified(const ProgramCase& program, uint32_t log_level = 0) {
  static const HelperTable helpers = linux_helpers();
  Options options = program.options;
  options.helpers = &helpers;
  options.log_level = log_level;
  Verdict v = verify(program.insns, options);
  EXPECT_TRUE(v.accepted) << v.message << "\n" << v.log;
  EXPECT_EQ(v.facts.size(), v.accepted ? program.insns.size() : 0U);
  return v;
}

Verdict verified(const std::string& asm_text) { return verified(program_of(asm_text)); }

// xdp_md: data, data_end, data_meta, ingress_ifindex (+12), rx_queue_index (+16): the last
// two are unknown 32-bit values.
TEST(VerifierFacts, DivisorNonZeroOnEveryPath) {
  const Verdict v = verified(
      "ldxw %r2, [%r1+12]\n"
      "or %r2, 1\n"          // r2 is odd
      "mov %r3, %r2\n"
      "lsh %r3, 32\n"        // r3: low half zero, value not zero
      "mov %r0, 100\n"
      "div %r0, %r2\n"       // 5
      "mod32 %r0, %r2\n"     // 6
      "div %r0, %r3\n"       // 7: 64-bit, non-zero
      "div32 %r0, %r3\n"     // 8: its low 32 bits are zero
      "exit");
  EXPECT_TRUE(v.facts[5].divisor_nonzero);
  EXPECT_TRUE(v.facts[6].divisor_nonzero);
  EXPECT_TRUE(v.facts[7].divisor_nonzero);
  EXPECT_FALSE(v.facts[8].divisor_nonzero);
  EXPECT_FALSE(v.facts[5].divisor_not_minus_one);  // unsigned: not reported
}

TEST(VerifierFacts, DivisorZeroOnOnePathIsNotReported) {
  const Verdict v = verified(
      "ldxw %r2, [%r1+12]\n"
      "mov %r3, 5\n"
      "jgt %r2, 10, +1\n"
      "mov %r3, 0\n"         // only when r2 <= 10
      "mov %r0, 100\n"
      "div %r0, %r3\n"       // 5
      "exit");
  EXPECT_TRUE(v.facts[5].reached);
  EXPECT_FALSE(v.facts[5].divisor_nonzero);
  EXPECT_EQ(v.facts[2].branch, BranchFact::kUnknown);
}

TEST(VerifierFacts, SignedDivisorNeverMinusOne) {
  const Verdict v = verified(
      "ldxw %r2, [%r1+12]\n"
      "and %r2, 255\n"
      "add %r2, 1\n"         // [1, 256]
      "mov %r3, %r2\n"
      "neg %r3\n"            // [-256, -1]
      "mov %r0, 100\n"
      "sdiv %r0, %r2\n"      // 6
      "smod %r0, %r3\n"      // 7: may be -1
      "exit");
  EXPECT_TRUE(v.facts[6].divisor_nonzero);
  EXPECT_TRUE(v.facts[6].divisor_not_minus_one);
  EXPECT_TRUE(v.facts[7].divisor_nonzero);
  EXPECT_FALSE(v.facts[7].divisor_not_minus_one);
}

TEST(VerifierFacts, DivisorKnownConstant) {
  const Verdict v = verified(
      "ldxw %r0, [%r1+12]\n"
      "mov %r2, 8\n"
      "lddw %r3, 0x100000000\n"
      "mov %r4, -2\n"
      "div %r0, %r2\n"      // 5: 8
      "mod32 %r0, %r3\n"    // 6: low half 0
      "div %r0, %r3\n"      // 7: no imm32 gives 2^32
      "sdiv %r0, %r4\n"     // 8: -2
      "exit");
  EXPECT_TRUE(v.facts[5].divisor_known);
  EXPECT_EQ(v.facts[5].divisor, 8);
  EXPECT_TRUE(v.facts[6].divisor_known);
  EXPECT_EQ(v.facts[6].divisor, 0);
  EXPECT_FALSE(v.facts[6].divisor_nonzero);
  EXPECT_FALSE(v.facts[7].divisor_known);
  EXPECT_TRUE(v.facts[7].divisor_nonzero);
  EXPECT_TRUE(v.facts[8].divisor_known);
  EXPECT_EQ(v.facts[8].divisor, -2);
  EXPECT_TRUE(v.facts[8].divisor_not_minus_one);
  // Different constants on two paths: not one value.
  const Verdict two = verified(
      "ldxw %r2, [%r1+12]\n"
      "mov %r3, 4\n"
      "jgt %r2, 10, +1\n"
      "mov %r3, 8\n"
      "mov %r0, 100\n"
      "div %r0, %r3\n"      // 5
      "exit");
  EXPECT_FALSE(two.facts[5].divisor_known);
  EXPECT_TRUE(two.facts[5].divisor_nonzero);
}

// Found by the soundness fuzz (seed 498) before facts made their registers precise: the path
// that reaches the division with r7 = 0 was pruned against one whose r7 was not 0.
TEST(VerifierFacts, PrunedPathsAreCovered) {
  const ProgramCase program = program_of(
      "mov %r6, %r1\nmov %r7, 82\nmul %r7, %r7\njeq %r7, 106, l0\njeq %r7, 169, l1\nl0:\nmov %r8, 10661\n"
      "stdw [%r10-24], 0\nmov %r2, %r10\nadd %r2, -24\nlddw_map_fd %r1, 0\ncall 1\njeq %r0, 0, l2\n"
      "ldxb %r9, [%r0+20]\nldxb %r7, [%r0+4]\nl2:\nl1:\njlt %r7, 62, l3\njeq32 %r7, 55, l4\nl3:\n"
      "ldxw %r7, [%r6+32]\njle %r7, 258, l5\nmov %r9, 905\nl4:\nl5:\nsth [%r10-56], 627\n"
      "ldxw %r8, [%r6+12]\ndiv %r7, %r7\nldxw %r9, [%r10-428]\nmov %r7, %r9\nmul %r9, 27\nmov %r0, 2\nexit\n",
      R"(, "maps": [{"key_size": 8, "max_entries": 4, "type": "hash", "value_size": 24}])", "socket_filter");
  const Verdict v = verified(program, 2);
  std::size_t div = 0;
  for (std::size_t pc = 0; pc < program.insns.size(); ++pc) {
    if (program.insns[pc].code == (BPF_ALU64 | BPF_DIV | BPF_X)) div = pc;
  }
  ASSERT_NE(div, 0U);
  EXPECT_TRUE(v.facts[div].reached);
  EXPECT_FALSE(v.facts[div].divisor_nonzero);  // r7 may be 0 after `jle %r7, 258`
}

// Found by the soundness fuzz (seed 14413): the value a branch depends on was spilled and
// filled back; the path with an unknown value was pruned before the spill, against one with
// a constant, when precision did not follow values through the stack.
TEST(VerifierFacts, PrunedPathsThroughTheStack) {
  const ProgramCase program = program_of(
      "mov %r6, %r1\nmov %r7, 49\nldxw %r2, [%r6+0]\nldxw %r3, [%r6+4]\nmov %r4, %r2\nadd %r4, 5\n"
      "jle %r4, %r3, +1\nja l0\nldxw %r7, [%r2+1]\nl0:\nstxh [%r10-120], %r7\nldxb %r8, [%r10-120]\n"
      "ldxw %r9, [%r6+12]\nadd32 %r8, 167\njset %r8, 138, l1\nadd %r8, 2\nl1:\nmov %r0, %r8\nexit\n");
  const Verdict v = verified(program);
  std::size_t jset = 0;
  for (std::size_t pc = 0; pc < program.insns.size(); ++pc) {
    if (program.insns[pc].code == (BPF_JMP | BPF_JSET | BPF_K)) jset = pc;
  }
  ASSERT_NE(jset, 0U);
  EXPECT_EQ(v.facts[jset].branch, BranchFact::kUnknown);  // a packet byte + 167 & 138: either way
  EXPECT_TRUE(v.facts[jset + 1].reached);
}

// A path pruned against a state whose divisor range holds its own keeps the fact: pruning
// still happens ("safe" in the log), and the fact is reported.
TEST(VerifierFacts, PruningWithinAStateKeepsTheFact) {
  const Verdict v = verified(program_of(
      "ldxw %r2, [%r1+12]\n"
      "ldxw %r3, [%r1+16]\n"
      "and %r3, 63\n"
      "add %r3, 1\n"         // [1, 64]
      "mov %r4, 0\n"
      "jgt %r2, 10, +2\n"    // 5
      "mov %r4, 1\n"
      "ja +1\n"
      "mov %r3, 5\n"         // 8: within [1, 64]
      "mov %r5, 0\n"         // 9: join
      "mov %r5, 1\n"
      "mov %r5, 2\n"
      "mov %r5, 3\n"
      "mov %r0, 100\n"
      "div %r0, %r3\n"       // 14
      "add %r0, %r4\n"
      "exit"),
      2);
  EXPECT_NE(v.log.find("9: safe"), std::string::npos) << v.log;
  EXPECT_TRUE(v.facts[14].divisor_nonzero);
}

TEST(VerifierFacts, BranchesDecidedByValuesAndDeadCode) {
  const Verdict never = verified(
      "ldxw %r2, [%r1+12]\n"
      "and %r2, 7\n"
      "jgt %r2, 10, +2\n"    // never taken
      "mov %r0, 1\n"
      "exit\n"
      "mov %r0, 2\n"         // 5: dead
      "exit");
  EXPECT_EQ(never.facts[2].branch, BranchFact::kNeverTaken);
  EXPECT_TRUE(never.facts[4].reached);
  EXPECT_FALSE(never.facts[5].reached);
  EXPECT_FALSE(never.facts[6].reached);

  const Verdict always = verified(
      "ldxw %r2, [%r1+12]\n"
      "and %r2, 7\n"
      "jle32 %r2, 10, +2\n"  // always taken
      "mov %r0, 1\n"         // 3: dead
      "exit\n"
      "mov %r0, 2\n"
      "exit");
  EXPECT_EQ(always.facts[2].branch, BranchFact::kAlwaysTaken);
  EXPECT_FALSE(always.facts[3].reached);
  EXPECT_FALSE(always.facts[4].reached);
  EXPECT_TRUE(always.facts[5].reached);
  EXPECT_EQ(always.facts[0].branch, BranchFact::kUnknown);
}

TEST(VerifierFacts, Loops) {
  // The counter is 1..10 at the division on every iteration; the loop's jump goes both ways.
  const Verdict counted = verified(
      "mov %r6, 0\n"
      "mov %r0, 0\n"
      "add %r6, 1\n"         // 2: loop
      "mov %r2, 100\n"
      "div %r2, %r6\n"       // 4
      "add %r0, %r2\n"
      "jlt %r6, 10, -5\n"    // 6
      "exit");
  EXPECT_TRUE(counted.facts[4].divisor_nonzero);
  EXPECT_EQ(counted.facts[6].branch, BranchFact::kUnknown);
  // The first iteration divides by 0.
  const Verdict from_zero = verified(
      "mov %r6, 0\n"
      "mov %r0, 0\n"
      "mov %r2, 100\n"       // 2: loop
      "div %r2, %r6\n"       // 3
      "add %r0, %r2\n"
      "add %r6, 1\n"
      "jlt %r6, 10, -5\n"
      "exit");
  EXPECT_FALSE(from_zero.facts[3].divisor_nonzero);
}

TEST(VerifierFacts, UpperHalfKnownZeroAtZeroExtensions) {
  const Verdict v = verified(
      "ldxw %r2, [%r1+12]\n" // 0: zero-extended load
      "mov32 %r2, %r2\n"     // 1
      "le32 %r2\n"           // 2
      "lsh %r2, 32\n"        // 3
      "rsh %r2, 32\n"
      "mov %r3, -1\n"
      "mov32 %r3, %r3\n"     // 6: the upper half is all ones
      "lsh %r3, 32\n"        // 7: now zero
      "rsh %r3, 32\n"
      "mov32 %r4, %r3\n"     // 9: not a zero-extension of r4 (another source)
      // (Both give a pointer its offset, as zero-extended values often do.)
      "mov %r0, %r2\n"
      "add %r0, %r3\n"
      "and %r0, 7\n"
      "mov %r5, %r10\n"
      "add %r5, -16\n"
      "add %r5, %r0\n"
      "stb [%r5+0], 1\n"
      "exit");
  EXPECT_EQ(v.facts[1].upper32_zero, 1U << 2);
  EXPECT_EQ(v.facts[2].upper32_zero, 1U << 2);
  EXPECT_EQ(v.facts[3].upper32_zero, 1U << 2);
  EXPECT_EQ(v.facts[0].upper32_zero, 0U);
  EXPECT_EQ(v.facts[6].upper32_zero, 0U);
  EXPECT_EQ(v.facts[7].upper32_zero, 1U << 3);
  EXPECT_EQ(v.facts[9].upper32_zero, 0U);
}

// Array lookups whose key the stack tells: a constant (zero bytes, a spilled constant, the same
// on every path) or a range below max_entries never return NULL; a key that may reach
// max_entries, or is known only on some paths, gets no fact.
TEST(VerifierFacts, ArrayKeysInRange) {
  const std::string maps = R"(, "maps": [{"key_size": 4, "max_entries": 4, "type": "array", "value_size": 8}])";
  struct Case {
    const char* key;  // code that leaves the key at fp-8
    bool in_range, known;
    uint32_t value;
  };
  const Case cases[] = {
      {"stw [%r10-8], 0\n", true, true, 0},
      {"mov %r3, 3\nstxw [%r10-8], %r3\n", true, true, 3},
      {"ldxw %r3, [%r1+12]\nand %r3, 3\nstxdw [%r10-8], %r3\n", true, false, 0},
      {"ldxw %r3, [%r1+12]\nand %r3, 3\nstxw [%r10-8], %r3\n", true, false, 0},
      {"ldxw %r3, [%r1+12]\nand %r3, 7\nstxw [%r10-8], %r3\n", false, false, 0},
      {"mov %r3, 4\nstxw [%r10-8], %r3\n", false, false, 0},
      {"ldxw %r3, [%r1+12]\nstxw [%r10-8], %r3\n", false, false, 0},
      // 1 on one path, 2 on the other: in range, not known
      {"mov %r3, 1\nldxw %r4, [%r1+12]\njgt %r4, 5, +1\nmov %r3, 2\nstxw [%r10-8], %r3\n", true, false, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key);
    const ProgramCase program = program_of(std::string(c.key) +
                                               "mov %r2, %r10\nadd %r2, -8\nlddw_map_fd %r1, 0\ncall 1\n"
                                               "jeq %r0, 0, +2\nldxdw %r0, [%r0+0]\nexit\nmov %r0, 0\nexit\n",
                                           maps);
    const Verdict v = verified(program);
    std::size_t call = 0;
    for (std::size_t pc = 0; pc < program.insns.size(); ++pc) {
      if (program.insns[pc].code == (BPF_JMP | BPF_CALL)) call = pc;
    }
    ASSERT_NE(call, 0U);
    EXPECT_EQ(v.facts[call].key_in_range, c.in_range);
    EXPECT_EQ(v.facts[call].key_known, c.known);
    EXPECT_EQ(v.facts[call].key, c.value);
  }
}

TEST(VerifierFacts, SecondSlotOfLdImm64IsNotReached) {
  const Verdict v = verified("lddw %r0, 0x100000002\nexit");
  EXPECT_TRUE(v.facts[0].reached);
  EXPECT_FALSE(v.facts[1].reached);
  EXPECT_TRUE(v.facts[2].reached);
}

// bpf_loop calls its callback up to 10 times; the walk sees one call, after which the count
// the callback keeps in the caller's stack is 1, and `if r2 > 1` looks never taken. Until
// callbacks are walked to a fixed point, programs with callbacks get no facts.
TEST(VerifierFacts, NoneWithCallbacks) {
  static const HelperTable helpers = linux_helpers();
  const ProgramCase program = program_of(
      "stdw [%r10-8], 0\n"
      "mov %r1, 10\n"
      "lddw_func %r2, cb\n"
      "mov %r3, %r10\n"
      "add %r3, -8\n"
      "mov %r4, 0\n"
      "call 181\n"              // bpf_loop(10, cb, fp-8, 0)
      "ldxdw %r2, [%r10-8]\n"
      "mov %r0, 0\n"
      "jgt %r2, 1, +1\n"
      "mov %r0, 1\n"
      "exit\n"
      "cb:\n"
      "ldxdw %r3, [%r2+0]\n"
      "add %r3, 1\n"
      "stxdw [%r2+0], %r3\n"
      "mov %r0, 0\n"
      "exit");
  Options options = program.options;
  options.helpers = &helpers;
  options.btf_func_info = true;
  const Verdict v = verify(program.insns, options);
  EXPECT_TRUE(v.accepted) << v.message;
  EXPECT_TRUE(v.facts.empty());
}

TEST(VerifierFacts, NoneWhenRejected) {
  static const HelperTable helpers = linux_helpers();
  const ProgramCase program = program_of("mov %r0, %r5\nexit");
  Options options = program.options;
  options.helpers = &helpers;
  const Verdict v = verify(program.insns, options);
  EXPECT_FALSE(v.accepted);
  EXPECT_TRUE(v.facts.empty());
}

// The JIT with the facts (checked and unchecked code) gives the interpreter's results, in
// less code where facts remove instructions (a division whose checks go may only jump past
// them in shared code).
TEST(VerifierFacts, JitWithFactsAgreesWithTheInterpreter) {
  if (!jit::jit_available()) GTEST_SKIP() << "no JIT on this host";
  struct Program {
    const char* text;
    bool smaller;
  };
  const Program programs[] = {
      // division whose checks go, branches and dead code, zero-extensions
      {"ldxw %r2, [%r1+12]\nor %r2, 1\nldxw %r0, [%r1+16]\ndiv %r0, %r2\nsmod %r0, %r2\nexit", false},
      {"ldxw %r2, [%r1+12]\nand %r2, 7\njgt %r2, 10, +3\nmov %r0, 1\nadd %r0, %r2\nexit\nmov %r0, 2\nexit", true},
      {"ldxw %r2, [%r1+12]\nand %r2, 7\njle32 %r2, 10, +2\nmov %r0, 1\nexit\nmov %r0, %r2\nexit", true},
      {"ldxw %r2, [%r1+12]\nmov32 %r2, %r2\nle32 %r2\nlsh %r2, 32\nrsh %r2, 32\nmov %r0, %r2\nand %r2, 7\n"
       "mov %r5, %r10\nadd %r5, -16\nadd %r5, %r2\nstb [%r5+0], 1\nexit",
       true},
      {"mov %r6, 0\nmov %r0, 0\nadd %r6, 1\nmov %r2, 100\ndiv %r2, %r6\nadd %r0, %r2\njlt %r6, 10, -5\nexit", false},
      // constant divisors: powers of two, signed, 32-bit views of 64-bit values, zero
      {"ldxw %r0, [%r1+12]\nmov %r2, 8\nmov %r3, -3\nlddw %r4, 0x100000000\nmul %r0, 7919\nmod %r0, %r2\n"
       "ldxw %r5, [%r1+16]\nsdiv %r5, %r3\nadd %r0, %r5\ndiv32 %r5, %r4\nadd %r0, %r5\nsmod32 %r0, %r3\nexit",
       true},
  };
  static const HelperTable helpers = linux_helpers();
  for (const auto& [text, smaller] : programs) {
    SCOPED_TRACE(text);
    const ProgramCase program = program_of(text);
    const Verdict v = verified(program);
    auto structure = check_structure(program.insns);
    ASSERT_TRUE(std::holds_alternative<Structure>(structure));
    const std::vector<isa::Insn> insns = std::get<Structure>(structure).insns;
    auto interpreter = Interpreter::create(insns, helpers);
    // Sizes compare what the facts remove: known-constant folding (which removes some of the
    // same code) is off in both.
    auto plain = jit::JitProgram::compile(insns, helpers, {.checked = false, .propagate_constants = false});
    ASSERT_TRUE(interpreter.ok() && plain.ok());
    for (const bool checked : {false, true}) {
      auto with_facts = jit::JitProgram::compile(
          insns, helpers, {.checked = checked, .propagate_constants = false, .facts = v.facts});
      ASSERT_TRUE(with_facts.ok()) << with_facts.error().message;
      if (!checked && smaller) {
        EXPECT_LT(with_facts->code_size(), plain->code_size());
      }
      if (!checked) {
        EXPECT_LE(with_facts->code_size(), plain->code_size());
      }
      for (const uint32_t ifindex : {0U, 1U, 7U, 8U, 11U, 0xffffffffU}) {
        std::array<uint32_t, 6> ctx = {0, 0, 0, ifindex, ifindex * 2654435761U, 0};
        RunOptions options;
        options.args[0] = reinterpret_cast<uint64_t>(ctx.data());
        options.regions.push_back(MemoryRegion{reinterpret_cast<uint8_t*>(ctx.data()), sizeof ctx, false});
        options.context = ctx.data();
        const auto expected = interpreter->run(options);
        const auto got = with_facts->run(options);
        ASSERT_TRUE(expected.ok() && got.ok());
        EXPECT_EQ(*got, *expected) << "ifindex " << ifindex << (checked ? " checked" : " unchecked");
      }
    }
  }
}

// `bpfvm verify --facts`: one note per instruction with facts, one for a run of dead code
// (an ld_imm64 inside it included), nothing for the second slot of an ld_imm64.
TEST(FactNotes, DeadRunsAreOneNote) {
  auto insns = isa::assemble("mov %r0, 0\nja +3\nlddw %r1, 5\nmov %r0, 1\nmov %r2, 4\ndiv %r0, %r2\nexit\n");
  ASSERT_TRUE(insns.ok());
  ASSERT_EQ(insns->size(), 8u);  // the ja skips insns 2-4 (the ld_imm64 and r0 = 1)
  std::vector<InsnFacts> facts(8);
  for (std::size_t pc : {0u, 1u, 5u, 6u, 7u}) facts[pc].reached = true;
  facts[6].divisor_nonzero = true;
  facts[6].divisor_not_minus_one = true;
  const std::vector<FactNote> notes = fact_notes(*insns, facts);
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_EQ(notes[0].first, 2u);
  EXPECT_EQ(notes[0].last, 4u);
  EXPECT_EQ(notes[0].facts, std::vector<std::string>{"dead: no path reaches it"});
  EXPECT_EQ(notes[1].first, 6u);
  EXPECT_EQ(notes[1].facts, (std::vector<std::string>{"divisor is never 0", "divisor is never -1"}));
  EXPECT_EQ(notes[1].insn, "(3f) r0 /= r2");
}

}  // namespace
}  // namespace bpfvm::verifier
