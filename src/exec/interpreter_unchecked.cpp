// The unchecked executor: how the interpreter runs verified programs. The verifier proved
// every register read, memory access and loop safe, so nothing is checked again (as in the
// kernel's interpreter), and what is left is dispatch: threaded code over pre-decoded slots,
// the slot pointer in a local, one indirect jump per handler. Superinstructions run two or
// three instructions per dispatch; calls, exits, atomics and the other rare operations go
// through Machine::step with the machine's pc synchronised around them.
#include <linux/bpf.h>

#include <algorithm>
#include <cstddef>
#include <iterator>

#include "exec/interpreter_machine.hpp"

namespace bpfvm::interp {
namespace {

// Operations the executor runs in place (run_inline); the others go through Machine::step.
constexpr bool runs_inline(Op op) {
  switch (isa::info(op).kind) {
    case Kind::kAlu: case Kind::kMovSx: case Kind::kNeg: case Kind::kEnd: case Kind::kBswap:
    case Kind::kJmpCond: case Kind::kJa: case Kind::kGotol: case Kind::kLoad: case Kind::kLoadSx:
    case Kind::kStore: case Kind::kStoreReg:
      return true;
    case Kind::kLdImm64:
      return op != Op::LdFunc;
    default:
      return false;
  }
}

BPFVM_ALWAYS_INLINE uint64_t sign_extended(int64_t imm) { return static_cast<uint64_t>(imm); }

// A slot's operands, read with one load and taken apart with shifts: the handlers' loads are
// what limits them, not their arithmetic.
struct Operands {
  unsigned dst;
  unsigned src;
  int64_t off;
  int64_t imm;
};
static_assert(offsetof(InterpreterSlot, src) == offsetof(InterpreterSlot, dst) + 1 &&
              offsetof(InterpreterSlot, off) == offsetof(InterpreterSlot, dst) + 2 &&
              offsetof(InterpreterSlot, imm) == offsetof(InterpreterSlot, dst) + 4);
BPFVM_ALWAYS_INLINE Operands operands(const InterpreterSlot& slot) {
  uint64_t w;
  std::memcpy(&w, reinterpret_cast<const unsigned char*>(&slot) + offsetof(InterpreterSlot, dst), sizeof w);
  return {static_cast<unsigned>(w & 0xff), static_cast<unsigned>((w >> 8) & 0xff), static_cast<int16_t>(w >> 16),
          static_cast<int32_t>(w >> 32)};
}

// One instruction, in place: registers r, the slot ip (advanced past it, or to the jump's
// target).
template <Op O>
BPFVM_ALWAYS_INLINE void run_inline(const InterpreterSlot*& ip, uint64_t* r) {
  constexpr OpInfo info = isa::info(O);
  const Operands i = operands(*ip);
  const uint64_t imm = sign_extended(i.imm);
  const auto address = [&](unsigned base) {
    return reinterpret_cast<uint8_t*>(r[base] + static_cast<uint64_t>(i.off));
  };
  if constexpr (info.kind == Kind::kAlu) {
    const uint64_t src = info.reg_source() ? r[i.src] : imm;
    if constexpr (info.is64()) {
      r[i.dst] = alu<uint64_t>(info.op_bits(), info.match_value == 1, r[i.dst], src);
    } else {
      r[i.dst] = alu<uint32_t>(info.op_bits(), info.match_value == 1, static_cast<uint32_t>(r[i.dst]),
                               static_cast<uint32_t>(src));
    }
    ip += 1;
  } else if constexpr (info.kind == Kind::kMovSx) {
    r[i.dst] = sign_extend(r[i.src], info.match_value, info.is64());
    ip += 1;
  } else if constexpr (info.kind == Kind::kNeg) {
    r[i.dst] = negate(r[i.dst], info.is64());
    ip += 1;
  } else if constexpr (info.kind == Kind::kEnd || info.kind == Kind::kBswap) {
    constexpr bool kSwap = info.kind == Kind::kBswap || info.code == 0xdc;
    r[i.dst] = kSwap ? swap_bytes(r[i.dst], info.match_value) : truncate(r[i.dst], info.match_value);
    ip += 1;
  } else if constexpr (info.kind == Kind::kJmpCond) {
    const uint64_t b = info.reg_source() ? r[i.src] : imm;
    const bool taken = info.is64() ? condition<uint64_t>(info.op_bits(), r[i.dst], b)
                                   : condition<uint32_t>(info.op_bits(), static_cast<uint32_t>(r[i.dst]),
                                                         static_cast<uint32_t>(b));
    ip += 1 + (taken ? i.off : 0);
  } else if constexpr (info.kind == Kind::kJa) {
    ip += 1 + i.off;
  } else if constexpr (info.kind == Kind::kGotol) {
    ip += 1 + i.imm;
  } else if constexpr (info.kind == Kind::kLoad) {
    r[i.dst] = load<Unsigned<info.mem_size()>>(address(i.src));
    ip += 1;
  } else if constexpr (info.kind == Kind::kLoadSx) {
    r[i.dst] = static_cast<uint64_t>(static_cast<int64_t>(load<Signed<info.mem_size()>>(address(i.src))));
    ip += 1;
  } else if constexpr (info.kind == Kind::kStore || info.kind == Kind::kStoreReg) {
    using U = Unsigned<info.mem_size()>;
    store<U>(address(i.dst), static_cast<U>(info.kind == Kind::kStore ? imm : r[i.src]));
    ip += 1;
  } else if constexpr (info.kind == Kind::kLdImm64) {
    std::memcpy(&r[i.dst], &ip[1].handler, sizeof(uint64_t));  // the value, in the second slot
    ip += 2;
  } else {
    __builtin_unreachable();
  }
}

// bpf_map_lookup_elem(map, key) without the helper: an ARRAY map's inline (the kernel's
// array_map_gen_lookup), the others' by a direct call.
BPFVM_ALWAYS_INLINE uint64_t map_lookup(const MapLookup& m, uint64_t key_address) {
  if (m.is_inline()) {
    const uint32_t key = load<uint32_t>(reinterpret_cast<const uint8_t*>(key_address));
    return key < m.max_entries ? m.data + uint64_t{key} * m.stride : 0;
  }
  return reinterpret_cast<uint64_t>(m.call(reinterpret_cast<void*>(m.ref), reinterpret_cast<const void*>(key_address)));
}

// Specialised superinstructions: clang's idioms whose value would otherwise go through the
// register file (a store, then a dependent load) between instructions.
//
// three: `a = b; a op= x` (x an immediate or a register other than a), as a = b op x.
template <Op B>
BPFVM_ALWAYS_INLINE void fused_three(const InterpreterSlot*& ip, uint64_t* r) {
  constexpr OpInfo info = isa::info(B);
  const Operands a = operands(ip[0]), b = operands(ip[1]);
  const uint64_t x = info.reg_source() ? r[b.src] : sign_extended(b.imm);
  r[a.dst] = alu<uint64_t>(info.op_bits(), false, r[a.src], x);
  ip += 2;
}
// count: a loop counter and its test, `a += k; if a <cond> imm goto`.
template <Op B>
BPFVM_ALWAYS_INLINE void fused_count(const InterpreterSlot*& ip, uint64_t* r) {
  const Operands a = operands(ip[0]), b = operands(ip[1]);
  const uint64_t v = r[a.dst] + sign_extended(a.imm);
  r[a.dst] = v;
  const bool taken = condition<uint64_t>(isa::info(B).op_bits(), v, sign_extended(b.imm));
  ip += 2 + (taken ? b.off : 0);
}
// bounds: packet code's bounds check, `a = b; a += k; if a <cond> c goto` (c not a).
template <Op B>
BPFVM_ALWAYS_INLINE void fused_bounds(const InterpreterSlot*& ip, uint64_t* r) {
  const Operands a = operands(ip[0]), b = operands(ip[1]), c = operands(ip[2]);
  const uint64_t v = r[a.src] + sign_extended(b.imm);
  r[a.dst] = v;
  const bool taken = condition<uint64_t>(isa::info(B).op_bits(), v, r[c.src]);
  ip += 3 + (taken ? c.off : 0);
}
// test: a load and a test of what it loaded, `a = *(size *)(b + off); if a ==/!= imm goto`.
// B is the load; the jump's slot has src 1 for `!=` (predecode sets it).
template <Op B>
BPFVM_ALWAYS_INLINE void fused_test(const InterpreterSlot*& ip, uint64_t* r) {
  const Operands a = operands(ip[0]), b = operands(ip[1]);
  const uint64_t v = load<Unsigned<isa::info(B).mem_size()>>(
      reinterpret_cast<const uint8_t*>(r[a.src] + static_cast<uint64_t>(a.off)));
  r[a.dst] = v;
  const bool equal = v == sign_extended(b.imm);
  ip += 2 + (equal != (b.src != 0) ? b.off : 0);
}
// offset: an address in a stack array or a packet, `a = b; a += k; a += c` (c not a).
template <Op B>
BPFVM_ALWAYS_INLINE void fused_offset(const InterpreterSlot*& ip, uint64_t* r) {
  static_assert(B == Op::Add64Reg);
  const Operands a = operands(ip[0]), b = operands(ip[1]), c = operands(ip[2]);
  r[a.dst] = r[a.src] + sign_extended(b.imm) + r[c.src];
  ip += 3;
}
// extend: `a <<= 32; a >>= 32` (zero-extension, B = Rsh64Imm) or `a s>>= 32` (B = Arsh64Imm).
template <Op B>
BPFVM_ALWAYS_INLINE void fused_extend(const InterpreterSlot*& ip, uint64_t* r) {
  const unsigned dst = operands(ip[0]).dst;
  const uint64_t v = r[dst];
  r[dst] = B == Op::Arsh64Imm ? static_cast<uint64_t>(int64_t{static_cast<int32_t>(v)}) : uint64_t{static_cast<uint32_t>(v)};
  ip += 2;
}

// Every specialised superinstruction: its family (one of the templates above) and operation.
#define BPFVM_SPECIALS(X, P)                                                                          \
  X(P, three, Add64Imm) X(P, three, Add64Reg) X(P, three, Sub64Imm) X(P, three, Sub64Reg)            \
  X(P, three, Mul64Imm) X(P, three, Mul64Reg) X(P, three, And64Imm) X(P, three, And64Reg)            \
  X(P, three, Or64Imm) X(P, three, Or64Reg) X(P, three, Xor64Imm) X(P, three, Xor64Reg)              \
  X(P, three, Lsh64Imm) X(P, three, Lsh64Reg) X(P, three, Rsh64Imm) X(P, three, Rsh64Reg)            \
  X(P, three, Arsh64Imm)                                                                             \
  X(P, count, JeqImm) X(P, count, JneImm) X(P, count, JgtImm) X(P, count, JgeImm) X(P, count, JltImm) \
  X(P, count, JleImm) X(P, count, JsgtImm) X(P, count, JsgeImm) X(P, count, JsltImm)                  \
  X(P, count, JsleImm)                                                                               \
  X(P, bounds, JgtReg) X(P, bounds, JgeReg) X(P, bounds, JltReg) X(P, bounds, JleReg)                \
  X(P, test, LdxB) X(P, test, LdxH) X(P, test, LdxW) X(P, test, LdxDW)                               \
  X(P, offset, Add64Reg)                                                                             \
  X(P, extend, Rsh64Imm) X(P, extend, Arsh64Imm)

// Instructions run before a specialised superinstruction by the same handler (when the
// next instruction starts one, the previous one is not left on its own).
#define BPFVM_PREFIXES(X) \
  X(Mov64Reg) X(Mov64Imm) X(Add64Imm) X(Add64Reg) X(Mul64Imm) X(Or64Reg) X(LdxB) X(LdxW) X(StxW) X(StxDW)

// Generic pairs: a handler for each (A, B), A from the first list, B from the second, that
// runs A then B. A must not jump (pairs starting with a conditional jump were measured
// slower: they disturb the prediction of the dispatches); B may.
#define BPFVM_PAIR_FIRST(X)                                                                          \
  X(Mov64Reg) X(Mov64Imm) X(Mov32Reg) X(Mov32Imm) X(Add64Imm) X(Add64Reg) X(Sub64Reg) X(Mul64Imm)    \
  X(Lsh64Imm) X(Rsh64Imm) X(And64Imm) X(And64Reg) X(Or64Reg) X(Xor64Reg) X(LdxB) X(LdxW) X(LdxDW)    \
  X(StxB) X(StxW) X(StxDW)
#define BPFVM_PAIR_SECOND(X, A)                                                                          \
  X(A, Mov64Reg) X(A, Mov64Imm) X(A, Add64Imm) X(A, Add64Reg) X(A, Sub64Reg) X(A, Mul64Imm)              \
  X(A, Lsh64Imm) X(A, Rsh64Imm) X(A, And64Imm) X(A, And64Reg) X(A, Or64Reg) X(A, Xor64Reg) X(A, LdxB)    \
  X(A, LdxW) X(A, LdxDW) X(A, StxB) X(A, StxW) X(A, StxDW) X(A, JeqImm) X(A, JneImm) X(A, JgtImm)        \
  X(A, JgtReg) X(A, JgeReg) X(A, JeqReg) X(A, Ja)

enum class Family { three, count, bounds, test, offset, extend };
struct Special {
  Family family;
  Op op;
};

#define BPFVM_LIST_OP(A) Op::A,
#define BPFVM_LIST_SECOND(A, B) Op::B,
#define BPFVM_LIST_SPECIAL(P, F, B) Special{Family::F, Op::B},
inline constexpr Op kPairFirst[] = {BPFVM_PAIR_FIRST(BPFVM_LIST_OP)};
inline constexpr Op kPairSecond[] = {BPFVM_PAIR_SECOND(BPFVM_LIST_SECOND, _)};
inline constexpr Op kPrefixes[] = {BPFVM_PREFIXES(BPFVM_LIST_OP)};
inline constexpr Special kSpecials[] = {BPFVM_SPECIALS(BPFVM_LIST_SPECIAL, _)};
#undef BPFVM_LIST_OP
#undef BPFVM_LIST_SECOND
#undef BPFVM_LIST_SPECIAL

// The handlers, in the order of Machine::execute_unchecked's table: one per operation, then these.
enum Handler : std::size_t {
  kTailHandler = isa::kOpCount,  // the second slot of an ld_imm64: never executed
  kMapLookup,                    // bpf_map_lookup_elem, without the helper for the maps given
  kConstMapLookup,               // r1 = <map given>; lookup (off: the map's index)
  kConstMapLookupTest,           // ... and `if r0 ==/!= 0 goto` (the next slot's src: 1 for !=)
  kFirstSpecial,
  kFirstPrefixed = kFirstSpecial + std::size(kSpecials),
  kFirstPair = kFirstPrefixed + std::size(kPrefixes) * std::size(kSpecials),
  kHandlerCount = kFirstPair + std::size(kPairFirst) * std::size(kPairSecond),
};

template <typename T, std::size_t N>
std::optional<std::size_t> index_of(const T (&list)[N], const T& value) {
  const auto* found = std::find(std::begin(list), std::end(list), value);
  if (found == std::end(list)) return std::nullopt;
  return static_cast<std::size_t>(found - std::begin(list));
}
constexpr bool operator==(const Special& a, const Special& b) { return a.family == b.family && a.op == b.op; }

// The specialised superinstruction starting at at[0]: its index in kSpecials.
std::optional<std::size_t> special_at(std::span<const Insn> at) {
  if (at.size() < 2) return std::nullopt;
  const Insn& a = at[0];
  const Insn& b = at[1];
  auto found = [](Family f, Op op) { return index_of(kSpecials, Special{f, op}); };
  if (a.op == Op::Mov64Reg && at.size() >= 3 && b.op == Op::Add64Imm && b.dst == a.dst && at[2].dst == a.dst &&
      at[2].info().reg_source() && at[2].src != a.dst) {
    if (auto m = found(Family::bounds, at[2].op)) return m;
  }
  if (a.op == Op::Mov64Reg && at.size() >= 3 && b.op == Op::Add64Imm && b.dst == a.dst && at[2].dst == a.dst &&
      at[2].op == Op::Add64Reg && at[2].src != a.dst) {
    return found(Family::offset, at[2].op);
  }
  if (a.op == Op::Mov64Reg && b.dst == a.dst && !(b.info().reg_source() && b.src == a.dst) &&
      b.info().kind == Kind::kAlu) {
    return found(Family::three, b.op);
  }
  if (a.op == Op::Add64Imm && b.dst == a.dst && b.info().kind == Kind::kJmpCond && !b.info().reg_source()) {
    return found(Family::count, b.op);
  }
  if (a.info().kind == Kind::kLoad && b.dst == a.dst && (b.op == Op::JeqImm || b.op == Op::JneImm)) {
    return found(Family::test, a.op);
  }
  if (a.op == Op::Lsh64Imm && a.imm == 32 && b.dst == a.dst && b.imm == 32) {
    return found(Family::extend, b.op);
  }
  return std::nullopt;
}

// The handler for at[0]: the best superinstruction starting there, else its own.
std::size_t choose_handler(std::span<const Insn> at) {
  const Op op = at[0].op;
  if (auto special = special_at(at)) return kFirstSpecial + *special;
  if (at.size() >= 2) {
    if (auto prefix = index_of(kPrefixes, op)) {
      if (auto special = special_at(at.subspan(1))) {
        return kFirstPrefixed + *prefix * std::size(kSpecials) + *special;
      }
    }
    const auto first = index_of(kPairFirst, op);
    const auto second = index_of(kPairSecond, at[1].op);
    if (first && second) return kFirstPair + *first * std::size(kPairSecond) + *second;
  }
  return static_cast<std::size_t>(op);
}

}  // namespace

const void* const* Machine::execute_unchecked(Machine* m) {
  static const void* const kHandlers[] = {
#define BPFVM_OP(Name, ...) &&op_##Name,
#include "isa/opcodes.def"
#undef BPFVM_OP
      &&tail, &&any_map_lookup, &&const_map_lookup, &&const_map_lookup_test,
#define BPFVM_ADDRESS(P, F, B) &&special_##F##_##B,
      BPFVM_SPECIALS(BPFVM_ADDRESS, _)
#undef BPFVM_ADDRESS
#define BPFVM_ADDRESS(A, F, B) &&prefixed_##A##_##F##_##B,
#define BPFVM_ADDRESSES(A) BPFVM_SPECIALS(BPFVM_ADDRESS, A)
      BPFVM_PREFIXES(BPFVM_ADDRESSES)
#undef BPFVM_ADDRESSES
#undef BPFVM_ADDRESS
#define BPFVM_ADDRESS(A, B) &&pair_##A##_##B,
#define BPFVM_ADDRESSES(A) BPFVM_PAIR_SECOND(BPFVM_ADDRESS, A)
      BPFVM_PAIR_FIRST(BPFVM_ADDRESSES)
#undef BPFVM_ADDRESSES
#undef BPFVM_ADDRESS
  };
  static_assert(std::size(kHandlers) == kHandlerCount);
  if (m == nullptr) return kHandlers;
  Machine& self = *m;
  uint64_t* const r = self.reg.data();
  const InterpreterSlot* ip = self.slots + self.pc;
#define BPFVM_NEXT() goto* ip->handler
#define BPFVM_VIA_STEP(O)                                   \
  self.pc = static_cast<std::size_t>(ip - self.slots);     \
  if (!self.step<O, false>(self.code[self.pc])) goto done; \
  ip = self.slots + self.pc;                               \
  BPFVM_NEXT()

  BPFVM_NEXT();
#define BPFVM_OP(Name, ...)                            \
  op_##Name : if constexpr (runs_inline(Op::Name)) {   \
    run_inline<Op::Name>(ip, r);                       \
    BPFVM_NEXT();                                      \
  } else {                                             \
    BPFVM_VIA_STEP(Op::Name);                          \
  }
#include "isa/opcodes.def"
#undef BPFVM_OP
#define BPFVM_CODE(P, F, B) \
  special_##F##_##B:        \
  fused_##F<Op::B>(ip, r); \
  BPFVM_NEXT();
  BPFVM_SPECIALS(BPFVM_CODE, _)
#undef BPFVM_CODE
#define BPFVM_CODE(A, F, B)    \
  prefixed_##A##_##F##_##B:    \
  run_inline<Op::A>(ip, r);    \
  fused_##F<Op::B>(ip, r);     \
  BPFVM_NEXT();
#define BPFVM_CODES(A) BPFVM_SPECIALS(BPFVM_CODE, A)
  BPFVM_PREFIXES(BPFVM_CODES)
#undef BPFVM_CODES
#undef BPFVM_CODE
#define BPFVM_CODE(A, B)    \
  pair_##A##_##B:           \
  run_inline<Op::A>(ip, r); \
  run_inline<Op::B>(ip, r); \
  BPFVM_NEXT();
#define BPFVM_CODES(A) BPFVM_PAIR_SECOND(BPFVM_CODE, A)
  BPFVM_PAIR_FIRST(BPFVM_CODES)
#undef BPFVM_CODES
#undef BPFVM_CODE
const_map_lookup:
  // r1 = map (an ld_imm64: two slots), the call.
  std::memcpy(&r[1], &ip[1].handler, sizeof(uint64_t));
  r[0] = map_lookup((*self.map_lookups)[static_cast<std::size_t>(ip->off)], r[2]);
  ip += 3;
  BPFVM_NEXT();
const_map_lookup_test: {
  // ... then `if r0 ==/!= 0 goto`.
  std::memcpy(&r[1], &ip[1].handler, sizeof(uint64_t));
  const uint64_t value = map_lookup((*self.map_lookups)[static_cast<std::size_t>(ip->off)], r[2]);
  r[0] = value;
  const InterpreterSlot& test = ip[3];
  ip += 4 + ((value == 0) != (test.src != 0) ? test.off : 0);
  BPFVM_NEXT();
}
any_map_lookup:
  for (const MapLookup& known : *self.map_lookups) {
    if (known.ref == r[1]) {
      r[0] = map_lookup(known, r[2]);
      ip += 1;
      BPFVM_NEXT();
    }
  }
  BPFVM_VIA_STEP(Op::CallHelper);
tail:
  self.pc = static_cast<std::size_t>(ip - self.slots);
  self.fail("internal: executed the second half of an ld_imm64");
  self.error->kind = ErrorKind::kInternal;
done:
#undef BPFVM_VIA_STEP
#undef BPFVM_NEXT
  return kHandlers;
}

std::vector<InterpreterSlot> predecode(std::span<const Insn> program, std::span<const MapLookup> map_lookups) {
  const void* const* handlers = Machine::execute_unchecked(nullptr);
  std::vector<InterpreterSlot> slots(program.size());
  for (std::size_t pc = 0; pc < program.size(); ++pc) {
    const Insn& insn = program[pc];
    slots[pc] = InterpreterSlot{handlers[static_cast<std::size_t>(insn.op)], insn.dst, insn.src, insn.off, insn.imm};
  }
  // `if a ==/!= imm goto` after a load or a lookup: src (unused by a jump with an immediate)
  // tells the superinstruction which.
  for (std::size_t pc = 0; pc < program.size(); ++pc) {
    if (program[pc].op == Op::JneImm) slots[pc].src = 1;
  }
  for (std::size_t pc = 0; pc < program.size(); ++pc) {
    const Insn& insn = program[pc];
    InterpreterSlot& slot = slots[pc];
    if (insn.op == Op::LdImm64Tail) {
      slot.handler = handlers[kTailHandler];
    } else if (insn.info().kind == Kind::kLdImm64 && insn.op != Op::LdFunc) {
      // The value to load: the immediate, or what the loader resolved a map reference to.
      const uint64_t value = insn.op == Op::LdImm64 ? insn.imm64 : program[pc + 1].imm64;
      std::memcpy(&slots[pc + 1].handler, &value, sizeof value);
      // A lookup in a map named right before the call, maybe with its NULL test.
      if (insn.op == Op::LdMapFd && insn.dst == 1 && pc + 2 < program.size() &&
          program[pc + 2].op == Op::CallHelper && program[pc + 2].imm == BPF_FUNC_map_lookup_elem) {
        for (std::size_t k = 0; k < map_lookups.size() && k <= INT16_MAX; ++k) {
          if (map_lookups[k].ref != value) continue;
          const bool tested = pc + 3 < program.size() && program[pc + 3].dst == 0 && program[pc + 3].imm == 0 &&
                              (program[pc + 3].op == Op::JeqImm || program[pc + 3].op == Op::JneImm);
          slot.handler = handlers[tested ? kConstMapLookupTest : kConstMapLookup];
          slot.off = static_cast<int16_t>(k);
          break;
        }
      }
      ++pc;  // the second slot keeps the value
      continue;
    } else if (insn.op == Op::CallHelper && insn.imm == BPF_FUNC_map_lookup_elem && !map_lookups.empty()) {
      slot.handler = handlers[kMapLookup];
    } else {
      slot.handler = handlers[choose_handler(program.subspan(pc))];
    }
    // Jump threading: a jump to a `goto` goes where that one leads.
    if (insn.info().kind == Kind::kJmpCond || insn.op == Op::Ja) {
      std::size_t target = pc + 1 + static_cast<std::size_t>(int64_t{insn.off});
      for (int hops = 0; hops < 8 && program[target].op == Op::Ja; ++hops) {
        target += 1 + static_cast<std::size_t>(int64_t{program[target].off});
      }
      const auto delta = static_cast<int64_t>(target) - static_cast<int64_t>(pc) - 1;
      if (delta >= INT16_MIN && delta <= INT16_MAX) slot.off = static_cast<int16_t>(delta);
    }
  }
  return slots;
}

}  // namespace bpfvm::interp
