// What the verifier knows about a 64-bit value: a tnum plus signed and unsigned ranges of the
// whole value and of its low 32 bits, kept consistent with each other as the kernel keeps
// struct bpf_reg_state's var_off/smin/smax/umin/umax/s32_*/u32_*.
#pragma once

#include <cstdint>
#include <limits>

#include "verifier/tnum.hpp"

namespace bpfvm::verifier {

struct Bounds {
  Tnum var = Tnum::unknown();
  int64_t smin = std::numeric_limits<int64_t>::min();
  int64_t smax = std::numeric_limits<int64_t>::max();
  uint64_t umin = 0;
  uint64_t umax = std::numeric_limits<uint64_t>::max();
  int32_t s32min = std::numeric_limits<int32_t>::min();
  int32_t s32max = std::numeric_limits<int32_t>::max();
  uint32_t u32min = 0;
  uint32_t u32max = std::numeric_limits<uint32_t>::max();

  static Bounds constant(uint64_t v);
  static Bounds unknown() { return Bounds{}; }
  // Any value of `size` bytes, zero-extended (what a narrow load gives).
  static Bounds unsigned_of_size(unsigned size);

  [[nodiscard]] bool is_const() const { return var.is_const(); }
  [[nodiscard]] bool is_unknown() const;
  [[nodiscard]] bool subreg_is_const() const { return tnum_subreg(var).is_const(); }
  // Some value satisfies every constraint (false after refining an impossible branch).
  [[nodiscard]] bool consistent() const;
  // Every value allowed by *this is allowed by `outer`.
  [[nodiscard]] bool within(const Bounds& outer) const;

  // Derives each view's limits from the others (the kernel's reg_bounds_sync()).
  void sync();
  // The value is the zero extension of its low 32 bits (32-bit ALU results).
  void zext32();
  // Keeps the low `size` bytes, zero-extended.
  void truncate(unsigned size);
  // Sign-extends the low `size` bytes.
  void sign_extend(unsigned size);

  friend bool operator==(const Bounds&, const Bounds&) = default;
};

// ALU operations on bounds, as 64-bit (alu32 = false) or 32-bit zero-extending operations.
// `op` is the BPF_OP nibble (BPF_ADD, ...). Returns nullopt-equivalent `unknown` results
// for what cannot be tracked. Shifts expect a constant amount below the width.
Bounds alu(uint8_t op, const Bounds& dst, const Bounds& src, bool alu32);

// Narrows a and b for the branch where `a op b` holds (op = BPF_JEQ, ...; jmp32 compares the
// low 32 bits). Returns false when that branch cannot happen.
bool refine(uint8_t op, Bounds& a, Bounds& b, bool jmp32);
// The condition that holds on a conditional jump's fall-through side (BPF_JEQ -> BPF_JNE...);
// JSET's is an internal value only refine() and branch_taken() understand.
uint8_t negate_condition(uint8_t op);
// 1: `a op b` always holds, 0: never, -1: unknown.
int branch_taken(uint8_t op, const Bounds& a, const Bounds& b, bool jmp32);

}  // namespace bpfvm::verifier
