// Which registers an instruction reads and writes, as the interpreter tracks them for the
// kernel's "R%d !read_ok", and a static analysis of which registers are written on every path
// (or on none), so that JIT-compiled code checks only the reads the analysis cannot decide.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "isa/insn.hpp"

namespace bpfvm::regs {

constexpr uint16_t bit(unsigned reg) { return static_cast<uint16_t>(1u << reg); }
constexpr uint16_t kArgRegs = bit(1) | bit(2) | bit(3) | bit(4) | bit(5);
constexpr uint16_t kAllRegs = 0x7ff;  // r0-r10

// Registers an operation reads, as a function of its row (the exit's r0 and cmpxchg's r0 are
// read on top of these).
constexpr bool reads_dst(const isa::OpInfo& r) {
  using isa::Kind;
  switch (r.kind) {
    case Kind::kAlu: return r.op_bits() != isa::code::kMov;
    case Kind::kNeg: case Kind::kEnd: case Kind::kBswap: case Kind::kJmpCond: case Kind::kCallx:
    case Kind::kStore: case Kind::kStoreReg: case Kind::kAtomic:
      return true;
    default: return false;
  }
}
constexpr bool reads_src(const isa::OpInfo& r) {
  using isa::Kind;
  switch (r.kind) {
    case Kind::kAlu: case Kind::kJmpCond: return r.reg_source();
    case Kind::kMovSx: case Kind::kLoad: case Kind::kLoadSx: case Kind::kStoreReg: case Kind::kAtomic:
    case Kind::kLdInd:
      return true;
    default: return false;
  }
}

// The registers an instruction needs written, in the order the interpreter checks them
// (it names dst before src; then r0 for exit and cmpxchg).
struct Reads {
  uint8_t count = 0;
  uint8_t reg[3] = {};
};
[[nodiscard]] inline Reads reads(const isa::Insn& insn) {
  Reads r;
  const isa::OpInfo& row = insn.info();
  if (reads_dst(row)) r.reg[r.count++] = insn.dst;
  if (reads_src(row)) r.reg[r.count++] = insn.src;
  if (row.kind == isa::Kind::kExit || (row.kind == isa::Kind::kAtomic && row.match_value == isa::code::kCmpxchg)) {
    r.reg[r.count++] = 0;
  }
  return r;
}

// The same registers as a set (bit r for register r): cheaper where the order does not matter
// (a Reads filled byte by byte and copied whole stalls the store-to-load forwarding).
[[nodiscard]] inline uint16_t read_set(const isa::Insn& insn) {
  const isa::OpInfo& row = insn.info();
  uint16_t set = 0;
  if (reads_dst(row)) set |= bit(insn.dst);
  if (reads_src(row)) set |= bit(insn.src);
  if (row.kind == isa::Kind::kExit || (row.kind == isa::Kind::kAtomic && row.match_value == isa::code::kCmpxchg)) {
    set |= bit(0);
  }
  return set;
}

// For each instruction, the registers written before it on every path that reaches it
// (`known`) and on at least one (`maybe`), with the interpreter's rules: r1 and r10 at entry
// (r2-r5 when the caller says so, hence only "maybe"), helper calls and LD_ABS/LD_IND leave
// r1-r5 unwritten and r0 written, a bpf-to-bpf call starts its callee with the caller's
// r1-r5 and r10 and returns with r1-r5 unwritten, callbacks start with r1-r5 and r10.
struct InitAnalysis {
  // Whether run time must track writes: a read the analysis cannot decide (written on some
  // paths only), or callx (which may enter any instruction).
  bool tracking = false;
  std::vector<uint16_t> known;
  std::vector<uint16_t> maybe;
  std::vector<uint8_t> reached;        // bytes, not bits: read on every compile
  std::vector<uint8_t> callback_entry;  // ld_imm64 func targets: where callbacks may start
};
[[nodiscard]] InitAnalysis analyse_initialized(std::span<const isa::Insn> insns);

}  // namespace bpfvm::regs
