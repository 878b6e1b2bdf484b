// A 1,000-instruction program for measuring JIT compile time (bench/interpreter_bench.cpp and
// the timing harness bench/compare_runner.cpp).
#pragma once

#include <vector>

#include "isa/insn.hpp"

namespace bpfvm::bench {

// 1,000 instructions mixing ALU operations (division included), stack loads and stores, forward
// branches and loads through r1.
inline std::vector<isa::Insn> thousand_instructions() {
  using isa::Op;
  std::vector<isa::Insn> p;
  for (uint8_t r = 0; r <= 9; ++r) p.push_back(isa::make_insn(Op::Mov64Imm, r, 0, 0, r * 7 + 1));
  const Op alu[] = {Op::Add64Reg, Op::Sub64Imm, Op::Mul64Reg, Op::Xor32Reg, Op::Lsh64Imm, Op::Rsh32Reg,
                    Op::Div64Reg, Op::Mod32Imm, Op::And64Imm, Op::Arsh64Reg};
  std::size_t k = 0;
  while (p.size() < 999) {
    const auto dst = static_cast<uint8_t>(k % 10), src = static_cast<uint8_t>((k * 3 + 1) % 10);
    switch (k % 8) {
      case 0: case 1: case 2: case 3: p.push_back(isa::make_insn(alu[k % 10], dst, src, 0, 3)); break;
      case 4: p.push_back(isa::make_insn(Op::StxDW, 10, src, static_cast<int16_t>(-8 * (1 + k % 60)))); break;
      case 5: p.push_back(isa::make_insn(Op::LdxW, dst, 10, static_cast<int16_t>(-8 * (1 + k % 60)))); break;
      case 6: p.push_back(isa::make_insn(Op::JgtReg, dst, src, 1)); break;
      default: p.push_back(isa::make_insn(Op::LdxB, dst, 1, static_cast<int16_t>(k % 16))); break;
    }
    ++k;
  }
  p.push_back(isa::make_insn(Op::Exit));
  return p;
}

}  // namespace bpfvm::bench
