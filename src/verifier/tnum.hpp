// Tristate numbers: what is known bit by bit about a value. A bit is known when its mask bit
// is 0 (and then it equals the value bit); unknown when its mask bit is 1 (value bit 0).
// The verifier tracks one per register next to the value ranges, as the kernel does.
#pragma once

#include <bit>
#include <cstdint>

namespace bpfvm::verifier {

struct Tnum {
  uint64_t value = 0;
  uint64_t mask = 0;

  static constexpr Tnum constant(uint64_t v) { return {v, 0}; }
  static constexpr Tnum unknown() { return {0, ~0ULL}; }
  // The tightest tnum holding every value of [min, max].
  static constexpr Tnum range(uint64_t min, uint64_t max) {
    const uint64_t chi = min ^ max;
    const int bits = chi == 0 ? 0 : 64 - std::countl_zero(chi);
    if (bits > 63) return unknown();
    const uint64_t delta = (1ULL << bits) - 1;
    return {min & ~delta, delta};
  }

  [[nodiscard]] constexpr bool is_const() const { return mask == 0; }
  [[nodiscard]] constexpr bool is_unknown() const { return mask == ~0ULL; }
  [[nodiscard]] constexpr uint64_t min() const { return value; }
  [[nodiscard]] constexpr uint64_t max() const { return value | mask; }
  // Every value this tnum allows is allowed by `outer`.
  [[nodiscard]] constexpr bool within(Tnum outer) const {
    if (mask & ~outer.mask) return false;
    return (value & ~outer.mask) == outer.value;
  }
  [[nodiscard]] constexpr bool contains(uint64_t v) const { return (v & ~mask) == value; }

  friend constexpr bool operator==(Tnum, Tnum) = default;
};

constexpr Tnum tnum_add(Tnum a, Tnum b) {
  const uint64_t sm = a.mask + b.mask;
  const uint64_t sv = a.value + b.value;
  const uint64_t sigma = sm + sv;
  const uint64_t chi = sigma ^ sv;
  const uint64_t mu = chi | a.mask | b.mask;
  return {sv & ~mu, mu};
}

constexpr Tnum tnum_sub(Tnum a, Tnum b) {
  const uint64_t dv = a.value - b.value;
  const uint64_t alpha = dv + a.mask;
  const uint64_t beta = dv - b.mask;
  const uint64_t chi = alpha ^ beta;
  const uint64_t mu = chi | a.mask | b.mask;
  return {dv & ~mu, mu};
}

constexpr Tnum tnum_and(Tnum a, Tnum b) {
  const uint64_t alpha = a.value | a.mask;
  const uint64_t beta = b.value | b.mask;
  const uint64_t v = a.value & b.value;
  return {v, alpha & beta & ~v};
}

constexpr Tnum tnum_or(Tnum a, Tnum b) {
  const uint64_t v = a.value | b.value;
  const uint64_t mu = a.mask | b.mask;
  return {v, mu & ~v};
}

constexpr Tnum tnum_xor(Tnum a, Tnum b) {
  const uint64_t v = a.value ^ b.value;
  const uint64_t mu = a.mask | b.mask;
  return {v & ~mu, mu};
}

// Multiplication by shift-and-add over a's bits: known bits add b, unknown bits add b's
// value as unknown.
constexpr Tnum tnum_mul(Tnum a, Tnum b) {
  Tnum acc_v = Tnum::constant(a.value * b.value);
  Tnum acc_m{0, 0};
  while (a.value || a.mask) {
    if (a.value & 1) acc_m = tnum_add(acc_m, Tnum{0, b.mask});
    else if (a.mask & 1) acc_m = tnum_add(acc_m, Tnum{0, b.value | b.mask});
    a = Tnum{a.value >> 1, a.mask >> 1};
    b = Tnum{b.value << 1, b.mask << 1};
  }
  return tnum_add(acc_v, acc_m);
}

constexpr Tnum tnum_lshift(Tnum a, unsigned shift) { return {a.value << shift, a.mask << shift}; }
constexpr Tnum tnum_rshift(Tnum a, unsigned shift) { return {a.value >> shift, a.mask >> shift}; }
// Arithmetic shift within `bits` (32 or 64) bits; the result is zero-extended for 32.
constexpr Tnum tnum_arshift(Tnum a, unsigned shift, unsigned bits) {
  if (bits == 32) {
    return {static_cast<uint32_t>(static_cast<int32_t>(static_cast<uint32_t>(a.value)) >> shift),
            static_cast<uint32_t>(static_cast<int32_t>(static_cast<uint32_t>(a.mask)) >> shift)};
  }
  return {static_cast<uint64_t>(static_cast<int64_t>(a.value) >> shift),
          static_cast<uint64_t>(static_cast<int64_t>(a.mask) >> shift)};
}

// What both a and b say (they must describe the same value).
constexpr Tnum tnum_intersect(Tnum a, Tnum b) {
  const uint64_t v = a.value | b.value;
  const uint64_t mu = a.mask & b.mask;
  return {v & ~mu, mu};
}

// The low `size` bytes.
constexpr Tnum tnum_cast(Tnum a, unsigned size) {
  if (size >= 8) return a;
  const uint64_t keep = (1ULL << (size * 8)) - 1;
  return {a.value & keep, a.mask & keep};
}
constexpr Tnum tnum_subreg(Tnum a) { return tnum_cast(a, 4); }
constexpr Tnum tnum_clear_subreg(Tnum a) { return {a.value >> 32 << 32, a.mask >> 32 << 32}; }
constexpr Tnum tnum_with_subreg(Tnum reg, Tnum subreg) {
  return tnum_or(tnum_clear_subreg(reg), tnum_subreg(subreg));
}

}  // namespace bpfvm::verifier
