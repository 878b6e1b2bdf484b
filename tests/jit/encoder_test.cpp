// The JIT's direct encodings (src/exec/jit/x86_64/encoder.hpp), byte for byte against
// asmjit's encoder, for every register and the displacements and immediates where the
// encoding changes (0, 8-bit, 32-bit; rbp/r13 and rsp/r12 bases).
#include <asmjit/x86.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "exec/jit/x86_64/encoder.hpp"

namespace bpfvm::jit::detail::enc {
namespace {

namespace x86 = asmjit::x86;

std::string hex(const uint8_t* p, std::size_t n) {
  std::string s;
  for (std::size_t k = 0; k < n; ++k) s += fmt::format("{:02x} ", p[k]);
  return s;
}

// The bytes asmjit emits for one instruction.
std::string asmjit_bytes(const std::function<void(x86::Assembler&)>& emit) {
  asmjit::CodeHolder code;
  code.init(asmjit::Environment::host());
  x86::Assembler a(&code);
  emit(a);
  const asmjit::CodeBuffer& buf = code.textSection()->buffer();
  return hex(buf.data(), buf.size());
}

std::string ours(const Bytes& b) { return hex(b.b, b.n); }

const int32_t kImmediates[] = {0, 1, -1, 127, -128, 128, -129, 0x7fffffff, INT32_MIN, 0x12345};
const int32_t kDisplacements[] = {0, 8, -8, 127, -128, 128, -129, -512, 0x7fffffff, INT32_MIN};

x86::Gp gp(bool w, unsigned id) { return w ? x86::Gp(x86::gpq(id)) : x86::Gp(x86::gpd(id)); }

x86::Inst::Id alu_id(Alu op) {
  switch (op) {
    case Alu::kAdd: return x86::Inst::kIdAdd;
    case Alu::kOr: return x86::Inst::kIdOr;
    case Alu::kAnd: return x86::Inst::kIdAnd;
    case Alu::kSub: return x86::Inst::kIdSub;
    case Alu::kXor: return x86::Inst::kIdXor;
    case Alu::kCmp: return x86::Inst::kIdCmp;
  }
  return x86::Inst::kIdNone;
}

constexpr Alu kAlus[] = {Alu::kAdd, Alu::kOr, Alu::kAnd, Alu::kSub, Alu::kXor, Alu::kCmp};

TEST(JitEncoder, RegisterRegisterFormsAsAsmjit) {
  for (bool w : {false, true}) {
    for (unsigned d = 0; d < 16; ++d) {
      for (unsigned s = 0; s < 16; ++s) {
        for (Alu op : kAlus) {
          EXPECT_EQ(ours(alu_rr(op, w, d, s)), asmjit_bytes([&](x86::Assembler& a) { a.emit(alu_id(op), gp(w, d), gp(w, s)); }))
              << static_cast<int>(op) << " " << d << ", " << s << " w" << w;
        }
        EXPECT_EQ(ours(mov_rr(w, d, s)), asmjit_bytes([&](x86::Assembler& a) { a.mov(gp(w, d), gp(w, s)); }));
        EXPECT_EQ(ours(test_rr(w, d, s)), asmjit_bytes([&](x86::Assembler& a) { a.test(gp(w, d), gp(w, s)); }));
        EXPECT_EQ(ours(imul_rr(w, d, s)), asmjit_bytes([&](x86::Assembler& a) { a.imul(gp(w, d), gp(w, s)); }));
        for (int32_t imm : kImmediates) {
          EXPECT_EQ(ours(imul_rri(w, d, s, imm)),
                    asmjit_bytes([&](x86::Assembler& a) { a.imul(gp(w, d), gp(w, s), imm); }))
              << d << ", " << s << ", " << imm;
        }
        for (unsigned c = 0; c < 16; ++c) {
          EXPECT_EQ(ours(shift_x(Shift::kShl, w, d, s, c)),
                    asmjit_bytes([&](x86::Assembler& a) { a.shlx(gp(w, d), gp(w, s), gp(w, c)); }));
          EXPECT_EQ(ours(shift_x(Shift::kShr, w, d, s, c)),
                    asmjit_bytes([&](x86::Assembler& a) { a.shrx(gp(w, d), gp(w, s), gp(w, c)); }));
          EXPECT_EQ(ours(shift_x(Shift::kSar, w, d, s, c)),
                    asmjit_bytes([&](x86::Assembler& a) { a.sarx(gp(w, d), gp(w, s), gp(w, c)); }))
              << d << ", " << s << ", " << c << " w" << w;
        }
      }
    }
  }
}

TEST(JitEncoder, RegisterImmediateFormsAsAsmjit) {
  for (bool w : {false, true}) {
    for (unsigned d = 0; d < 16; ++d) {
      for (int32_t imm : kImmediates) {
        for (Alu op : kAlus) {
          EXPECT_EQ(ours(alu_ri(op, w, d, imm)), asmjit_bytes([&](x86::Assembler& a) { a.emit(alu_id(op), gp(w, d), imm); }))
              << static_cast<int>(op) << " " << d << ", " << imm << " w" << w;
        }
      }
      for (uint8_t count : {1, 2, 31, 32, 63}) {
        if (!w && count > 31) continue;
        EXPECT_EQ(ours(shift_ri(Shift::kShl, w, d, count)), asmjit_bytes([&](x86::Assembler& a) { a.shl(gp(w, d), count); }));
        EXPECT_EQ(ours(shift_ri(Shift::kShr, w, d, count)), asmjit_bytes([&](x86::Assembler& a) { a.shr(gp(w, d), count); }));
        EXPECT_EQ(ours(shift_ri(Shift::kSar, w, d, count)), asmjit_bytes([&](x86::Assembler& a) { a.sar(gp(w, d), count); }));
      }
    }
  }
  for (unsigned d = 0; d < 16; ++d) {
    for (int32_t imm : kImmediates) {
      EXPECT_EQ(ours(mov_ri32(d, static_cast<uint32_t>(imm))),
                asmjit_bytes([&](x86::Assembler& a) { a.mov(x86::gpd(d), static_cast<uint32_t>(imm)); }));
      if (imm < 0) {  // asmjit picks this form for negative 64-bit immediates that fit 32 bits
        EXPECT_EQ(ours(mov_ri64_sx(d, imm)),
                  asmjit_bytes([&](x86::Assembler& a) { a.mov(x86::gpq(d), static_cast<int64_t>(imm)); }));
      }
    }
  }
}

TEST(JitEncoder, LoadsAndStoresAsAsmjit) {
  for (unsigned base = 0; base < 16; ++base) {
    for (unsigned r = 0; r < 16; ++r) {
      for (int32_t disp : kDisplacements) {
        for (unsigned size : {1u, 2u, 4u, 8u}) {
          const x86::Mem m = x86::ptr(x86::gpq(base), disp, size);
          EXPECT_EQ(ours(load(size, r, base, disp)), asmjit_bytes([&](x86::Assembler& a) {
                      if (size <= 2) a.movzx(x86::gpd(r), m);
                      else if (size == 4) a.mov(x86::gpd(r), m);
                      else a.mov(x86::gpq(r), m);
                    })) << "load " << size << " r" << r << " base " << base << " " << disp;
          const x86::Gp src = size == 1 ? x86::Gp(x86::gpb(r)) : size == 2 ? x86::Gp(x86::gpw(r))
                                                            : size == 4 ? x86::Gp(x86::gpd(r)) : x86::Gp(x86::gpq(r));
          EXPECT_EQ(ours(store(size, base, disp, r)), asmjit_bytes([&](x86::Assembler& a) { a.mov(m, src); }))
              << "store " << size << " r" << r << " base " << base << " " << disp;
        }
      }
    }
    for (unsigned r = 0; r < 16; ++r) {
      for (int32_t disp : kDisplacements) {
        const x86::Mem m = x86::ptr(x86::gpq(base), disp);
        EXPECT_EQ(ours(lea(r, base, disp)), asmjit_bytes([&](x86::Assembler& a) { a.lea(x86::gpq(r), m); }))
            << "lea r" << r << " base " << base << " " << disp;
        for (bool w : {false, true}) {
          for (Alu op : kAlus) {
            EXPECT_EQ(ours(alu_rm(op, w, r, base, disp)),
                      asmjit_bytes([&](x86::Assembler& a) { a.emit(alu_id(op), gp(w, r), x86::ptr(x86::gpq(base), disp, w ? 8 : 4)); }))
                << static_cast<int>(op) << " r" << r << ", [base " << base << " " << disp << "] w" << w;
          }
        }
      }
    }
    for (int32_t disp : kDisplacements) {
      for (int32_t imm : kImmediates) {
        for (unsigned size : {1u, 2u, 4u, 8u}) {
          const int32_t v = size == 1 ? static_cast<int8_t>(imm) : size == 2 ? static_cast<int16_t>(imm) : imm;
          EXPECT_EQ(ours(store_imm(size, base, disp, v)),
                    asmjit_bytes([&](x86::Assembler& a) { a.mov(x86::ptr(x86::gpq(base), disp, size), v); }))
              << "store imm " << size << " base " << base << " " << disp << " " << v;
        }
      }
    }
  }
}

// The bytes asmjit emits for a jump or call (emit) to a label bound `gap` bytes before it.
std::string asmjit_back_to_label(int gap, const std::function<void(x86::Assembler&, const asmjit::Label&)>& emit) {
  asmjit::CodeHolder code;
  code.init(asmjit::Environment::host());
  x86::Assembler a(&code);
  asmjit::Label l = a.newLabel();
  a.bind(l);
  for (int k = 0; k < gap; ++k) a.nop();
  const std::size_t at = a.offset();
  emit(a, l);
  const asmjit::CodeBuffer& buf = code.textSection()->buffer();
  return hex(buf.data() + at, buf.size() - at);
}

TEST(JitEncoder, JumpsAsAsmjit) {
  // A jump to a label bound right before it (rel8 and rel32 backward).
  for (unsigned cc = 0; cc < 16; ++cc) {
    for (int gap : {0, 100, 200}) {
      const int32_t rel8_back = -gap - 2, rel32_back = -gap - 6;
      EXPECT_EQ(fits8(rel8_back) ? ours(jcc_rel8(cc, static_cast<int8_t>(rel8_back))) : ours(jcc_rel32(cc, rel32_back)),
                asmjit_back_to_label(gap, [&](x86::Assembler& a, const asmjit::Label& l) {
                  a.j(static_cast<x86::CondCode>(cc), l);
                }))
          << cc << " " << gap;
      const int32_t jmp8 = -gap - 2, jmp32 = -gap - 5;
      EXPECT_EQ(fits8(jmp8) ? ours(jmp_rel8(static_cast<int8_t>(jmp8))) : ours(jmp_rel32(jmp32)),
                asmjit_back_to_label(gap, [](x86::Assembler& a, const asmjit::Label& l) { a.jmp(l); }))
          << gap;
    }
  }
}

TEST(JitEncoder, CallsAsAsmjit) {
  for (int gap : {0, 100, 70000}) {
    EXPECT_EQ(ours(call_rel32(-gap - 5)),
              asmjit_back_to_label(gap, [](x86::Assembler& a, const asmjit::Label& l) { a.call(l); }))
        << gap;
  }
}

}  // namespace
}  // namespace bpfvm::jit::detail::enc
