// Instructions: the raw 8-byte form (struct bpf_insn) and the decoded, typed form.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "isa/opcodes.hpp"
#include "support/result.hpp"

namespace bpfvm::isa {

inline constexpr uint8_t kMaxReg = 10;      // r0..r10
inline constexpr uint8_t kFrameReg = 10;    // r10, read-only frame pointer
inline constexpr uint8_t kAuxReg = 11;      // BPF_REG_AX: only in kernel-rewritten code

// struct bpf_insn, little-endian layout: code, dst:4 | src:4, off, imm.
struct RawInsn {
  uint8_t code = 0;
  uint8_t regs = 0;
  int16_t off = 0;
  int32_t imm = 0;

  [[nodiscard]] constexpr uint8_t dst() const { return regs & 0x0f; }
  [[nodiscard]] constexpr uint8_t src() const { return regs >> 4; }
  static constexpr RawInsn make(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    return RawInsn{code, static_cast<uint8_t>((dst & 0x0f) | (src << 4)), off, imm};
  }
  friend constexpr bool operator==(const RawInsn&, const RawInsn&) = default;
};
static_assert(sizeof(RawInsn) == 8);

// A decoded instruction: the operation and its operands. A 64-bit immediate load occupies two
// slots; the first holds the whole immediate in imm64, the second is Op::LdImm64Tail.
struct Insn {
  Op op = Op::Exit;
  uint8_t dst = 0;
  uint8_t src = 0;
  int16_t off = 0;
  int32_t imm = 0;
  uint64_t imm64 = 0;  // LdImm64 family: (next.imm << 32) | (uint32)imm

  [[nodiscard]] constexpr const OpInfo& info() const { return isa::info(op); }
  [[nodiscard]] constexpr uint32_t imm_hi() const { return static_cast<uint32_t>(imm64 >> 32); }
  friend constexpr bool operator==(const Insn&, const Insn&) = default;
};

struct DecodeOptions {
  // Judge as Linux does: reject the opcodes it does not know ("unknown opcode 8d" for callx)
  // and accept the unused fields it does not check (an exit's offset). By default bpfvm
  // follows RFC 9669, which requires every unused field to be zero.
  bool linux_compatible = false;
  // Accept r11, the auxiliary register (BPF_REG_AX) Linux uses in the code it rewrites;
  // for reading back a kernel's translated ("xlated") instructions, never for programs.
  bool allow_aux_register = false;
};

// Bytes <-> raw instructions. The byte count must be a multiple of 8.
[[nodiscard]] Result<std::vector<RawInsn>> raw_from_bytes(std::span<const uint8_t> bytes);
[[nodiscard]] std::vector<uint8_t> bytes_from_raw(std::span<const RawInsn> raw);

// Decodes and validates each instruction on its own: known opcode, reserved fields zero,
// registers r0..r10, complete ld_imm64, no write to r10. Errors carry the instruction index
// and the kernel's message where it has one.
[[nodiscard]] Result<std::vector<Insn>> decode(std::span<const RawInsn> raw, DecodeOptions options = {});

// Checks what makes a program safe to walk: not empty, every jump and local call lands on an
// instruction (not past the end, not inside an ld_imm64), last instruction an exit or a jump.
[[nodiscard]] Status check_control_flow(std::span<const Insn> insns);

// decode + check_control_flow.
[[nodiscard]] Result<std::vector<Insn>> decode_program(std::span<const RawInsn> raw, DecodeOptions options = {});

// Inverse of decode: decode(encode(x)) == x for every valid x.
[[nodiscard]] std::vector<RawInsn> encode(std::span<const Insn> insns);

// Builds the decoded form of an operation from operands (fields the operation does not use
// must be zero; the discriminating field is filled from the table).
[[nodiscard]] Insn make_insn(Op op, uint8_t dst = 0, uint8_t src = 0, int16_t off = 0, int32_t imm = 0,
                             uint64_t imm64 = 0);

// Target of a jump or local call at pc, or nullopt for other instructions. Inline: the
// JIT's passes ask it of every instruction, and compile time counts.
[[nodiscard]] inline std::optional<int64_t> branch_target(const Insn& insn, std::size_t pc) {
  const int64_t next = static_cast<int64_t>(pc) + 1;
  switch (insn.info().kind) {
    case Kind::kJmpCond: case Kind::kJa: case Kind::kMayGoto: return next + insn.off;
    case Kind::kGotol: case Kind::kCallLocal: return next + insn.imm;
    default: return std::nullopt;
  }
}

}  // namespace bpfvm::isa
