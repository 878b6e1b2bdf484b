// Malformed bytecode gets a clear error naming the instruction, with the kernel's words.
#include <gtest/gtest.h>

#include "isa/insn.hpp"

namespace bpfvm::isa {
namespace {

std::vector<RawInsn> prog(std::initializer_list<RawInsn> insns) { return insns; }
RawInsn raw(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  return RawInsn::make(code, dst, src, off, imm);
}
const RawInsn kExit = raw(0x95, 0, 0, 0, 0);

void expect_error(const std::vector<RawInsn>& p, std::size_t insn, const std::string& message,
                  DecodeOptions options = {}) {
  auto result = decode_program(p, options);
  ASSERT_FALSE(result.ok()) << "expected: " << message;
  EXPECT_EQ(result.error().message, message);
  ASSERT_TRUE(result.error().insn.has_value());
  EXPECT_EQ(*result.error().insn, insn);
}

TEST(Decode, TruncatedProgram) {
  const uint8_t bytes[] = {0xb7, 0, 0, 0, 42, 0, 0, 0, 0x95, 0, 0};
  auto raw_insns = raw_from_bytes(bytes);
  ASSERT_FALSE(raw_insns.ok());
  EXPECT_EQ(raw_insns.error().message,
            "program is 11 bytes, not a whole number of 8-byte instructions (3 trailing bytes at offset 8)");
}

TEST(Decode, EmptyProgram) {
  auto result = decode_program({});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message, "program has no instructions");
}

TEST(Decode, UnknownOpcode) {
  expect_error(prog({raw(0xb7, 0, 0, 0, 0), raw(0xff, 0, 0, 0, 0), kExit}), 1, "unknown opcode ff");
  expect_error(prog({raw(0x8c, 0, 0, 0, 0), kExit}), 0, "unknown opcode 8c");
  // callx is bpfvm's; Linux does not know it.
  EXPECT_TRUE(decode_program(prog({raw(0xb7, 2, 0, 0, 5), raw(0x8d, 2, 0, 0, 0), kExit})).ok());
  expect_error(prog({raw(0xb7, 2, 0, 0, 5), raw(0x8d, 2, 0, 0, 0), kExit}), 1, "unknown opcode 8d",
               DecodeOptions{.linux_compatible = true});
}

TEST(Decode, BadRegister) {
  expect_error(prog({raw(0xb7, 11, 0, 0, 0), kExit}), 0, "R11 is invalid");
  expect_error(prog({raw(0xbf, 0, 15, 0, 0), kExit}), 0, "R15 is invalid");
}

TEST(Decode, FramePointerIsReadOnly) {
  expect_error(prog({raw(0x07, 10, 0, 0, 8), kExit}), 0, "frame pointer is read only");
  expect_error(prog({raw(0x79, 10, 1, 0, 0), kExit}), 0, "frame pointer is read only");
  // Fetching atomics write their source register.
  expect_error(prog({raw(0xdb, 1, 10, 0, 0x01), kExit}), 0, "frame pointer is read only");
  // Reading r10 is fine.
  EXPECT_TRUE(decode_program(prog({raw(0xbf, 1, 10, 0, 0), raw(0xb7, 0, 0, 0, 0), kExit})).ok());
}

TEST(Decode, BadLdImm64) {
  // Missing second half.
  expect_error(prog({kExit, raw(0x18, 0, 0, 0, 1)}), 1, "invalid bpf_ld_imm64 insn");
  // Second half with a non-zero opcode / registers / offset.
  expect_error(prog({raw(0x18, 0, 0, 0, 1), raw(0x95, 0, 0, 0, 0), kExit}), 0, "invalid bpf_ld_imm64 insn");
  expect_error(prog({raw(0x18, 0, 0, 0, 1), raw(0, 1, 0, 0, 0), kExit}), 0, "invalid bpf_ld_imm64 insn");
  expect_error(prog({raw(0x18, 0, 0, 0, 1), raw(0, 0, 0, 1, 0), kExit}), 0, "invalid bpf_ld_imm64 insn");
  // Unknown pseudo source, and a map fd with a non-zero upper half.
  expect_error(prog({raw(0x18, 0, 7, 0, 1), raw(0, 0, 0, 0, 0), kExit}), 0, "unrecognized bpf_ld_imm64 insn");
  expect_error(prog({raw(0x18, 1, 1, 0, 3), raw(0, 0, 0, 0, 1), kExit}), 0, "unrecognized bpf_ld_imm64 insn");
  expect_error(prog({raw(0x18, 0, 0, 1, 1), raw(0, 0, 0, 0, 0), kExit}), 0, "BPF_LD_IMM64 uses reserved fields");
}

TEST(Decode, JumpOutOfRange) {
  expect_error(prog({raw(0x05, 0, 0, 5, 0), kExit}), 0, "jump out of range from insn 0 to 6");
  expect_error(prog({raw(0x05, 0, 0, -2, 0), kExit}), 0, "jump out of range from insn 0 to -1");
  expect_error(prog({raw(0x06, 0, 0, 0, 9), kExit}), 0, "jump out of range from insn 0 to 10");
  expect_error(prog({raw(0x15, 1, 0, 3, 0), raw(0xb7, 0, 0, 0, 0), kExit}), 0, "jump out of range from insn 0 to 4");
  expect_error(prog({raw(0x85, 0, 1, 0, 7), kExit}), 0, "call to invalid destination");
}

TEST(Decode, JumpIntoLdImm64) {
  expect_error(prog({raw(0x05, 0, 0, 1, 0), raw(0x18, 0, 0, 0, 1), raw(0, 0, 0, 0, 0), kExit}), 0,
               "jump into the middle of ldimm64 insn 1");
}

TEST(Decode, LastInsnMustExitOrJump) {
  expect_error(prog({raw(0xb7, 0, 0, 0, 0)}), 0, "last insn is not an exit or jmp");
  EXPECT_TRUE(decode_program(prog({raw(0xb7, 0, 0, 0, 0), kExit, raw(0x05, 0, 0, -2, 0)})).ok());
}

TEST(Decode, ReservedFieldsUseTheKernelsMessages) {
  struct Case {
    RawInsn insn;
    const char* message;
  };
  const Case cases[] = {
      {raw(0x07, 0, 1, 0, 1), "BPF_ALU uses reserved fields"},        // add K with src
      {raw(0x0f, 0, 1, 0, 1), "BPF_ALU uses reserved fields"},        // add X with imm
      {raw(0x07, 0, 0, 1, 1), "BPF_ALU uses reserved fields"},        // add with off=1 (only div/mod)
      {raw(0xb7, 0, 0, 1, 1), "BPF_MOV uses reserved fields"},        // mov K with off
      {raw(0xbc, 0, 1, 32, 0), "BPF_MOV uses reserved fields"},       // movsx32 from 32 bits
      {raw(0x87, 0, 0, 0, 1), "BPF_NEG uses reserved fields"},
      {raw(0xdc, 0, 0, 0, 8), "BPF_END uses reserved fields"},
      {raw(0xd7, 0, 0, 1, 16), "BPF_END uses reserved fields"},
      {raw(0x15, 0, 1, 0, 0), "BPF_JMP/JMP32 uses reserved fields"},
      {raw(0x1d, 0, 1, 0, 1), "BPF_JMP/JMP32 uses reserved fields"},
      {raw(0x05, 1, 0, 0, 0), "BPF_JA uses reserved fields"},
      {raw(0x06, 0, 0, 1, 0), "BPF_JA uses reserved fields"},
      {raw(0x85, 0, 3, 0, 1), "BPF_CALL uses reserved fields"},
      {raw(0x85, 1, 0, 0, 1), "BPF_CALL uses reserved fields"},
      {raw(0x95, 0, 0, 0, 1), "BPF_EXIT uses reserved fields"},
      {raw(0x61, 0, 1, 0, 1), "BPF_LDX uses reserved fields"},
      {raw(0x62, 1, 2, 0, 1), "BPF_ST uses reserved fields"},
      {raw(0x63, 1, 2, 0, 1), "BPF_STX uses reserved fields"},
      {raw(0xdb, 1, 2, 0, 0x10), "BPF_ATOMIC uses invalid atomic opcode 10"},
      {raw(0x20, 1, 0, 0, 1), "BPF_LD_[ABS|IND] uses reserved fields"},
  };
  for (const Case& c : cases) {
    expect_error(prog({c.insn, kExit}), 0, c.message);
  }
}

TEST(Decode, DecodedFormKeepsTheOperands) {
  auto insns = decode_program(prog({raw(0x18, 3, 2, 0, 5), raw(0, 0, 0, 0, 16), raw(0xbf, 1, 2, 16, 0), kExit}));
  ASSERT_TRUE(insns.ok()) << insns.error().to_string();
  ASSERT_EQ(insns->size(), 4u);
  EXPECT_EQ((*insns)[0].op, Op::LdMapValue);
  EXPECT_EQ((*insns)[0].imm, 5);
  EXPECT_EQ((*insns)[0].imm_hi(), 16u);
  EXPECT_EQ((*insns)[1].op, Op::LdImm64Tail);
  EXPECT_EQ((*insns)[2].op, Op::Movsx16To64);
  EXPECT_EQ((*insns)[2].dst, 1);
  EXPECT_EQ((*insns)[2].src, 2);
}

}  // namespace
}  // namespace bpfvm::isa
