// Random but bounded verifier test programs, for the differential test against the kernel and
// the soundness test. A program is at most ~40 instructions with at most 8 conditional
// branches, mostly forward; at most one small counted loop. It mixes scalar ALU (64/32-bit,
// immediates and registers), stack stores and loads, context loads (XDP, socket filter),
// packet pointers checked against data_end, map lookups (with and without NULL checks),
// map value accesses at random offsets and simple helper calls, and with some probability one
// deliberate mistake (an uninitialised register, an out-of-bounds offset, a missing check).
//
// What is never generated (this kernel's verifier has a NULL dereference in
// maybe_fork_scalars on `x & -(y & 1)` shapes): `neg`, `arsh`, signed loads and moves, and
// AND/OR/XOR whose operands the kernel could see in [-1, 0] — both operands of those must be
// known non-negative 31-bit values (immediates >= 0, byte/half loads, small constants, masks).
// Nor does it compare a register with itself: that makes the same kernel WARN
// ("REG INVARIANTS VIOLATION" in reg_bounds_sanity_check), which taints it.
// Do not relax this without reading the kernel's code: these programs are loaded as root.
#pragma once

#include <cstdint>
#include <string>

#include "verifier/case_file.hpp"

namespace bpfvm::test {

struct GeneratedProgram {
  verifier::ProgramCase program;  // map references hold map indices (Options::maps)
  std::string case_json;          // the same as a tests/verifier/cases.json entry (no "kernel")
  std::string asm_text;
  bool has_mistake = false;       // a deliberate mistake was planted (the program may still pass:
                                  // the mistake can sit on a path the verifier proves dead)
};

// Deterministic: the same seed gives the same program on every machine.
[[nodiscard]] GeneratedProgram generate_program(uint64_t seed);

}  // namespace bpfvm::test
