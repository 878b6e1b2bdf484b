#include <gtest/gtest.h>

#include "isa/assembler.hpp"
#include "isa/disasm.hpp"

namespace bpfvm::isa {
namespace {

std::vector<Insn> ok(std::string_view source) {
  auto result = assemble(source);
  EXPECT_TRUE(result.ok()) << result.error().to_string();
  return result.ok() ? *result : std::vector<Insn>{};
}

void fails(std::string_view source, std::size_t line, const std::string& message) {
  auto result = assemble(source);
  ASSERT_FALSE(result.ok()) << source;
  EXPECT_EQ(result.error().message, message);
  ASSERT_TRUE(result.error().line.has_value());
  EXPECT_EQ(*result.error().line, line);
}

TEST(Assembler, LabelsAndOffsets) {
  auto p = ok("  mov %r0, 0   # comment\n"
              "loop:\n"
              "  add %r0, 1\n"
              "  jlt %r0, 10, loop\n"
              "  ja +1\n"
              "  lddw %r1, 0x100000000\n"
              "  jeq %r0, %r1, exit\n"
              "done: exit\n");
  ASSERT_EQ(p.size(), 8u);
  EXPECT_EQ(p[2].op, Op::JltImm);
  EXPECT_EQ(p[2].off, -2);
  EXPECT_EQ(p[3].op, Op::Ja);
  EXPECT_EQ(p[3].off, 1);
  EXPECT_EQ(p[4].op, Op::LdImm64);
  EXPECT_EQ(p[4].imm64, 0x100000000ull);
  EXPECT_EQ(p[5].op, Op::LdImm64Tail);
  EXPECT_EQ(p[6].op, Op::JeqReg);
  EXPECT_EQ(p[6].off, 0);  // `exit` names the first exit instruction
  EXPECT_EQ(p[7].op, Op::Exit);
}

TEST(Assembler, EveryOperandForm) {
  auto p = ok("mov32 %r1, -1\nadd64 %r1, %r2\nsdiv32 %r1, 3\nsmod %r1, %r2\nneg32 %r1\n"
              "movsx1664 %r1, %r2\nbe16 %r1\nle64 %r1\nswap32 %r1\nbswap64 %r1\n"
              "ldxsh %r1, [%r2-4]\nstdw [%r10-8], 0x7fffffff\nstxb [%r1], %r2\n"
              "lock fetch xor32 [%r10-4], %r3\nlock cmpxchg [%r10-8], %r1\nlock xchg32 [%r1+0], %r2\n"
              "call 1\ncall %r3\ncall kfunc 77, 1\nja32 +0\nlddw_map_value %r1, 4, 16\n"
              "ldabsh 12\nldindw %r1, 2\nexit\n");
  const Op expected[] = {Op::Mov32Imm, Op::Add64Reg, Op::Sdiv32Imm, Op::Smod64Reg, Op::Neg32, Op::Movsx16To64,
                         Op::Be16, Op::Le64, Op::Bswap32, Op::Bswap64, Op::LdxsH, Op::StDW, Op::StxB,
                         Op::AtomicFetchXor32, Op::AtomicCmpxchg64, Op::AtomicXchg32, Op::CallHelper, Op::Callx,
                         Op::CallKfunc, Op::Gotol, Op::LdMapValue, Op::LdImm64Tail, Op::LdAbsH, Op::LdIndW, Op::Exit};
  ASSERT_EQ(p.size(), std::size(expected));
  for (std::size_t i = 0; i < p.size(); ++i) EXPECT_EQ(p[i].op, expected[i]) << "line " << i + 1;
  EXPECT_EQ(p[0].imm, -1);
  EXPECT_EQ(p[10].off, -4);
  EXPECT_EQ(p[11].imm, 0x7fffffff);
  EXPECT_EQ(p[17].dst, 3);
  EXPECT_EQ(p[18].off, 1);
  EXPECT_EQ(p[20].imm_hi(), 16u);
}

TEST(Assembler, LocalCallsAndFunctionAddresses) {
  auto p = ok("call local f\nlddw_func %r2, f\nexit\nf:\nmov %r0, 1\nexit\n");
  ASSERT_EQ(p.size(), 6u);
  EXPECT_EQ(p[0].op, Op::CallLocal);
  EXPECT_EQ(p[0].imm, 3);
  EXPECT_EQ(p[1].op, Op::LdFunc);
  EXPECT_EQ(p[1].imm, 2);  // like the kernel: relative to the instruction after the first slot
}

TEST(Assembler, ErrorsNameTheLine) {
  fails("mov %r0, 1\nor %r0, %r50\n", 2, "Invalid register: %r50");
  fails("ldxq %r0, %r1\n", 1, "Invalid mnemonic: ldxq");
  fails("ja NOT_A_LABEL\nexit\n", 1, "Invalid label: NOT_A_LABEL");
  fails("mov32 %r0, 2147483648\n", 1, "Immediate out of 32-bit range: 2147483648");
  fails("mov32 %r0, 0x100000000\n", 1, "Immediate out of 32-bit range: 0x100000000");
  fails("mov32 %r0, 12abc\n", 1, "Invalid immediate: 12abc");
  fails("ldxb %r0, %r1\n", 1, "Invalid memory operand (expected [%rN+offset]): %r1");
  fails("ldxb %r0, [%r1+0x10000]\n", 1, "Offset out of 16-bit range: +0x10000");
  fails("lddw %r0\n", 1, "Invalid number of operands for lddw: expected 2, got 1");
  fails("lock or [%r10-8]\n", 1, "Invalid number of operands for lock");
  fails("lock\n", 1, "Invalid number of operands for lock");
  fails("lock nand [%r10-8], %r1\n", 1, "Invalid atomic operation: nand");
  fails("a:\na:\nexit\n", 2, "Duplicate label: a");
  fails("-- asm\n", 1, "Invalid directive: -- asm");
  fails("mov %r0, 1,\n", 1, "Empty operand");
  fails("exit\nja +40000\n", 2, "Jump to +40000 is too far for a 16-bit offset (use ja32)");
}

TEST(Assembler, NumbersInEveryRadix) {
  auto p = ok("mov %r0, 0xffffffff\nmov %r1, -2147483648\nlddw %r2, -1\nlddw %r3, 0xffffffffffffffff\nexit\n");
  EXPECT_EQ(p[0].imm, -1);
  EXPECT_EQ(p[1].imm, INT32_MIN);
  EXPECT_EQ(p[2].imm64, ~0ull);
  EXPECT_EQ(p[4].imm64, ~0ull);
}

}  // namespace
}  // namespace bpfvm::isa
