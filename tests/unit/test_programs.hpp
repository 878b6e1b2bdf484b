// Instructions for tests: one instance of every operation in the opcode table, with operands
// that exercise each field the operation uses.
#pragma once

#include <vector>

#include "isa/insn.hpp"

namespace bpfvm::test {

inline std::vector<isa::Insn> one_of_each_op() {
  using namespace bpfvm::isa;
  std::vector<Insn> out;
  for (const OpInfo& row : kOps) {
    const uint8_t dst = 3, src = 7;
    switch (row.kind) {
      case Kind::kAlu:
        out.push_back(row.reg_source() ? make_insn(row.op, dst, src) : make_insn(row.op, dst, 0, 0, -42));
        break;
      case Kind::kMovSx: out.push_back(make_insn(row.op, dst, src)); break;
      case Kind::kNeg: case Kind::kEnd: case Kind::kBswap: out.push_back(make_insn(row.op, dst)); break;
      case Kind::kJmpCond:
        out.push_back(row.reg_source() ? make_insn(row.op, dst, src, -5) : make_insn(row.op, dst, 0, 12, -3));
        break;
      case Kind::kJa: case Kind::kMayGoto: out.push_back(make_insn(row.op, 0, 0, 17)); break;
      case Kind::kGotol: out.push_back(make_insn(row.op, 0, 0, 0, -70000)); break;
      case Kind::kCallHelper: out.push_back(make_insn(row.op, 0, 0, 0, 1)); break;
      case Kind::kCallLocal: out.push_back(make_insn(row.op, 0, 0, 0, 4)); break;
      case Kind::kCallKfunc: out.push_back(make_insn(row.op, 0, 0, 2, 12345)); break;
      case Kind::kCallx: out.push_back(make_insn(row.op, 5)); break;
      case Kind::kExit: out.push_back(make_insn(row.op)); break;
      case Kind::kLoad: case Kind::kLoadSx: out.push_back(make_insn(row.op, dst, src, -16)); break;
      case Kind::kStore: out.push_back(make_insn(row.op, dst, 0, 24, -1)); break;
      case Kind::kStoreReg: case Kind::kAtomic: out.push_back(make_insn(row.op, dst, src, -8)); break;
      case Kind::kLdImm64: {
        const uint64_t imm = row.op == Op::LdImm64 ? 0x1122334455667788ull
                             : (row.op == Op::LdMapValue || row.op == Op::LdMapIdxValue) ? (uint64_t{16} << 32) | 4
                                                                                         : 4;
        out.push_back(make_insn(row.op, dst, 0, 0, 0, imm));
        break;
      }
      case Kind::kLdAbs: out.push_back(make_insn(row.op, 0, 0, 0, 12)); break;
      case Kind::kLdInd: out.push_back(make_insn(row.op, 0, src, 0, 2)); break;
      case Kind::kTail: break;
    }
  }
  return out;
}

}  // namespace bpfvm::test
