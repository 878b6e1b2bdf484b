// bpfvm's view of the eBPF instruction set, generated from opcodes.def.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace bpfvm::isa {

enum class Op : uint8_t {
#define BPFVM_OP(Name, ...) Name,
#include "isa/opcodes.def"
#undef BPFVM_OP
  // Not an operation: the second slot of a 64-bit immediate load. Never executed.
  LdImm64Tail,
};

inline constexpr std::size_t kOpCount = static_cast<std::size_t>(Op::LdImm64Tail);

// Which field, besides the opcode byte, selects the row.
enum class Match : uint8_t { kNone, kOff, kImm, kSrc };

enum class Kind : uint8_t {
  kAlu, kMovSx, kNeg, kEnd, kBswap,
  kJmpCond, kJa, kGotol, kMayGoto,
  kCallHelper, kCallLocal, kCallKfunc, kCallx, kExit,
  kLoad, kLoadSx, kStore, kStoreReg, kAtomic,
  kLdImm64, kLdAbs, kLdInd,
  kTail,  // the second slot of an ld_imm64: data, not an operation
};

// Opcode fields, values of <linux/bpf.h> (some are newer than the headers Debian ships).
namespace code {
inline constexpr uint8_t kLd = 0x00, kLdx = 0x01, kSt = 0x02, kStx = 0x03, kAlu = 0x04,
                         kJmp = 0x05, kJmp32 = 0x06, kAlu64 = 0x07;
inline constexpr uint8_t kSrcX = 0x08;
inline constexpr uint8_t kMov = 0xb0, kDiv = 0x30, kMod = 0x90, kAnd = 0x50, kRsh = 0x70, kJcond = 0xe0;
inline constexpr uint8_t kFetch = 0x01, kXchg = 0xe1, kCmpxchg = 0xf1;
}  // namespace code

struct OpInfo {
  Op op;
  std::string_view name;      // enumerator name, e.g. "Add64Imm"
  uint8_t code;               // opcode byte
  Match match;
  int32_t match_value;
  Kind kind;
  std::string_view mnemonic;  // conformance dialect
  bool kernel;                // accepted by Linux's bpf_opcode_in_insntable

  [[nodiscard]] constexpr uint8_t cls() const { return code & 0x07; }
  [[nodiscard]] constexpr bool reg_source() const { return (code & code::kSrcX) != 0; }
  // BPF_OP nibble of ALU/JMP opcodes (BPF_ADD, BPF_JEQ, ...).
  [[nodiscard]] constexpr uint8_t op_bits() const { return code & 0xf0; }
  // 64-bit ALU or JMP (as opposed to ALU32 / JMP32).
  [[nodiscard]] constexpr bool is64() const {
    return cls() == code::kAlu64 || cls() == code::kJmp || code == 0xdb;
  }
  // Access size in bytes of memory operations (LD/LDX/ST/STX/atomics).
  [[nodiscard]] constexpr unsigned mem_size() const {
    switch (code & 0x18) {
      case 0x00: return 4;
      case 0x08: return 2;
      case 0x10: return 1;
      default: return 8;
    }
  }
  [[nodiscard]] constexpr bool is_mem() const {
    return kind == Kind::kLoad || kind == Kind::kLoadSx || kind == Kind::kStore ||
           kind == Kind::kStoreReg || kind == Kind::kAtomic || kind == Kind::kLdAbs ||
           kind == Kind::kLdInd;
  }
  [[nodiscard]] constexpr bool is_jump() const {
    return kind == Kind::kJmpCond || kind == Kind::kJa || kind == Kind::kGotol ||
           kind == Kind::kMayGoto;
  }
};

inline constexpr std::array<OpInfo, kOpCount> kOps = {{
#define BPFVM_OP(Name, code_, match_, value_, kind_, mnemonic_, kernel_) \
  OpInfo{Op::Name, #Name, static_cast<uint8_t>(code_), Match::match_, value_, Kind::kind_, mnemonic_, kernel_},
#include "isa/opcodes.def"
#undef BPFVM_OP
}};

inline constexpr OpInfo kTailInfo{Op::LdImm64Tail, "LdImm64Tail", 0x00, Match::kNone, 0, Kind::kTail, "", true};

[[nodiscard]] constexpr const OpInfo& info(Op op) {
  return op == Op::LdImm64Tail ? kTailInfo : kOps[static_cast<std::size_t>(op)];
}

// The rows that share an opcode byte, in table order (empty span: unknown opcode).
[[nodiscard]] std::span<const Op> rows_for_code(uint8_t opcode);

// Whether Linux accepts this opcode byte at all (bpf_opcode_in_insntable).
[[nodiscard]] bool kernel_knows_code(uint8_t opcode);

}  // namespace bpfvm::isa
