// Direct encodings of the x86-64 forms the lowering emits most: register-register and
// register-immediate ALU operations, moves, loads and stores at base + displacement, shifts by
// a constant, and jumps. asmjit's generic encoder (operand signatures, instruction tables)
// was a third of the compile time; these write the bytes straight away, and the lowering
// hands them to the assembler as data (BaseEmitter::embed). Everything else still goes
// through asmjit. tests/jit/encoder_test.cpp checks every form, byte for byte, against asmjit.
//
// Registers are hardware numbers (asmjit's Gp ids: rax 0 ... r15 15).
#pragma once

#include <cstdint>
#include <cstring>

namespace bpfvm::jit::detail::enc {

// At most one instruction (15 bytes).
struct Bytes {
  uint8_t b[16] = {};
  uint8_t n = 0;
  void put(uint8_t x) { b[n++] = x; }
  void put32(int32_t v) {
    std::memcpy(b + n, &v, 4);
    n += 4;
  }
};

// Two-operand ALU opcodes (the `op r/m, r` form) and their /digit in the 0x81/0x83 forms.
enum class Alu : uint8_t { kAdd = 0, kOr = 1, kAnd = 4, kSub = 5, kXor = 6, kCmp = 7 };

inline bool fits8(int64_t v) { return v >= -128 && v <= 127; }

// REX with W, R (bit 3 of ModRM.reg) and B (bit 3 of ModRM.rm or the base); `byte_reg` names
// a byte register operand, whose ids 4-7 mean spl/bpl/sil/dil only with a REX prefix.
inline void rex(Bytes& o, bool w, unsigned reg, unsigned rm, bool byte_reg = false) {
  const uint8_t r = static_cast<uint8_t>(0x40 | (w ? 8 : 0) | ((reg >> 3) & 1) << 2 | ((rm >> 3) & 1));
  if (r != 0x40 || (byte_reg && reg >= 4)) o.put(r);
}

inline void modrm_reg(Bytes& o, unsigned reg, unsigned rm) {
  o.put(static_cast<uint8_t>(0xc0 | (reg & 7) << 3 | (rm & 7)));
}

// [base + disp]: rsp and r12 need a SIB byte; rbp and r13 have no form without displacement.
inline void modrm_mem(Bytes& o, unsigned reg, unsigned base, int32_t disp) {
  const unsigned b = base & 7;
  const uint8_t mod = disp == 0 && b != 5 ? 0x00 : fits8(disp) ? 0x40 : 0x80;
  o.put(static_cast<uint8_t>(mod | (reg & 7) << 3 | b));
  if (b == 4) o.put(0x24);
  if (mod == 0x40) o.put(static_cast<uint8_t>(static_cast<int8_t>(disp)));
  else if (mod == 0x80) o.put32(disp);
}

// op dst, src (both 32 or 64 bits).
inline Bytes alu_rr(Alu op, bool w, unsigned dst, unsigned src) {
  Bytes o;
  rex(o, w, src, dst);
  o.put(static_cast<uint8_t>(static_cast<uint8_t>(op) << 3 | 0x01));
  modrm_reg(o, src, dst);
  return o;
}

inline Bytes mov_rr(bool w, unsigned dst, unsigned src) {
  Bytes o;
  rex(o, w, src, dst);
  o.put(0x89);
  modrm_reg(o, src, dst);
  return o;
}

inline Bytes test_rr(bool w, unsigned a, unsigned b) {
  Bytes o;
  rex(o, w, b, a);
  o.put(0x85);
  modrm_reg(o, b, a);
  return o;
}

// op dst, [base + disp] (both 32 or 64 bits).
inline Bytes alu_rm(Alu op, bool w, unsigned dst, unsigned base, int32_t disp) {
  Bytes o;
  rex(o, w, dst, base);
  o.put(static_cast<uint8_t>(static_cast<uint8_t>(op) << 3 | 0x03));
  modrm_mem(o, dst, base, disp);
  return o;
}

// lea dst, [base + disp] (64-bit).
inline Bytes lea(unsigned dst, unsigned base, int32_t disp) {
  Bytes o;
  rex(o, true, dst, base);
  o.put(0x8d);
  modrm_mem(o, dst, base, disp);
  return o;
}

// op dst, imm (sign-extended imm8 when it fits; rax has a shorter imm32 form).
inline Bytes alu_ri(Alu op, bool w, unsigned dst, int32_t imm) {
  Bytes o;
  rex(o, w, 0, dst);
  if (fits8(imm)) {
    o.put(0x83);
    modrm_reg(o, static_cast<unsigned>(op), dst);
    o.put(static_cast<uint8_t>(static_cast<int8_t>(imm)));
  } else if (dst == 0) {
    o.put(static_cast<uint8_t>(static_cast<uint8_t>(op) << 3 | 0x05));
    o.put32(imm);
  } else {
    o.put(0x81);
    modrm_reg(o, static_cast<unsigned>(op), dst);
    o.put32(imm);
  }
  return o;
}

// mov r32, imm32 (zero-extends); mov r64, simm32 (sign-extends).
inline Bytes mov_ri32(unsigned dst, uint32_t imm) {
  Bytes o;
  rex(o, false, 0, dst);
  o.put(static_cast<uint8_t>(0xb8 | (dst & 7)));
  o.put32(static_cast<int32_t>(imm));
  return o;
}
inline Bytes mov_ri64_sx(unsigned dst, int32_t imm) {
  Bytes o;
  rex(o, true, 0, dst);
  o.put(0xc7);
  modrm_reg(o, 0, dst);
  o.put32(imm);
  return o;
}

// shl/shr/sar dst, count (1 to 63).
enum class Shift : uint8_t { kShl = 4, kShr = 5, kSar = 7 };
inline Bytes shift_ri(Shift op, bool w, unsigned dst, uint8_t count) {
  Bytes o;
  rex(o, w, 0, dst);
  o.put(count == 1 ? 0xd1 : 0xc1);
  modrm_reg(o, static_cast<unsigned>(op), dst);
  if (count != 1) o.put(count);
  return o;
}

// imul dst, src.
inline Bytes imul_rr(bool w, unsigned dst, unsigned src) {
  Bytes o;
  rex(o, w, dst, src);
  o.put(0x0f);
  o.put(0xaf);
  modrm_reg(o, dst, src);
  return o;
}

// imul dst, src, imm (imm8 sign-extended when it fits, else imm32).
inline Bytes imul_rri(bool w, unsigned dst, unsigned src, int32_t imm) {
  Bytes o;
  rex(o, w, dst, src);
  if (fits8(imm)) {
    o.put(0x6b);
    modrm_reg(o, dst, src);
    o.put(static_cast<uint8_t>(static_cast<int8_t>(imm)));
  } else {
    o.put(0x69);
    modrm_reg(o, dst, src);
    o.put32(imm);
  }
  return o;
}

// shlx/shrx/sarx dst, src, count (BMI2; VEX.LZ.0F38 F7 /r, the prefix 66/F2/F3 picking the
// shift, count in VEX.vvvv).
inline Bytes shift_x(Shift op, bool w, unsigned dst, unsigned src, unsigned count) {
  Bytes o;
  const uint8_t pp = op == Shift::kShl ? 1 : op == Shift::kShr ? 3 : 2;
  o.put(0xc4);
  o.put(static_cast<uint8_t>((((dst >> 3) & 1) ^ 1) << 7 | 1 << 6 | (((src >> 3) & 1) ^ 1) << 5 | 0x02));
  o.put(static_cast<uint8_t>((w ? 0x80 : 0) | ((~count & 15) << 3) | pp));
  o.put(0xf7);
  modrm_reg(o, dst, src);
  return o;
}

// Loads that zero-extend to 64 bits: movzx r32 for 1 and 2 bytes, mov r32 for 4, mov r64.
inline Bytes load(unsigned size, unsigned dst, unsigned base, int32_t disp) {
  Bytes o;
  rex(o, size == 8, dst, base);
  if (size == 1 || size == 2) {
    o.put(0x0f);
    o.put(size == 1 ? 0xb6 : 0xb7);
  } else {
    o.put(0x8b);
  }
  modrm_mem(o, dst, base, disp);
  return o;
}

// mov [base + disp], src (its low `size` bytes).
inline Bytes store(unsigned size, unsigned base, int32_t disp, unsigned src) {
  Bytes o;
  if (size == 2) o.put(0x66);
  rex(o, size == 8, src, base, size == 1);
  o.put(size == 1 ? 0x88 : 0x89);
  modrm_mem(o, src, base, disp);
  return o;
}

// mov size ptr [base + disp], imm (8 bytes: imm32 sign-extended).
inline Bytes store_imm(unsigned size, unsigned base, int32_t disp, int32_t imm) {
  Bytes o;
  if (size == 2) o.put(0x66);
  rex(o, size == 8, 0, base);
  o.put(size == 1 ? 0xc6 : 0xc7);
  modrm_mem(o, 0, base, disp);
  if (size == 1) {
    o.put(static_cast<uint8_t>(imm));
  } else if (size == 2) {
    o.put(static_cast<uint8_t>(imm));
    o.put(static_cast<uint8_t>(imm >> 8));
  } else {
    o.put32(imm);
  }
  return o;
}

// Jumps by `rel` bytes from the end of the instruction; `cc` is the condition's encoding
// (asmjit's CondCode values are the hardware's). The rel32 forms' displacement is the last
// four bytes (patched later for forward jumps).
inline Bytes jcc_rel8(unsigned cc, int8_t rel) {
  Bytes o;
  o.put(static_cast<uint8_t>(0x70 | cc));
  o.put(static_cast<uint8_t>(rel));
  return o;
}
inline Bytes jcc_rel32(unsigned cc, int32_t rel) {
  Bytes o;
  o.put(0x0f);
  o.put(static_cast<uint8_t>(0x80 | cc));
  o.put32(rel);
  return o;
}
inline Bytes jmp_rel8(int8_t rel) {
  Bytes o;
  o.put(0xeb);
  o.put(static_cast<uint8_t>(rel));
  return o;
}
inline Bytes jmp_rel32(int32_t rel) {
  Bytes o;
  o.put(0xe9);
  o.put32(rel);
  return o;
}
inline Bytes call_rel32(int32_t rel) {
  Bytes o;
  o.put(0xe8);
  o.put32(rel);
  return o;
}

}  // namespace bpfvm::jit::detail::enc
