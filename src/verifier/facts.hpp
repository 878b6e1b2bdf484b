// What the verifier proved about each instruction of a program it accepted, for the JIT
// (docs/verifier.md, "Facts for the JIT"). No dependencies: the JIT includes it too.
//
// A fact holds on EVERY path that reaches the instruction, in every run of the program: the
// verifier intersects what it knows over every state it processes there, and makes the
// registers a fact relies on "needed" (compared when pruning), so a path pruned against an
// explored state meets the same facts in that state's continuation. A wrong fact is a safety
// bug of the code that trusts it: tests/verifier/soundness.hpp runs programs with facts applied.
#pragma once

#include <cstdint>

namespace bpfvm::verifier {

enum class BranchFact : uint8_t {
  kUnknown,      // both ways happen (or not a conditional jump)
  kAlwaysTaken,  // the fall-through never happens: an unconditional jump will do
  kNeverTaken,   // the jump never happens: nothing to do
};

struct InsnFacts {
  // Some path reaches the instruction. False: dead code, never executed (the structural pass
  // already refuses code no jump leads to; this is code only impossible values lead to). Also
  // false for the second slot of an ld_imm64, which is data.
  bool reached = false;
  BranchFact branch = BranchFact::kUnknown;  // conditional jumps (not may_goto)
  // DIV/MOD by a register: the divisor (its low 32 bits for 32-bit operations) is never 0.
  bool divisor_nonzero = false;
  // Signed DIV/MOD by a register: the divisor is never -1 (no INT_MIN / -1 case).
  bool divisor_not_minus_one = false;
  // DIV/MOD by a register that holds the same value on every path: `divisor` is that value
  // as the instruction's immediate would give it (the low 32 bits for 32-bit operations; for
  // 64-bit ones, only values an imm32 sign-extends to), so the JIT divides by a constant.
  bool divisor_known = false;
  int32_t divisor = 0;
  // Bit r: the upper 32 bits of register r are zero before this instruction. Reported only
  // where that makes the instruction a mere zero-extension of its destination: `wX = wX`,
  // `rX = le32 rX`, and the first of `rX <<= 32; rX >>= 32`.
  uint16_t upper32_zero = 0;
  // bpf_map_lookup_elem in an array map whose key is always below max_entries: the lookup
  // never returns NULL. key_known: the key is `key` on every path.
  bool key_in_range = false;
  bool key_known = false;
  uint32_t key = 0;
};

}  // namespace bpfvm::verifier
