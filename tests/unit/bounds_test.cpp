// Scalar tracking: tnum arithmetic, range propagation through ALU operations and branch
// refinement, checked against brute force over small value sets.
#include <gtest/gtest.h>

#include <random>

#include "verifier/bounds.hpp"

namespace bpfvm::verifier {
namespace {

// Every value in [lo, hi] is allowed by the bounds.
void expect_contains(const Bounds& b, uint64_t v) {
  EXPECT_TRUE(b.var.contains(v)) << std::hex << v;
  EXPECT_LE(b.umin, v);
  EXPECT_GE(b.umax, v);
  EXPECT_LE(b.smin, static_cast<int64_t>(v));
  EXPECT_GE(b.smax, static_cast<int64_t>(v));
  EXPECT_LE(b.u32min, static_cast<uint32_t>(v));
  EXPECT_GE(b.u32max, static_cast<uint32_t>(v));
}

Bounds range(uint64_t lo, uint64_t hi) {
  Bounds b;
  b.umin = lo;
  b.umax = hi;
  b.sync();
  return b;
}

TEST(Tnum, RangeAndArithmetic) {
  EXPECT_EQ(Tnum::range(0, 255), (Tnum{0, 0xff}));
  EXPECT_EQ(Tnum::range(16, 16), Tnum::constant(16));
  EXPECT_EQ(tnum_add(Tnum::constant(3), Tnum::constant(4)), Tnum::constant(7));
  EXPECT_EQ(tnum_and(Tnum{0, 0xff}, Tnum::constant(0x0f)), (Tnum{0, 0x0f}));
  EXPECT_EQ(tnum_mul(Tnum::constant(6), Tnum::constant(7)), Tnum::constant(42));
}

TEST(Bounds, AluOperationsContainEveryConcreteResult) {
  std::mt19937_64 rng(7);
  const uint8_t ops[] = {0x00, 0x10, 0x20, 0x40, 0x50, 0xa0, 0x60, 0x70, 0xc0};
  for (int round = 0; round < 300; ++round) {
    const uint64_t a_lo = rng() % 1000, a_hi = a_lo + rng() % 300;
    const uint64_t b_lo = rng() % 50, b_hi = b_lo + rng() % 10;
    const Bounds a = range(a_lo, a_hi), b = range(b_lo, b_hi);
    for (uint8_t op : ops) {
      for (bool alu32 : {false, true}) {
        const bool shift = op == 0x60 || op == 0x70 || op == 0xc0;
        const Bounds bb = shift ? Bounds::constant(b_lo % 31) : b;
        const Bounds r = alu(op, a, bb, alu32);
        ASSERT_TRUE(r.consistent());
        for (uint64_t x = a_lo; x <= a_hi; x += 7) {
          const uint64_t y = shift ? b_lo % 31 : b_lo + (x % (b_hi - b_lo + 1));
          uint64_t v = 0;
          switch (op) {
            case 0x00: v = x + y; break;
            case 0x10: v = x - y; break;
            case 0x20: v = x * y; break;
            case 0x40: v = x | y; break;
            case 0x50: v = x & y; break;
            case 0xa0: v = x ^ y; break;
            case 0x60: v = alu32 ? static_cast<uint32_t>(x << y) : x << y; break;
            case 0x70: v = alu32 ? static_cast<uint32_t>(x) >> y : x >> y; break;
            case 0xc0:
              v = alu32 ? static_cast<uint32_t>(static_cast<int32_t>(static_cast<uint32_t>(x)) >> y)
                        : static_cast<uint64_t>(static_cast<int64_t>(x) >> y);
              break;
          }
          if (alu32) v = static_cast<uint32_t>(v);
          SCOPED_TRACE(::testing::Message() << "op " << int(op) << " alu32 " << alu32 << " x " << x << " y " << y);
          expect_contains(r, v);
        }
      }
    }
  }
}

TEST(Bounds, RefineKeepsOnlyValuesOfTheBranch) {
  Bounds a = range(0, 100), k = Bounds::constant(10);
  ASSERT_TRUE(refine(0x20 /*JGT*/, a, k, false));
  EXPECT_EQ(a.umin, 11U);
  EXPECT_EQ(a.umax, 100U);
  Bounds c = range(0, 100), k2 = Bounds::constant(10);
  ASSERT_TRUE(refine(negate_condition(0x20), c, k2, false));
  EXPECT_EQ(c.umax, 10U);
  // An impossible branch: [0, 5] > 10.
  Bounds d = range(0, 5), k3 = Bounds::constant(10);
  EXPECT_EQ(branch_taken(0x20, d, k3, false), 0);
  Bounds e = range(20, 30);
  EXPECT_EQ(branch_taken(0x20, e, k3, false), 1);
  EXPECT_EQ(branch_taken(0x20, range(5, 30), k3, false), -1);
}

TEST(Bounds, NarrowAndSignExtension) {
  Bounds b = Bounds::unsigned_of_size(1);
  EXPECT_EQ(b.umax, 255U);
  EXPECT_EQ(b.smin, 0);
  Bounds s = Bounds::constant(0x80);
  s.sign_extend(1);
  EXPECT_EQ(s.var.value, static_cast<uint64_t>(-128));
}

}  // namespace
}  // namespace bpfvm::verifier
