#include "isa/opcodes.hpp"

#include <vector>

namespace bpfvm::isa {
namespace {

// Index: opcode byte -> rows with that code. Built once from kOps.
struct CodeIndex {
  std::array<std::vector<Op>, 256> rows;
  CodeIndex() {
    for (const OpInfo& row : kOps) rows[row.code].push_back(row.op);
  }
};

const CodeIndex& code_index() {
  static const CodeIndex index;
  return index;
}

// Every row's opcode must be consistent with its kind; checked at compile time so a typo in
// opcodes.def fails the build instead of a test.
constexpr bool table_is_consistent() {
  for (std::size_t i = 0; i < kOps.size(); ++i) {
    const OpInfo& row = kOps[i];
    if (static_cast<std::size_t>(row.op) != i) return false;
    switch (row.kind) {
      case Kind::kAlu: case Kind::kMovSx: case Kind::kNeg: case Kind::kEnd:
        if (row.cls() != code::kAlu && row.cls() != code::kAlu64) return false;
        break;
      case Kind::kBswap:
        if (row.cls() != code::kAlu64) return false;
        break;
      case Kind::kJmpCond: case Kind::kGotol:
        if (row.cls() != code::kJmp && row.cls() != code::kJmp32) return false;
        break;
      case Kind::kLoad: case Kind::kLoadSx:
        if (row.cls() != code::kLdx) return false;
        break;
      case Kind::kStore:
        if (row.cls() != code::kSt) return false;
        break;
      case Kind::kStoreReg: case Kind::kAtomic:
        if (row.cls() != code::kStx) return false;
        break;
      case Kind::kLdImm64: case Kind::kLdAbs: case Kind::kLdInd:
        if (row.cls() != code::kLd) return false;
        break;
      default:
        if (row.cls() != code::kJmp) return false;
        break;
    }
    // Two rows with the same code must be told apart by the same field and distinct values.
    for (std::size_t j = 0; j < i; ++j) {
      const OpInfo& other = kOps[j];
      if (other.code != row.code) continue;
      if (other.match != row.match || row.match == Match::kNone) return false;
      if (other.match_value == row.match_value) return false;
    }
  }
  return true;
}
static_assert(table_is_consistent(), "opcodes.def: a row disagrees with its kind or duplicates another");

}  // namespace

std::span<const Op> rows_for_code(uint8_t opcode) { return code_index().rows[opcode]; }

bool kernel_knows_code(uint8_t opcode) {
  for (Op op : rows_for_code(opcode)) {
    if (info(op).kernel) return true;
  }
  return false;
}

}  // namespace bpfvm::isa
