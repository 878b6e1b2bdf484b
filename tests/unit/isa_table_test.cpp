// The opcode table drives everything; these tests check its rows round-trip through every
// consumer: encoder <-> decoder, disassembler -> assembler.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "isa/assembler.hpp"
#include "isa/disasm.hpp"
#include "isa/insn.hpp"
#include "test_programs.hpp"

namespace bpfvm::isa {
namespace {

TEST(OpcodeTable, CoversTheWholeIsa) {
  // RFC 9669 + Linux up to cpu v4: 14 ALU ops x 4 forms, 5 movsx, 2 neg, 9 byte swaps,
  // 11 conditions x 4 forms, ja/gotol/may_goto, 3 calls + callx, exit, 7 loads, 8 stores,
  // 20 atomics, 7 ld_imm64 kinds, 6 legacy packet loads.
  EXPECT_EQ(kOpCount, 56u + 5 + 2 + 9 + 44 + 3 + 4 + 1 + 7 + 8 + 20 + 7 + 6);
  std::set<std::string_view> names;
  for (const OpInfo& row : kOps) EXPECT_TRUE(names.insert(row.name).second) << row.name;
}

TEST(OpcodeTable, KernelOpcodeBytesMatchLinuxInsnTable) {
  // bpf_opcode_in_insntable() (Linux 6.18) accepts: ALU 12 ops x K/X + neg + be + le = 27;
  // ALU64 the same with bswap for be/le = 26; JMP 11 conditions x K/X + ja, call, exit,
  // jcond = 26; JMP32 22 + ja = 23; STX 4 + 2 atomic = 6; ST 4; LDX 4 + 3 sign-extending = 7;
  // LD imm64 + 3 abs + 3 ind = 7. bpfvm does not have gotox (0x0d) or the 8/16-bit atomics
  // of load-acquire/store-release yet.
  int known = 0;
  for (int c = 0; c < 256; ++c) known += kernel_knows_code(static_cast<uint8_t>(c)) ? 1 : 0;
  EXPECT_EQ(known, 27 + 26 + 26 + 23 + 6 + 4 + 7 + 7);
  EXPECT_FALSE(kernel_knows_code(0x8d));  // callx: bpfvm only
  EXPECT_TRUE(kernel_knows_code(0xe5));   // may_goto
  EXPECT_FALSE(kernel_knows_code(0x8c));  // neg with a register source does not exist
}

TEST(OpcodeTable, EveryRowRoundTripsThroughEncoderAndDecoder) {
  for (const Insn& insn : test::one_of_each_op()) {
    const std::vector<Insn> one = insn.info().kind == Kind::kLdImm64
                                      ? std::vector<Insn>{insn, Insn{Op::LdImm64Tail, 0, 0, 0, static_cast<int32_t>(insn.imm_hi()), 0}}
                                      : std::vector<Insn>{insn};
    auto raw = encode(one);
    auto back = decode(raw);
    ASSERT_TRUE(back.ok()) << insn.info().name << ": " << back.error().to_string();
    EXPECT_EQ(*back, one) << insn.info().name;
    EXPECT_EQ(encode(*back), raw) << insn.info().name;
  }
}

TEST(OpcodeTable, EveryRowRoundTripsThroughConformanceSyntax) {
  for (const Insn& insn : test::one_of_each_op()) {
    if (insn.op == Op::CallLocal || insn.op == Op::LdFunc) continue;  // need a program around them
    const std::string text = conformance_text(insn);
    auto assembled = assemble(text + "\n");
    ASSERT_TRUE(assembled.ok()) << insn.info().name << " `" << text << "`: " << assembled.error().to_string();
    ASSERT_FALSE(assembled->empty());
    EXPECT_EQ(assembled->front(), insn) << insn.info().name << " `" << text << "`";
  }
}

TEST(OpcodeTable, RandomWordsDecodeOrFailCleanly) {
  // Any 8 bytes either decode to an instruction that re-encodes to the same bytes, or give an
  // error with the instruction index: the decoder accepts one spelling per instruction.
  std::mt19937_64 rng(42);
  int decoded = 0;
  for (int i = 0; i < 200000; ++i) {
    uint64_t word = rng();
    // Bias towards valid opcodes and small registers so both outcomes are exercised.
    if (i % 2 == 0) {
      const OpInfo& row = kOps[rng() % kOps.size()];
      word = (word & ~uint64_t{0xff}) | row.code;
      word &= ~(uint64_t{0xee} << 8);
    }
    RawInsn raw[2];
    std::memcpy(static_cast<void*>(&raw[0]), &word, 8);
    raw[1] = RawInsn{};
    auto insns = decode(std::span<const RawInsn>(raw, raw[0].code == 0x18 ? 2 : 1));
    if (!insns) {
      ASSERT_TRUE(insns.error().insn.has_value());
      ASSERT_FALSE(insns.error().message.empty());
      continue;
    }
    ++decoded;
    auto again = encode(*insns);
    ASSERT_EQ(again[0], raw[0]) << std::hex << word;
  }
  EXPECT_GT(decoded, 5000);
}

}  // namespace
}  // namespace bpfvm::isa
