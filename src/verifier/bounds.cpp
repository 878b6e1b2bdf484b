#include "verifier/bounds.hpp"

#include <algorithm>
#include <utility>

namespace bpfvm::verifier {
namespace {

constexpr int64_t kS64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kS64Max = std::numeric_limits<int64_t>::max();
constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr int32_t kS32Min = std::numeric_limits<int32_t>::min();
constexpr int32_t kS32Max = std::numeric_limits<int32_t>::max();
constexpr uint32_t kU32Max = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kSign64 = 1ULL << 63;

// BPF_OP values.
constexpr uint8_t kAdd = 0x00, kSub = 0x10, kMul = 0x20, kOr = 0x40, kAnd = 0x50, kLsh = 0x60, kRsh = 0x70,
                  kXor = 0xa0, kArsh = 0xc0;
constexpr uint8_t kJeq = 0x10, kJgt = 0x20, kJge = 0x30, kJset = 0x40, kJne = 0x50, kJsgt = 0x60, kJsge = 0x70,
                  kJlt = 0xa0, kJle = 0xb0, kJslt = 0xc0, kJsle = 0xd0;
constexpr uint8_t kJnset = 0xf0;  // internal: the false side of JSET

// One view (64-bit or the low 32 bits) of a value: ranges widened to 64-bit integers.
struct View {
  Tnum var;
  int64_t smin, smax;
  uint64_t umin, umax;
};

View view64(const Bounds& b) { return {b.var, b.smin, b.smax, b.umin, b.umax}; }
View view32(const Bounds& b) { return {tnum_subreg(b.var), b.s32min, b.s32max, b.u32min, b.u32max}; }

void set_unknown_ranges(View& v) {
  v.smin = kS64Min;
  v.smax = kS64Max;
  v.umin = 0;
  v.umax = kU64Max;
}

// Signed range from the unsigned one when it does not cross the sign bit, else unknown.
void signed_from_unsigned(View& v) {
  if (static_cast<int64_t>(v.umin) <= static_cast<int64_t>(v.umax)) {
    v.smin = static_cast<int64_t>(v.umin);
    v.smax = static_cast<int64_t>(v.umax);
  } else {
    v.smin = kS64Min;
    v.smax = kS64Max;
  }
}

View add(const View& a, const View& b) {
  View r{tnum_add(a.var, b.var), 0, 0, 0, 0};
  if (__builtin_add_overflow(a.smin, b.smin, &r.smin) || __builtin_add_overflow(a.smax, b.smax, &r.smax)) {
    r.smin = kS64Min;
    r.smax = kS64Max;
  }
  if (__builtin_add_overflow(a.umin, b.umin, &r.umin) || __builtin_add_overflow(a.umax, b.umax, &r.umax)) {
    r.umin = 0;
    r.umax = kU64Max;
  }
  return r;
}

View sub(const View& a, const View& b) {
  View r{tnum_sub(a.var, b.var), 0, 0, 0, 0};
  if (__builtin_sub_overflow(a.smin, b.smax, &r.smin) || __builtin_sub_overflow(a.smax, b.smin, &r.smax)) {
    r.smin = kS64Min;
    r.smax = kS64Max;
  }
  if (a.umin < b.umax) {
    r.umin = 0;
    r.umax = kU64Max;
  } else {
    r.umin = a.umin - b.umax;
    r.umax = a.umax - b.umin;
  }
  return r;
}

View mul(const View& a, const View& b) {
  View r{tnum_mul(a.var, b.var), 0, 0, 0, 0};
  if (__builtin_mul_overflow(a.umin, b.umin, &r.umin) || __builtin_mul_overflow(a.umax, b.umax, &r.umax)) {
    r.umin = 0;
    r.umax = kU64Max;
  }
  int64_t c[4];
  if (__builtin_mul_overflow(a.smin, b.smin, &c[0]) || __builtin_mul_overflow(a.smin, b.smax, &c[1]) ||
      __builtin_mul_overflow(a.smax, b.smin, &c[2]) || __builtin_mul_overflow(a.smax, b.smax, &c[3])) {
    r.smin = kS64Min;
    r.smax = kS64Max;
  } else {
    r.smin = *std::min_element(c, c + 4);
    r.smax = *std::max_element(c, c + 4);
  }
  return r;
}

View bitwise(uint8_t op, const View& a, const View& b) {
  View r{};
  switch (op) {
    case kAnd:
      r.var = tnum_and(a.var, b.var);
      r.umin = r.var.value;
      r.umax = std::min(a.umax, b.umax);
      break;
    case kOr:
      r.var = tnum_or(a.var, b.var);
      r.umin = std::max(a.umin, b.umin);
      r.umax = r.var.value | r.var.mask;
      break;
    default:  // xor
      r.var = tnum_xor(a.var, b.var);
      r.umin = r.var.value;
      r.umax = r.var.value | r.var.mask;
      break;
  }
  if (op != kXor && a.smin >= 0 && b.smin >= 0) {
    r.smin = static_cast<int64_t>(r.umin);
    r.smax = static_cast<int64_t>(r.umax);
  } else {
    signed_from_unsigned(r);
  }
  return r;
}

View shift(uint8_t op, const View& a, unsigned amount, unsigned bits) {
  View r{};
  switch (op) {
    case kLsh:
      r.var = tnum_lshift(a.var, amount);
      if (amount == 0 || (a.umax >> (64 - amount)) == 0) {
        r.umin = a.umin << amount;
        r.umax = a.umax << amount;
      } else {
        r.umin = 0;
        r.umax = kU64Max;
      }
      signed_from_unsigned(r);
      break;
    case kRsh:
      r.var = tnum_rshift(a.var, amount);
      r.umin = a.umin >> amount;
      r.umax = a.umax >> amount;
      signed_from_unsigned(r);
      break;
    default:  // arsh, on the signed view of `bits` bits
      r.var = bits == 32 ? tnum_arshift(a.var, amount, 32) : tnum_arshift(a.var, amount, 64);
      r.smin = a.smin >> amount;
      r.smax = a.smax >> amount;
      r.umin = 0;
      r.umax = kU64Max;
      if (bits == 32) {
        // Back to the zero-extended 32-bit encoding of the result.
        if (r.smin >= 0) {
          r.umin = static_cast<uint64_t>(r.smin);
          r.umax = static_cast<uint64_t>(r.smax);
        } else {
          r.umax = kU32Max;
        }
      }
      break;
  }
  return r;
}

View apply(uint8_t op, const View& a, const View& b, unsigned bits) {
  switch (op) {
    case kAdd: return add(a, b);
    case kSub: return sub(a, b);
    case kMul: return mul(a, b);
    case kAnd: case kOr: case kXor: return bitwise(op, a, b);
    case kLsh: case kRsh: case kArsh: return shift(op, a, static_cast<unsigned>(b.var.value), bits);
    default: {
      View r{Tnum::unknown(), 0, 0, 0, 0};
      set_unknown_ranges(r);
      return r;
    }
  }
}

}  // namespace

Bounds Bounds::constant(uint64_t v) {
  Bounds b;
  b.var = Tnum::constant(v);
  b.smin = b.smax = static_cast<int64_t>(v);
  b.umin = b.umax = v;
  b.s32min = b.s32max = static_cast<int32_t>(static_cast<uint32_t>(v));
  b.u32min = b.u32max = static_cast<uint32_t>(v);
  return b;
}

Bounds Bounds::unsigned_of_size(unsigned size) {
  Bounds b;
  b.truncate(size);
  return b;
}

bool Bounds::is_unknown() const { return *this == Bounds{}; }

bool Bounds::consistent() const {
  return smin <= smax && umin <= umax && s32min <= s32max && u32min <= u32max && (var.value & var.mask) == 0 &&
         var.value <= umax && (var.value | var.mask) >= umin;
}

bool Bounds::within(const Bounds& o) const {
  return smin >= o.smin && smax <= o.smax && umin >= o.umin && umax <= o.umax && s32min >= o.s32min &&
         s32max <= o.s32max && u32min >= o.u32min && u32max <= o.u32max && var.within(o.var);
}

void Bounds::sync() {
  auto update = [this] {
    const Tnum sub = tnum_subreg(var);
    s32min = std::max(s32min, static_cast<int32_t>(static_cast<uint32_t>(sub.value | (sub.mask & 0x80000000U))));
    s32max = std::min(s32max, static_cast<int32_t>(static_cast<uint32_t>(sub.value | (sub.mask & 0x7fffffffU))));
    u32min = std::max(u32min, static_cast<uint32_t>(sub.value));
    u32max = std::min(u32max, static_cast<uint32_t>(sub.value | sub.mask));
    smin = std::max(smin, static_cast<int64_t>(var.value | (var.mask & kSign64)));
    smax = std::min(smax, static_cast<int64_t>(var.value | (var.mask & ~kSign64)));
    umin = std::max(umin, var.value);
    umax = std::min(umax, var.value | var.mask);
  };
  auto deduce = [this] {
    // 32-bit views from the 64-bit ones, when the upper halves agree.
    if ((umin >> 32) == (umax >> 32)) {
      u32min = std::max(u32min, static_cast<uint32_t>(umin));
      u32max = std::min(u32max, static_cast<uint32_t>(umax));
      if (static_cast<int32_t>(umin) <= static_cast<int32_t>(umax)) {
        s32min = std::max(s32min, static_cast<int32_t>(umin));
        s32max = std::min(s32max, static_cast<int32_t>(umax));
      }
    }
    if ((static_cast<uint64_t>(smin) >> 32) == (static_cast<uint64_t>(smax) >> 32)) {
      if (static_cast<uint32_t>(smin) <= static_cast<uint32_t>(smax)) {
        u32min = std::max(u32min, static_cast<uint32_t>(smin));
        u32max = std::min(u32max, static_cast<uint32_t>(smax));
      }
      if (static_cast<int32_t>(smin) <= static_cast<int32_t>(smax)) {
        s32min = std::max(s32min, static_cast<int32_t>(smin));
        s32max = std::min(s32max, static_cast<int32_t>(smax));
      }
    }
    if (static_cast<int32_t>(u32min) <= static_cast<int32_t>(u32max)) {
      s32min = std::max(s32min, static_cast<int32_t>(u32min));
      s32max = std::min(s32max, static_cast<int32_t>(u32max));
    }
    if (static_cast<uint32_t>(s32min) <= static_cast<uint32_t>(s32max)) {
      u32min = std::max(u32min, static_cast<uint32_t>(s32min));
      u32max = std::min(u32max, static_cast<uint32_t>(s32max));
    }
    // Signed and unsigned 64-bit views of each other.
    if (static_cast<int64_t>(umin) <= static_cast<int64_t>(umax)) {
      smin = std::max(smin, static_cast<int64_t>(umin));
      smax = std::min(smax, static_cast<int64_t>(umax));
    }
    if (static_cast<uint64_t>(smin) <= static_cast<uint64_t>(smax)) {
      umin = std::max(umin, static_cast<uint64_t>(smin));
      umax = std::min(umax, static_cast<uint64_t>(smax));
    }
    // 64-bit limits from the low half's.
    constexpr uint64_t kHi = ~0xffffffffULL;
    umin = std::max(umin, (umin & kHi) | u32min);
    umax = std::min(umax, (umax & kHi) | u32max);
    smin = std::max(smin, static_cast<int64_t>((static_cast<uint64_t>(smin) & kHi) | u32min));
    smax = std::min(smax, static_cast<int64_t>((static_cast<uint64_t>(smax) & kHi) | u32max));
    if (smin >= kS32Min && smax <= kS32Max) {
      smin = std::max<int64_t>(smin, s32min);
      smax = std::min<int64_t>(smax, s32max);
    }
  };
  update();
  deduce();
  deduce();
  if (umin <= umax) var = tnum_intersect(var, Tnum::range(umin, umax));
  if (u32min <= u32max) var = tnum_with_subreg(var, tnum_intersect(tnum_subreg(var), Tnum::range(u32min, u32max)));
  update();
}

void Bounds::zext32() {
  var = tnum_subreg(var);
  umin = u32min;
  umax = u32max;
  smin = static_cast<int64_t>(u32min);
  smax = static_cast<int64_t>(u32max);
  sync();
}

void Bounds::truncate(unsigned size) {
  if (size >= 8) return;
  const uint64_t keep = (1ULL << (size * 8)) - 1;
  var = tnum_cast(var, size);
  if ((umin & ~keep) == (umax & ~keep)) {
    umin &= keep;
    umax &= keep;
  } else {
    umin = 0;
    umax = keep;
  }
  smin = static_cast<int64_t>(umin);
  smax = static_cast<int64_t>(umax);
  s32min = kS32Min;
  s32max = kS32Max;
  u32min = 0;
  u32max = kU32Max;
  if (size < 4) {
    u32min = static_cast<uint32_t>(umin);
    u32max = static_cast<uint32_t>(umax);
  }
  sync();
}

void Bounds::sign_extend(unsigned size) {
  if (size >= 8) return;
  const unsigned bits = size * 8;
  auto sext = [bits](uint64_t v) { return static_cast<int64_t>(v << (64 - bits)) >> (64 - bits); };
  if (var.is_const()) {
    *this = constant(static_cast<uint64_t>(sext(var.value)));
    return;
  }
  const int64_t lo = -(int64_t{1} << (bits - 1));
  const int64_t hi = (int64_t{1} << (bits - 1)) - 1;
  int64_t new_min = lo, new_max = hi;
  // A range that stays within one signed `bits`-bit window keeps its shape.
  const uint64_t keep = (1ULL << bits) - 1;
  if ((umin & ~keep) == (umax & ~keep) && sext(umin) <= sext(umax)) {
    new_min = sext(umin);
    new_max = sext(umax);
  }
  *this = Bounds{};
  smin = new_min;
  smax = new_max;
  if (new_min >= 0) {
    umin = static_cast<uint64_t>(new_min);
    umax = static_cast<uint64_t>(new_max);
  }
  sync();
}

Bounds alu(uint8_t op, const Bounds& dst, const Bounds& src, bool alu32) {
  if (!alu32) {
    const View r = apply(op, view64(dst), view64(src), 64);
    Bounds out;
    out.var = r.var;
    out.smin = r.smin;
    out.smax = r.smax;
    out.umin = r.umin;
    out.umax = r.umax;
    out.sync();
    return out;
  }
  // 32-bit: compute on the low halves widened to 64 bits, then keep what fits in 32 bits.
  const View r = apply(op, view32(dst), view32(src), 32);
  Bounds out;
  out.var = tnum_subreg(r.var);
  if ((r.umin >> 32) == (r.umax >> 32)) {
    out.u32min = static_cast<uint32_t>(r.umin);
    out.u32max = static_cast<uint32_t>(r.umax);
  }
  if (r.smin >= kS32Min && r.smax <= kS32Max) {
    out.s32min = static_cast<int32_t>(r.smin);
    out.s32max = static_cast<int32_t>(r.smax);
  }
  out.umin = 0;
  out.umax = kU32Max;
  out.smin = 0;
  out.smax = kU32Max;
  out.sync();
  out.zext32();
  return out;
}

namespace {

uint8_t flip(uint8_t op) {  // a op b  <=>  b flip(op) a
  switch (op) {
    case kJgt: return kJlt;
    case kJge: return kJle;
    case kJlt: return kJgt;
    case kJle: return kJge;
    case kJsgt: return kJslt;
    case kJsge: return kJsle;
    case kJslt: return kJsgt;
    case kJsle: return kJsge;
    default: return op;
  }
}

// Refines one view pair; writes the results back through the setters.
bool refine_view(uint8_t op, View& a, View& b) {
  switch (op) {
    case kJeq: {
      const uint64_t umin = std::max(a.umin, b.umin), umax = std::min(a.umax, b.umax);
      const int64_t smin = std::max(a.smin, b.smin), smax = std::min(a.smax, b.smax);
      if ((a.var.value ^ b.var.value) & ~(a.var.mask | b.var.mask)) return false;
      const Tnum var = tnum_intersect(a.var, b.var);
      a.umin = b.umin = umin;
      a.umax = b.umax = umax;
      a.smin = b.smin = smin;
      a.smax = b.smax = smax;
      a.var = b.var = var;
      return umin <= umax && smin <= smax;
    }
    case kJne: {
      auto exclude = [](View& v, const View& c) {
        if (!c.var.is_const()) return;
        const uint64_t x = c.var.value;
        if (v.umin == x) ++v.umin;
        if (v.umax == x) --v.umax;
        if (v.smin == static_cast<int64_t>(x)) ++v.smin;
        if (v.smax == static_cast<int64_t>(x)) --v.smax;
      };
      if (a.var.is_const() && b.var.is_const() && a.var.value == b.var.value) return false;
      exclude(a, b);
      exclude(b, a);
      return true;
    }
    case kJset: {
      if (b.var.is_const() && std::has_single_bit(b.var.value)) a.var = tnum_or(a.var, b.var);
      else if (a.var.is_const() && std::has_single_bit(a.var.value)) b.var = tnum_or(b.var, a.var);
      return true;
    }
    case kJnset: {
      if (b.var.is_const()) a.var = tnum_and(a.var, Tnum::constant(~b.var.value));
      else if (a.var.is_const()) b.var = tnum_and(b.var, Tnum::constant(~a.var.value));
      return true;
    }
    case kJle:
      a.umax = std::min(a.umax, b.umax);
      b.umin = std::max(b.umin, a.umin);
      return a.umin <= a.umax && b.umin <= b.umax;
    case kJlt:
      if (b.umax == 0 || a.umin == kU64Max) return false;
      a.umax = std::min(a.umax, b.umax - 1);
      b.umin = std::max(b.umin, a.umin + 1);
      return a.umin <= a.umax && b.umin <= b.umax;
    case kJsle:
      a.smax = std::min(a.smax, b.smax);
      b.smin = std::max(b.smin, a.smin);
      return a.smin <= a.smax && b.smin <= b.smax;
    case kJslt:
      if (b.smax == kS64Min || a.smin == kS64Max) return false;
      a.smax = std::min(a.smax, b.smax - 1);
      b.smin = std::max(b.smin, a.smin + 1);
      return a.smin <= a.smax && b.smin <= b.smax;
    default:
      return refine_view(flip(op), b, a);
  }
}

}  // namespace

uint8_t negate_condition(uint8_t op) {
  switch (op) {
    case kJeq: return kJne;
    case kJne: return kJeq;
    case kJgt: return kJle;
    case kJle: return kJgt;
    case kJge: return kJlt;
    case kJlt: return kJge;
    case kJsgt: return kJsle;
    case kJsle: return kJsgt;
    case kJsge: return kJslt;
    case kJslt: return kJsge;
    case kJset: return kJnset;
    default: return kJset;
  }
}

bool refine(uint8_t op, Bounds& a, Bounds& b, bool jmp32) {
  if (!jmp32) {
    View va = view64(a), vb = view64(b);
    if (!refine_view(op, va, vb)) return false;
    auto store = [](Bounds& x, const View& v) {
      x.var = v.var;
      x.smin = v.smin;
      x.smax = v.smax;
      x.umin = v.umin;
      x.umax = v.umax;
    };
    store(a, va);
    store(b, vb);
  } else {
    View va = view32(a), vb = view32(b);
    // The signed 32-bit views hold int32 values; keep comparisons inside that type.
    if (!refine_view(op, va, vb)) return false;
    auto store = [](Bounds& x, const View& v) {
      if (v.smin < kS32Min || v.smax > kS32Max || v.umax > kU32Max) return;
      x.var = tnum_with_subreg(x.var, v.var);
      x.s32min = static_cast<int32_t>(v.smin);
      x.s32max = static_cast<int32_t>(v.smax);
      x.u32min = static_cast<uint32_t>(v.umin);
      x.u32max = static_cast<uint32_t>(v.umax);
    };
    if (va.smin > va.smax || va.umin > va.umax || vb.smin > vb.smax || vb.umin > vb.umax) return false;
    store(a, va);
    store(b, vb);
  }
  a.sync();
  b.sync();
  return a.consistent() && b.consistent();
}

int branch_taken(uint8_t op, const Bounds& a_in, const Bounds& b_in, bool jmp32) {
  const View a = jmp32 ? view32(a_in) : view64(a_in);
  const View b = jmp32 ? view32(b_in) : view64(b_in);
  switch (op) {
    case kJeq:
    case kJne: {
      int eq = -1;
      if (a.var.is_const() && b.var.is_const()) eq = a.var.value == b.var.value;
      else if (a.umin > b.umax || a.umax < b.umin || a.smin > b.smax || a.smax < b.smin) eq = 0;
      else if ((a.var.value ^ b.var.value) & ~(a.var.mask | b.var.mask)) eq = 0;
      if (eq < 0) return -1;
      return op == kJeq ? eq : !eq;
    }
    case kJnset: {
      const int taken = branch_taken(kJset, a_in, b_in, jmp32);
      return taken < 0 ? -1 : !taken;
    }
    case kJset:
      if (a.var.value & b.var.value) return 1;
      if (((a.var.value | a.var.mask) & (b.var.value | b.var.mask)) == 0) return 0;
      return -1;
    case kJgt:
      if (a.umin > b.umax) return 1;
      if (a.umax <= b.umin) return 0;
      return -1;
    case kJge:
      if (a.umin >= b.umax) return 1;
      if (a.umax < b.umin) return 0;
      return -1;
    case kJsgt:
      if (a.smin > b.smax) return 1;
      if (a.smax <= b.smin) return 0;
      return -1;
    case kJsge:
      if (a.smin >= b.smax) return 1;
      if (a.smax < b.smin) return 0;
      return -1;
    case kJlt: case kJle: case kJslt: case kJsle:
      return branch_taken(flip(op), b_in, a_in, jmp32);
    default:
      return -1;
  }
}

}  // namespace bpfvm::verifier
