// Interpreter semantics that the conformance suite does not pin down, and its safety: bad
// programs stop with an error naming the instruction, never a host crash or hang.
#include <gtest/gtest.h>

#include "conformance/data_file.hpp"
#include "exec/interpreter.hpp"
#include "isa/assembler.hpp"

namespace bpfvm {
namespace {

struct Run {
  Result<uint64_t> result;
};

Result<uint64_t> run(std::string_view source, std::vector<uint8_t> memory = {}, RunOptions options = {},
                     const HelperTable* helpers = nullptr) {
  auto insns = isa::assemble(source);
  if (!insns) return insns.error();
  static const HelperTable conformance = conformance::conformance_helpers();
  auto interpreter = Interpreter::create(std::move(*insns), helpers ? *helpers : conformance);
  if (!interpreter) return interpreter.error();
  RunOptions run = memory_run_options(memory);
  run.branch_limit = options.branch_limit;
  return interpreter->run(run);
}

uint64_t value(std::string_view source, std::vector<uint8_t> memory = {}) {
  auto r = run(source, std::move(memory));
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  return r.ok() ? *r : 0xdeadbeef;
}

void fails_at(std::string_view source, std::size_t insn, const std::string& message_part,
              std::vector<uint8_t> memory = {}) {
  auto r = run(source, std::move(memory));
  ASSERT_FALSE(r.ok()) << source;
  EXPECT_NE(r.error().message.find(message_part), std::string::npos) << r.error().message;
  ASSERT_TRUE(r.error().insn.has_value());
  EXPECT_EQ(*r.error().insn, insn) << r.error().message;
}

TEST(Semantics, DivisionAndModuloByZero) {
  EXPECT_EQ(value("mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit\n"), 0u);
  EXPECT_EQ(value("mov %r0, 7\nmov %r1, 0\nmod %r0, %r1\nexit\n"), 7u);
  EXPECT_EQ(value("lddw %r0, 0x100000007\nmov %r1, 0\nmod32 %r0, %r1\nexit\n"), 7u);  // dst zero-extended
  EXPECT_EQ(value("mov %r0, -7\nsdiv %r0, 0\nexit\n"), 0u);
  EXPECT_EQ(value("mov %r0, -7\nsmod %r0, 0\nexit\n"), static_cast<uint64_t>(-7));
}

TEST(Semantics, SignedDivisionOfIntMinByMinusOne) {
  EXPECT_EQ(value("lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit\n"), 0x8000000000000000ull);
  EXPECT_EQ(value("lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit\n"), 0u);
  EXPECT_EQ(value("mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit\n"), 0x80000000ull);
  EXPECT_EQ(value("mov32 %r0, -7\nsmod32 %r0, 2\nexit\n"), 0xffffffffull);  // remainder keeps the dividend's sign
}

TEST(Semantics, ShiftsMaskTheirAmount) {
  EXPECT_EQ(value("mov %r0, 1\nlsh %r0, 65\nexit\n"), 2u);
  EXPECT_EQ(value("mov32 %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1\nexit\n"), 2u);
  EXPECT_EQ(value("mov32 %r0, 0x80000000\narsh32 %r0, 63\nexit\n"), 0xffffffffu);
}

TEST(Semantics, Alu32ZeroExtends) {
  EXPECT_EQ(value("lddw %r0, 0xffffffffffffffff\nadd32 %r0, 1\nexit\n"), 0u);
  EXPECT_EQ(value("lddw %r0, 0xffffffff00000005\nmov32 %r0, %r0\nexit\n"), 5u);
  EXPECT_EQ(value("mov %r0, -1\nexit\n"), ~0ull);  // mov64 sign-extends its immediate
  EXPECT_EQ(value("mov32 %r0, -1\nexit\n"), 0xffffffffull);
}

TEST(Semantics, LocalCallsSaveR6ToR9AndGetAFreshFrame) {
  EXPECT_EQ(value("mov %r6, 1\nstdw [%r10-8], 5\ncall local f\nldxdw %r1, [%r10-8]\nadd %r0, %r1\nadd %r0, %r6\nexit\n"
                  "f:\nmov %r6, 100\nstdw [%r10-8], 1000\nmov %r0, 10\nexit\n"),
            10u + 5u + 1u);
}

TEST(Semantics, CalleeMayUseItsCallersStackThroughAPointer) {
  EXPECT_EQ(value("stdw [%r10-8], 9\nmov %r1, %r10\nadd %r1, -8\ncall local f\nldxdw %r0, [%r10-8]\nexit\n"
                  "f:\nstdw [%r1], 77\nmov %r0, 0\nexit\n"),
            77u);
}

TEST(Semantics, CallDepthIsLimitedToEightFrames) {
  // Each frame calls the next; the eighth nested call is one too many.
  fails_at("mov %r1, 0\ncall local f\nexit\nf:\nadd %r1, 1\ncall local f\nexit\n", 4,
           "the call stack of 9 frames is too deep");
}

TEST(Semantics, CallxReachesHelpersAndSubprograms) {
  EXPECT_EQ(value("mov %r1, 33\nmov %r2, 5\ncall %r2\nexit\n"), 33u);  // helper 5 returns r1
  EXPECT_EQ(value("lddw_func %r3, f\ncall %r3\nadd %r0, 1\nexit\nf:\nmov %r0, 41\nexit\n"), 42u);
  fails_at("mov %r2, 1234\ncall %r2\nexit\n", 1, "neither a subprogram nor a known helper");
}

TEST(Semantics, UnwindHelperStopsTheProgram) {
  EXPECT_EQ(value("mov %r1, 0\ncall 5\nmov %r0, 2\nexit\n"), 0u);
}

TEST(Semantics, LegacyPacketLoadsAreBigEndianAndStopWhenOutOfBounds) {
  const std::vector<uint8_t> packet = {0x12, 0x34, 0x56, 0x78, 0x9a};
  EXPECT_EQ(value("ldabsh 1\nexit\n", packet), 0x3456u);
  EXPECT_EQ(value("ldabsw 0\nexit\n", packet), 0x12345678u);
  EXPECT_EQ(value("mov %r6, 2\nldindb %r6, 2\nexit\n", packet), 0x9au);
  EXPECT_EQ(value("ldabsw 2\nmov %r0, 7\nexit\n", packet), 0u);  // out of bounds: program ends, r0 = 0
}

TEST(Safety, MemoryOutsideTheAllowedRegionsStopsTheRun) {
  fails_at("ldxdw %r0, [%r1+0]\nexit\n", 0, "invalid memory read of 8 bytes", {1, 2, 3, 4});
  fails_at("mov %r0, 0\nstxb [%r1+4], %r0\nexit\n", 1, "invalid memory write of 1 bytes", {1, 2, 3, 4});
  fails_at("mov %r2, 0\nldxb %r0, [%r2+0]\nexit\n", 1, "(r2 +0)");
  fails_at("ldxdw %r0, [%r10+0]\nexit\n", 0, "invalid memory read");  // past the top of the stack
  fails_at("ldxw %r0, [%r10-4100]\nexit\n", 0, "invalid memory read");
  EXPECT_EQ(value("ldxw %r0, [%r1+0]\nexit\n", {1, 0, 0, 0}), 1u);
}

TEST(Safety, ReadOnlyRegionsRejectWrites) {
  std::vector<uint8_t> data = {1, 2, 3, 4};
  auto insns = isa::assemble("stb [%r1+0], 9\nmov %r0, 0\nexit\n");
  ASSERT_TRUE(insns.ok());
  HelperTable none;
  auto interpreter = Interpreter::create(*insns, none);
  ASSERT_TRUE(interpreter.ok());
  RunOptions options;
  options.args[0] = reinterpret_cast<uint64_t>(data.data());
  options.regions.push_back(MemoryRegion{data.data(), data.size(), false});
  auto r = interpreter->run(options);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("invalid memory write"), std::string::npos);
  EXPECT_EQ(data[0], 1);
}

TEST(Safety, ReadingAnUnwrittenRegisterIsAnError) {
  fails_at("or %r0, %r10\nexit\n", 0, "R0 !read_ok");
  fails_at("mov %r0, %r7\nexit\n", 0, "R7 !read_ok");
  fails_at("exit\n", 0, "R0 !read_ok");
  // After a call, r1-r5 are scratch: reading them is an error.
  fails_at("mov %r1, 1\ncall 5\nmov %r0, %r1\nexit\n", 2, "R1 !read_ok");
}

TEST(Safety, InfiniteLoopsStopAtTheBranchLimit) {
  RunOptions options;
  options.branch_limit = 1000;
  auto r = run("mov %r0, 0\nloop:\nja loop\n", {}, options);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("stopped after 1000 taken branches"), std::string::npos);
}

TEST(Safety, UnknownHelpersAreRejectedBeforeRunning) {
  auto r = run("call 77\nexit\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "invalid func unknown#77");
  EXPECT_EQ(r.error().insn, 0u);
}

TEST(Safety, UnresolvedMapReferencesAreRejectedBeforeRunning) {
  auto r = run("lddw_map_fd %r1, 3\nmov %r0, 0\nexit\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("lddw_map_fd refers to a map"), std::string::npos);
}

TEST(Safety, MisalignedAtomicsAreAnError) {
  fails_at("mov %r2, 1\nlock add [%r10-15], %r2\nexit\n", 1, "misaligned 8-byte atomic access");
}

TEST(Semantics, MayGotoFallsThroughUntilTheBudgetIsSpent) {
  // Count the fall-throughs: the loop ends when may_goto finally jumps.
  EXPECT_EQ(value("mov %r0, 0\nloop:\nmay_goto done\nadd %r0, 1\nja loop\ndone:\nexit\n"), kMayGotoBudget);
}

TEST(Semantics, CustomHelpersSeeTheirArguments) {
  HelperTable helpers;
  helpers.add(Helper{1, "sum", [](uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e, HelperContext&) {
                       return a + b + c + d + e;
                     }});
  auto r = run("mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\ncall 1\nexit\n", {}, {}, &helpers);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, 15u);
}

}  // namespace
}  // namespace bpfvm
