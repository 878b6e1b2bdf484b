// The value semantics of BPF's ALU operations, sign extension, negation, conditions and byte
// swaps, as RFC 9669 defines them: one definition for the interpreter's two executors, which
// run them, and the JIT, which folds operations on values it knows at compile time.
#pragma once

#include <cstdint>
#include <type_traits>

#ifndef BPFVM_ALWAYS_INLINE
#define BPFVM_ALWAYS_INLINE inline __attribute__((always_inline))
#endif

namespace bpfvm::sem {

// ALU semantics on W-bit unsigned values (W = uint32_t or uint64_t), as RFC 9669 defines them:
// division by zero gives 0, modulo by zero leaves dst, shifts mask their amount, and signed
// division of INT_MIN by -1 wraps (INT_MIN; remainder 0).
template <typename W>
BPFVM_ALWAYS_INLINE W alu(uint8_t op_bits, bool is_signed, W dst, W src) {
  using S = std::make_signed_t<W>;
  constexpr unsigned kMask = sizeof(W) * 8 - 1;
  switch (op_bits) {
    case 0x00: return dst + src;
    case 0x10: return dst - src;
    case 0x20: return static_cast<W>(dst * src);
    case 0x30:
      if (src == 0) return 0;
      if (!is_signed) return dst / src;
      if (static_cast<S>(src) == -1) return static_cast<W>(W{0} - dst);  // INT_MIN / -1 == INT_MIN
      return static_cast<W>(static_cast<S>(dst) / static_cast<S>(src));
    case 0x40: return dst | src;
    case 0x50: return dst & src;
    case 0x60: return static_cast<W>(dst << (src & kMask));
    case 0x70: return dst >> (src & kMask);
    case 0x90:
      if (src == 0) return dst;
      if (!is_signed) return dst % src;
      if (static_cast<S>(src) == -1) return 0;
      return static_cast<W>(static_cast<S>(dst) % static_cast<S>(src));
    case 0xa0: return dst ^ src;
    case 0xb0: return src;
    case 0xc0: return static_cast<W>(static_cast<S>(dst) >> (src & kMask));
    default: return 0;
  }
}

template <typename W>
BPFVM_ALWAYS_INLINE bool condition(uint8_t op_bits, W a, W b) {
  using S = std::make_signed_t<W>;
  switch (op_bits) {
    case 0x10: return a == b;
    case 0x20: return a > b;
    case 0x30: return a >= b;
    case 0x40: return (a & b) != 0;
    case 0x50: return a != b;
    case 0x60: return static_cast<S>(a) > static_cast<S>(b);
    case 0x70: return static_cast<S>(a) >= static_cast<S>(b);
    case 0xa0: return a < b;
    case 0xb0: return a <= b;
    case 0xc0: return static_cast<S>(a) < static_cast<S>(b);
    case 0xd0: return static_cast<S>(a) <= static_cast<S>(b);
    default: return false;
  }
}

// MOVSX: the low `from_bits` (8, 16 or 32) of v, sign-extended to 64 bits, or to 32 bits and
// zero-extended for the 32-bit form.
BPFVM_ALWAYS_INLINE uint64_t sign_extend(uint64_t v, int32_t from_bits, bool is64) {
  const int64_t s = from_bits == 8 ? static_cast<int8_t>(v) : from_bits == 16 ? static_cast<int16_t>(v)
                                                                              : static_cast<int32_t>(v);
  return is64 ? static_cast<uint64_t>(s) : static_cast<uint32_t>(s);
}

// NEG: -v, of the low half zero-extended for the 32-bit form.
BPFVM_ALWAYS_INLINE uint64_t negate(uint64_t v, bool is64) {
  return is64 ? uint64_t{0} - v : static_cast<uint32_t>(0u - static_cast<uint32_t>(v));
}

BPFVM_ALWAYS_INLINE uint64_t swap_bytes(uint64_t v, int32_t width) {
  switch (width) {
    case 16: return __builtin_bswap16(static_cast<uint16_t>(v));
    case 32: return __builtin_bswap32(static_cast<uint32_t>(v));
    default: return __builtin_bswap64(v);
  }
}

BPFVM_ALWAYS_INLINE uint64_t truncate(uint64_t v, int32_t width) {
  switch (width) {
    case 16: return static_cast<uint16_t>(v);
    case 32: return static_cast<uint32_t>(v);
    default: return v;
  }
}

}  // namespace bpfvm::sem
