#include "exec/register_use.hpp"

#include <cstdint>
#include <vector>

namespace bpfvm::regs {

using isa::Insn;
using isa::Kind;
using isa::Op;

namespace {

struct State {
  uint16_t known = kAllRegs;  // meet: intersection (starts at top)
  uint16_t maybe = 0;         // meet: union
};

// The registers an instruction leaves written (calls: on the return path).
State after(const Insn& insn, State s) {
  const isa::OpInfo& row = insn.info();
  auto write = [&](uint8_t reg) {
    s.known |= bit(reg);
    s.maybe |= bit(reg);
  };
  switch (row.kind) {
    case Kind::kAlu: case Kind::kMovSx: case Kind::kLoad: case Kind::kLoadSx: case Kind::kLdImm64:
      write(insn.dst);
      break;
    case Kind::kAtomic:
      if (row.match_value == isa::code::kCmpxchg) write(0);
      else if ((row.match_value & isa::code::kFetch) != 0) write(insn.src);
      break;
    case Kind::kCallHelper: case Kind::kCallLocal: case Kind::kCallx: case Kind::kLdAbs: case Kind::kLdInd:
      s.known = static_cast<uint16_t>((s.known & ~kArgRegs) | bit(0));
      s.maybe = static_cast<uint16_t>((s.maybe & ~kArgRegs) | bit(0));
      break;
    default: break;
  }
  return s;
}

}  // namespace

InitAnalysis analyse_initialized(std::span<const Insn> insns) {
  const std::size_t n = insns.size();
  InitAnalysis a;
  a.callback_entry.assign(n, 0);
  std::vector<State> in(n);
  a.reached.assign(n, 0);
  // Sweeps in program order until nothing changes: forward edges settle in the same sweep, so
  // code without loops takes one (this runs on every compile).
  std::vector<uint8_t> dirty(n, 0);
  std::size_t current = 0;
  bool again = false;
  auto flow = [&](std::size_t pc, State s) {
    if (pc >= n) return;
    State& t = in[pc];
    const State merged{static_cast<uint16_t>(t.known & s.known), static_cast<uint16_t>(t.maybe | s.maybe)};
    if (a.reached[pc] && merged.known == t.known && merged.maybe == t.maybe) return;
    a.reached[pc] = 1;
    t = merged;
    dirty[pc] = 1;
    if (pc <= current) again = true;
  };
  flow(0, State{static_cast<uint16_t>(bit(1) | bit(10)), static_cast<uint16_t>(kArgRegs | bit(10))});
  for (std::size_t pc = 0; pc < n; ++pc) {
    if (insns[pc].op == Op::Callx) a.tracking = true;
    if (insns[pc].op == Op::LdFunc) {
      const int64_t target = static_cast<int64_t>(pc) + 1 + insns[pc].imm;
      if (target >= 0 && static_cast<std::size_t>(target) < n) {
        a.callback_entry[static_cast<std::size_t>(target)] = 1;
        flow(static_cast<std::size_t>(target), State{static_cast<uint16_t>(kArgRegs | bit(10)),
                                                     static_cast<uint16_t>(kArgRegs | bit(10))});
      }
    }
  }
  do {
    again = false;
    for (current = 0; current < n; ++current) {
      const std::size_t pc = current;
      if (!dirty[pc]) continue;
      dirty[pc] = 0;
      const Insn& i = insns[pc];
      const State s = in[pc];
      const Kind kind = i.info().kind;
      const auto next = pc + (kind == Kind::kLdImm64 ? 2 : 1);
      auto target = isa::branch_target(i, pc);
      switch (kind) {
        case Kind::kExit: case Kind::kCallKfunc: case Kind::kTail: break;
        case Kind::kJa: case Kind::kGotol:
          if (target) flow(static_cast<std::size_t>(*target), s);
          break;
        case Kind::kJmpCond: case Kind::kMayGoto:
          if (target) flow(static_cast<std::size_t>(*target), s);
          flow(next, s);
          break;
        case Kind::kCallLocal:
          if (target) {
            flow(static_cast<std::size_t>(*target), State{static_cast<uint16_t>((s.known & kArgRegs) | bit(10)),
                                                          static_cast<uint16_t>((s.maybe & kArgRegs) | bit(10))});
          }
          flow(next, after(i, s));
          break;
        default: flow(next, after(i, s)); break;
      }
    }
  } while (again);
  a.known.resize(n);
  a.maybe.resize(n);
  for (std::size_t pc = 0; pc < n; ++pc) {
    a.known[pc] = in[pc].known;
    a.maybe[pc] = in[pc].maybe;
    if (!a.reached[pc]) continue;
    // A read written on some paths only.
    if (read_set(insns[pc]) & ~a.known[pc] & a.maybe[pc]) a.tracking = true;
  }
  return a;
}

}  // namespace bpfvm::regs
