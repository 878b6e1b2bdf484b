// Disassembly: spot checks of the texts Linux prints, and golden files covering every row of
// the opcode table in both syntaxes. Regenerate the golden files with BPFVM_BLESS=1.
#include <gtest/gtest.h>

#include "support/golden.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "isa/disasm.hpp"
#include "test_programs.hpp"

namespace bpfvm::isa {
namespace {

TEST(KernelSyntax, TextsBpftoolPrints) {
  EXPECT_EQ(kernel_text(make_insn(Op::Mov64Imm, 0, 0, 0, 42)), "(b7) r0 = 42");
  EXPECT_EQ(kernel_text(make_insn(Op::CallHelper, 0, 0, 0, 1)), "(85) call bpf_map_lookup_elem#1");
  EXPECT_EQ(kernel_text(make_insn(Op::LdMapFd, 1, 0, 0, 0, 4)), "(18) r1 = map[id:4]");
  EXPECT_EQ(kernel_text(make_insn(Op::LdxW, 3, 6, 0)), "(61) r3 = *(u32 *)(r6 +0)");
  EXPECT_EQ(kernel_text(make_insn(Op::Mov64Reg, 3, 0)), "(bf) r3 = r0");
  EXPECT_EQ(kernel_text(make_insn(Op::Exit)), "(95) exit");
  EXPECT_EQ(kernel_text(make_insn(Op::Add32Imm, 2, 0, 0, -1)), "(04) w2 += -1");
  EXPECT_EQ(kernel_text(make_insn(Op::JneImm, 1, 0, -3, -1)), "(55) if r1 != 0xffffffff goto pc-3");
  EXPECT_EQ(kernel_text(make_insn(Op::Sdiv64Reg, 1, 2)), "(3f) r1 s/= r2");
  EXPECT_EQ(kernel_text(make_insn(Op::Movsx8To32, 1, 2)), "(bc) w1 = (s8)w2");
  EXPECT_EQ(kernel_text(make_insn(Op::LdxsW, 1, 2, -4)), "(81) r1 = *(s32 *)(r2 -4)");
  EXPECT_EQ(kernel_text(make_insn(Op::AtomicFetchAdd64, 1, 2, 8)), "(db) r2 = atomic64_fetch_add((u64 *)(r1 +8), r2)");
  EXPECT_EQ(kernel_text(make_insn(Op::AtomicAnd32, 1, 2, 8)), "(c3) lock *(u32 *)(r1 +8) &= r2");
  EXPECT_EQ(kernel_text(make_insn(Op::AtomicCmpxchg32, 1, 2)), "(c3) r0 = atomic_cmpxchg((u32 *)(r1 +0), r0, r2)");
  EXPECT_EQ(kernel_text(make_insn(Op::Gotol, 0, 0, 0, 70000)), "(06) gotol pc+70000");
  EXPECT_EQ(kernel_text(make_insn(Op::Bswap16, 4)), "(d7) r4 = bswap16 r4");
  EXPECT_EQ(kernel_text(make_insn(Op::Be32, 4)), "(dc) r4 = be32 r4");
  EXPECT_EQ(kernel_text(make_insn(Op::CallLocal, 0, 0, 0, 5)), "(85) call pc+5");
  EXPECT_EQ(kernel_text(make_insn(Op::LdImm64, 0, 0, 0, 0, 0x1122334455667788ull)), "(18) r0 = 0x1122334455667788");
  EXPECT_EQ(kernel_text(make_insn(Op::LdAbsH, 0, 0, 0, 12)), "(28) r0 = *(u16 *)skb[12]");
  EXPECT_EQ(kernel_text(make_insn(Op::CallHelper, 0, 0, 0, 100000)), "(85) call unknown#100000");
}

TEST(KernelSyntax, CallbacksOverrideNames) {
  KernelSyntaxOptions options;
  options.call_name = [](const Insn& i) -> std::optional<std::string> {
    return i.op == Op::CallKfunc ? std::optional<std::string>("bpf_obj_new_impl") : std::nullopt;
  };
  EXPECT_EQ(kernel_text(make_insn(Op::CallKfunc, 0, 0, 0, 12345), options), "(85) call bpf_obj_new_impl#12345");
}

using test::check_golden;

std::vector<Insn> every_op_program() {
  std::vector<Insn> program;
  for (const Insn& insn : test::one_of_each_op()) {
    program.push_back(insn);
    if (insn.info().kind == Kind::kLdImm64) program.push_back(Insn{Op::LdImm64Tail, 0, 0, 0, 0, 0});
  }
  return program;
}

TEST(Golden, KernelSyntaxOfEveryOperation) {
  check_golden("every_op.kernel.txt", disassemble(every_op_program(), Syntax::kKernel));
}

TEST(Golden, ConformanceSyntaxOfEveryOperation) {
  check_golden("every_op.conformance.txt", disassemble(every_op_program(), Syntax::kConformance));
}

}  // namespace
}  // namespace bpfvm::isa
