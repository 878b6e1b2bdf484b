// The interpreter's machine: registers, frames, the BPF stack, and the semantics of each
// operation (Machine::step), shared by its two executors: the checked one
// (interpreter.cpp) and the unchecked one for verified programs (interpreter_unchecked.cpp).
// Internal to src/exec.
#pragma once

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <utility>

#include "exec/alu_semantics.hpp"
#include "exec/interpreter.hpp"
#include "exec/register_use.hpp"

namespace bpfvm::interp {

using isa::Insn;
using isa::Kind;
using isa::Op;
using isa::OpInfo;

using sem::alu;
using sem::condition;
using sem::negate;
using sem::sign_extend;
using sem::swap_bytes;
using sem::truncate;
using regs::bit;
using regs::kArgRegs;
using regs::reads_dst;
using regs::reads_src;

struct Frame {
  // Where the caller continues: its program (a tail call may have changed the callee's) and pc.
  // No initialisers: enter() sets every field, and a run should not pay for zeroing eight.
  const Interpreter* program;
  std::size_t return_pc;
  std::array<uint64_t, 4> saved;  // caller's r6..r9
  uint16_t init;                  // caller's initialized-register mask
};

template <typename T>
BPFVM_ALWAYS_INLINE T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
template <typename T>
BPFVM_ALWAYS_INLINE void store(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

template <unsigned N>
using Unsigned = std::conditional_t<N == 1, uint8_t, std::conditional_t<N == 2, uint16_t, std::conditional_t<N == 4, uint32_t, uint64_t>>>;
template <unsigned N>
using Signed = std::make_signed_t<Unsigned<N>>;

using StackBytes = std::array<uint8_t, kMaxCallFrames * kStackSize>;

struct Machine final : HelperHost {
  explicit Machine(StackBytes& storage) : stack(storage) {}

  // The running program and, cached from it, what each instruction needs.
  const Interpreter* program = nullptr;
  const Insn* code = nullptr;
  std::size_t count = 0;
  const std::vector<HelperFn>* helper_at = nullptr;
  const InterpreterSlot* slots = nullptr;             // unchecked mode
  const std::vector<MapLookup>* map_lookups = nullptr;
  bool checked = true;
  const HelperTable* helpers = nullptr;
  const RunOptions* options = nullptr;

  std::array<uint64_t, 11> reg{};
  uint16_t init = 0;
  std::size_t pc = 0;
  unsigned depth = 0;
  std::array<Frame, kMaxCallFrames> frames;
  uint64_t branches_left = 0;
  uint64_t may_goto_left = kMayGotoBudget;
  std::optional<Error> error;
  bool stopped = false;   // a helper ended the program (HelperContext::stop)
  unsigned tail_calls = 0;                     // in this run, at most kMaxTailCalls
  const Interpreter* pending_tail_call = nullptr;  // set by bpf_tail_call, taken after the helper returns
  uint64_t tail_call_ctx = 0;
  int return_depth = -1;  // a callback (HelperHost::call) returns when the call depth drops to this
  std::span<uint8_t, kMaxCallFrames * kStackSize> stack;  // the BPF stack: storage the run provides

  void set_program(const Interpreter* p) {
    program = p;
    code = p->insns().data();
    count = p->insns().size();
    helper_at = &p->helper_at_for_tail_calls();
    slots = p->slots().data();
    map_lookups = &p->map_lookups();
  }

  // Runs from pc until the program exits, a callback returns, or an error.
  void execute() {
    if (checked) {
      execute_checked();
    } else {
      execute_unchecked(this);
    }
  }
  void execute_checked();
  // Called with nullptr, returns the handler of each operation (InterpreterSlot::handler).
  static const void* const* execute_unchecked(Machine* m);

  uint8_t* translate(uint64_t address, std::size_t size, bool write) const override {
    if (size == 0) return reinterpret_cast<uint8_t*>(address);
    return accessible(address, size, write, reinterpret_cast<uint64_t>(stack.data()), stack.size(), options->regions);
  }

  bool tail_call(const TailCallTarget& target, uint64_t ctx) override {
    if (tail_calls >= kMaxTailCalls || target.interpreter == nullptr) return false;
    ++tail_calls;
    pending_tail_call = target.interpreter;
    tail_call_ctx = ctx;
    return true;
  }

  Result<uint64_t> call(uint64_t function, std::array<uint64_t, 5> args) override {
    const auto base = reinterpret_cast<uint64_t>(code);
    if (function - base >= count * sizeof(Insn) || (function - base) % sizeof(Insn) != 0) {
      return Error{ErrorKind::kRuntime, fmt::format("callback 0x{:x} is not a subprogram of this program", function),
                   pc, std::nullopt};
    }
    // Run the callback as a bpf-to-bpf call from the helper's instruction, then resume there.
    const std::size_t saved_pc = pc;
    const int saved_return_depth = return_depth;
    const std::array<uint64_t, 6> saved_regs = {reg[0], reg[1], reg[2], reg[3], reg[4], reg[5]};
    const uint16_t saved_init = init;
    for (unsigned k = 0; k < 5; ++k) reg[k + 1] = args[k];
    init = static_cast<uint16_t>(init | kArgRegs);
    return_depth = static_cast<int>(depth);
    if (enter((function - base) / sizeof(Insn))) execute();
    const uint64_t r0 = reg[0];
    return_depth = saved_return_depth;
    pc = saved_pc;
    for (unsigned k = 0; k < 6; ++k) reg[k] = saved_regs[k];
    init = saved_init;
    if (error) return *error;
    return r0;  // when a helper in the callback stopped the program, `stopped` tells the caller
  }

  bool fail(std::string message) {
    error = Error{ErrorKind::kRuntime, std::move(message), pc, std::nullopt};
    return false;
  }

  uint64_t frame_pointer(unsigned d) const {
    return reinterpret_cast<uint64_t>(stack.data()) + (kMaxCallFrames - d) * kStackSize;
  }

  // The host address of an N-byte access at `address`, or nullptr when it leaves the stack and
  // every region the caller allowed (unsigned wrap-around makes each test a single compare).
  template <unsigned N, bool kChecked>
  BPFVM_ALWAYS_INLINE uint8_t* translate(uint64_t address, bool write) const {
    if constexpr (!kChecked) return reinterpret_cast<uint8_t*>(address);
    return accessible(address, N, write, reinterpret_cast<uint64_t>(stack.data()), stack.size(), options->regions);
  }

  bool bad_access(unsigned size, bool write, uint8_t base, int16_t off) {
    const uint64_t address = reg[base] + static_cast<uint64_t>(static_cast<int64_t>(off));
    return fail(fmt::format("invalid memory {} of {} bytes at 0x{:x} (r{} {:+d}): outside the stack and the "
                            "memory given to the program",
                            write ? "write" : "read", size, address, base, off));
  }

  bool count_branch() {
    if (options->branch_limit != 0 && --branches_left == 0) {
      return fail(fmt::format("stopped after {} taken branches: the program does not terminate "
                              "(raise RunOptions::branch_limit if it should)",
                              options->branch_limit));
    }
    return true;
  }

  template <bool kChecked = true>
  bool jump(int64_t delta) {
    pc = static_cast<std::size_t>(static_cast<int64_t>(pc) + 1 + delta);
    return !kChecked || delta >= 0 || count_branch();
  }

  bool enter(std::size_t target) {
    if (depth + 1 >= kMaxCallFrames) {
      return fail(fmt::format("the call stack of {} frames is too deep !", depth + 2));
    }
    Frame& f = frames[depth];
    f.program = program;
    f.return_pc = pc + 1;
    f.saved = {reg[6], reg[7], reg[8], reg[9]};
    f.init = init;
    ++depth;
    reg[10] = frame_pointer(depth);
    // The callee sees its arguments and its own frame pointer; r0 and r6-r9 are its own to set.
    init = static_cast<uint16_t>((init & kArgRegs) | bit(10));
    std::memset(stack.data() + (kMaxCallFrames - 1 - depth) * kStackSize, 0, kStackSize);
    pc = target;
    return !checked || count_branch();
  }

  // Returns false when the main program exits (or on error).
  bool leave() {
    if (depth == 0) return false;
    --depth;
    const Frame& f = frames[depth];
    reg[6] = f.saved[0];
    reg[7] = f.saved[1];
    reg[8] = f.saved[2];
    reg[9] = f.saved[3];
    reg[10] = frame_pointer(depth);
    set_program(f.program);
    // Scratch r1-r5: the callee may have clobbered them.
    init = static_cast<uint16_t>((f.init & ~kArgRegs) | bit(0));
    pc = f.return_pc;
    return static_cast<int>(depth) != return_depth;  // a callback has returned to its helper
  }

  bool call_helper(HelperFn fn) {
    HelperContext ctx{options, pc, false, this, !checked};
    const uint64_t r0 = fn(reg[1], reg[2], reg[3], reg[4], reg[5], ctx);
    if (error) return false;  // a callback failed
    if (pending_tail_call != nullptr) {
      // The frame becomes the target program: fresh registers but r1 = ctx and r10.
      const Interpreter* target = std::exchange(pending_tail_call, nullptr);
      // A checked run stays checked in any program; an unchecked one may only continue in a
      // program that was verified too.
      if (!checked && target->checked()) {
        return fail("bpf_tail_call: the target program was not verified, and this program runs unchecked (load "
                    "every program of the chain with the same verification)");
      }
      set_program(target);
      // Unwritten registers hold zero (helper arguments are not read-checked; the JIT agrees).
      for (unsigned k = 0; k < 10; ++k) reg[k] = 0;
      reg[1] = tail_call_ctx;
      init = static_cast<uint16_t>(bit(1) | bit(10));
      pc = 0;
      return !checked || count_branch();
    }
    reg[0] = r0;
    // r1-r5 are unwritten now. They hold zero, not what they held before: their values can
    // still reach a helper (arguments are not read-checked), and the JIT's registers hold
    // whatever the helper left there, so both engines zero them.
    for (unsigned k = 1; k <= 5; ++k) reg[k] = 0;
    init = static_cast<uint16_t>((init & ~kArgRegs) | bit(0));
    ++pc;
    if (ctx.stop) stopped = true;
    return !stopped;
  }

  bool callx(uint8_t dst) {
    const uint64_t value = reg[dst];
    const auto base = reinterpret_cast<uint64_t>(code);
    // A value made by `ld_imm64 src=BPF_PSEUDO_FUNC` is the address of a subprogram.
    if (value - base < count * sizeof(Insn) && (value - base) % sizeof(Insn) == 0) {
      return enter((value - base) / sizeof(Insn));
    }
    // Otherwise the register holds a helper id (the conformance suite's convention).
    if (value <= static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
      if (const Helper* h = helpers->find(static_cast<int32_t>(value)); h != nullptr && h->fn != nullptr) {
        return call_helper(h->fn);
      }
    }
    return fail(fmt::format("callx r{}: 0x{:x} is neither a subprogram nor a known helper", dst, value));
  }

  // LD_ABS / LD_IND: r0 = big-endian packet bytes; out of bounds ends the program with r0 = 0.
  template <unsigned N>
  bool load_packet(int64_t offset) {
    const auto& packet = options->packet;
    init = static_cast<uint16_t>((init & ~kArgRegs) | bit(0));
    if (offset < 0 || static_cast<uint64_t>(offset) + N > packet.size()) {
      reg[0] = 0;
      return false;
    }
    if constexpr (N == 1) {
      reg[0] = packet[static_cast<std::size_t>(offset)];
    } else {
      reg[0] = swap_bytes(load<Unsigned<N>>(packet.data() + offset), N * 8);
    }
    ++pc;
    return true;
  }

  // Executes instruction pc. Unchecked (kChecked false): the verifier proved each register
  // read, memory access and loop safe, so none is checked again.
  template <Op O, bool kChecked = true>
  BPFVM_ALWAYS_INLINE bool step(const Insn& i);
};

template <Op O, bool kChecked>
BPFVM_ALWAYS_INLINE bool Machine::step(const Insn& i) {
  constexpr OpInfo r = isa::info(O);
  constexpr uint16_t kReadsDst = reads_dst(r);
  constexpr uint16_t kReadsSrc = reads_src(r);
  if constexpr (kChecked && (kReadsDst || kReadsSrc)) {
    const uint16_t need = static_cast<uint16_t>((kReadsDst ? bit(i.dst) : 0) | (kReadsSrc ? bit(i.src) : 0));
    if ((init & need) != need) [[unlikely]] {
      return fail(fmt::format("R{} !read_ok", (init & bit(i.dst)) || !kReadsDst ? i.src : i.dst));
    }
  }

  if constexpr (r.kind == Kind::kAlu) {
    const uint64_t src = r.reg_source() ? reg[i.src] : i.imm64;
    if constexpr (r.is64()) {
      reg[i.dst] = alu<uint64_t>(r.op_bits(), r.match_value == 1, reg[i.dst], src);
    } else {
      reg[i.dst] = alu<uint32_t>(r.op_bits(), r.match_value == 1, static_cast<uint32_t>(reg[i.dst]),
                                 static_cast<uint32_t>(src));
    }
    init |= bit(i.dst);
    ++pc;
    return true;
  } else if constexpr (r.kind == Kind::kMovSx) {
    reg[i.dst] = sign_extend(reg[i.src], r.match_value, r.is64());
    init |= bit(i.dst);
    ++pc;
    return true;
  } else if constexpr (r.kind == Kind::kNeg) {
    reg[i.dst] = negate(reg[i.dst], r.is64());
    ++pc;
    return true;
  } else if constexpr (r.kind == Kind::kEnd || r.kind == Kind::kBswap) {
    // Hosts are little-endian (x86-64): to/from LE truncates, to/from BE and bswap swap.
    constexpr bool kSwap = r.kind == Kind::kBswap || r.code == 0xdc;
    static_assert(std::endian::native == std::endian::little, "bpfvm assumes a little-endian host");
    reg[i.dst] = kSwap ? swap_bytes(reg[i.dst], r.match_value) : truncate(reg[i.dst], r.match_value);
    ++pc;
    return true;
  } else if constexpr (r.kind == Kind::kJmpCond) {
    const uint64_t b = r.reg_source() ? reg[i.src] : i.imm64;
    const bool taken = r.is64() ? condition<uint64_t>(r.op_bits(), reg[i.dst], b)
                                : condition<uint32_t>(r.op_bits(), static_cast<uint32_t>(reg[i.dst]),
                                                      static_cast<uint32_t>(b));
    return jump<kChecked>(taken ? i.off : 0);
  } else if constexpr (r.kind == Kind::kJa) {
    return jump<kChecked>(i.off);
  } else if constexpr (r.kind == Kind::kGotol) {
    return jump<kChecked>(i.imm);
  } else if constexpr (r.kind == Kind::kMayGoto) {
    // The kernel rewrites may_goto into a countdown: fall through BPF_MAX_LOOPS times, then jump.
    if (may_goto_left == 0) return jump<kChecked>(i.off);
    --may_goto_left;
    ++pc;
    return true;
  } else if constexpr (r.kind == Kind::kCallHelper) {
    return call_helper((*helper_at)[pc]);
  } else if constexpr (r.kind == Kind::kCallLocal) {
    return enter(static_cast<std::size_t>(static_cast<int64_t>(pc) + 1 + i.imm));
  } else if constexpr (r.kind == Kind::kCallKfunc) {
    return fail(fmt::format("kernel function calls (kfunc #{}) are not available in this runtime", i.imm));
  } else if constexpr (r.kind == Kind::kCallx) {
    return callx(i.dst);
  } else if constexpr (r.kind == Kind::kExit) {
    if (kChecked && !(init & bit(0))) [[unlikely]] return fail("R0 !read_ok");
    return leave();
  } else if constexpr (r.kind == Kind::kLoad || r.kind == Kind::kLoadSx) {
    constexpr unsigned N = r.mem_size();
    const uint8_t* p = translate<N, kChecked>(reg[i.src] + static_cast<uint64_t>(static_cast<int64_t>(i.off)), false);
    if (p == nullptr) [[unlikely]] return bad_access(N, false, i.src, i.off);
    if constexpr (r.kind == Kind::kLoad) {
      reg[i.dst] = load<Unsigned<N>>(p);
    } else {
      reg[i.dst] = static_cast<uint64_t>(static_cast<int64_t>(load<Signed<N>>(p)));
    }
    init |= bit(i.dst);
    ++pc;
    return true;
  } else if constexpr (r.kind == Kind::kStore || r.kind == Kind::kStoreReg) {
    constexpr unsigned N = r.mem_size();
    uint8_t* p = translate<N, kChecked>(reg[i.dst] + static_cast<uint64_t>(static_cast<int64_t>(i.off)), true);
    if (p == nullptr) [[unlikely]] return bad_access(N, true, i.dst, i.off);
    const uint64_t v = r.kind == Kind::kStore ? i.imm64 : reg[i.src];
    store<Unsigned<N>>(p, static_cast<Unsigned<N>>(v));
    ++pc;
    return true;
  } else if constexpr (r.kind == Kind::kAtomic) {
    constexpr unsigned N = r.mem_size();
    using U = Unsigned<N>;
    uint8_t* p = translate<N, kChecked>(reg[i.dst] + static_cast<uint64_t>(static_cast<int64_t>(i.off)), true);
    if (p == nullptr) [[unlikely]] return bad_access(N, true, i.dst, i.off);
    if (kChecked && reinterpret_cast<uintptr_t>(p) % N != 0) [[unlikely]] {
      return fail(fmt::format("misaligned {}-byte atomic access at 0x{:x}", N, reinterpret_cast<uintptr_t>(p)));
    }
    U* target = reinterpret_cast<U*>(p);
    const U operand = static_cast<U>(reg[i.src]);
    constexpr int32_t kOp = r.match_value;
    if constexpr (kOp == isa::code::kCmpxchg) {
      if (kChecked && !(init & bit(0))) [[unlikely]] return fail("R0 !read_ok");
      U expected = static_cast<U>(reg[0]);
      __atomic_compare_exchange_n(target, &expected, operand, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
      reg[0] = expected;  // the old value, zero-extended
      init |= bit(0);
    } else {
      U old;
      if constexpr (kOp == isa::code::kXchg) old = __atomic_exchange_n(target, operand, __ATOMIC_SEQ_CST);
      else if constexpr ((kOp & ~isa::code::kFetch) == 0x00) old = __atomic_fetch_add(target, operand, __ATOMIC_SEQ_CST);
      else if constexpr ((kOp & ~isa::code::kFetch) == 0x40) old = __atomic_fetch_or(target, operand, __ATOMIC_SEQ_CST);
      else if constexpr ((kOp & ~isa::code::kFetch) == 0x50) old = __atomic_fetch_and(target, operand, __ATOMIC_SEQ_CST);
      else old = __atomic_fetch_xor(target, operand, __ATOMIC_SEQ_CST);
      if constexpr ((kOp & isa::code::kFetch) != 0) {
        reg[i.src] = old;
        init |= bit(i.src);
      }
    }
    ++pc;
    return true;
  } else if constexpr (r.kind == Kind::kLdImm64) {
    if constexpr (O == Op::LdFunc) {
      reg[i.dst] = reinterpret_cast<uint64_t>(code + pc + 1 + static_cast<int32_t>(i.imm));
    } else {
      // A plain immediate; for a map reference, the value a loader resolved it to, which it keeps
      // in the second slot so the first still says what the program asked for (map id, offset).
      reg[i.dst] = O == Op::LdImm64 ? i.imm64 : (&i)[1].imm64;
    }
    init |= bit(i.dst);
    pc += 2;
    return true;
  } else if constexpr (r.kind == Kind::kLdAbs) {
    return load_packet<r.mem_size()>(i.imm);
  } else if constexpr (r.kind == Kind::kLdInd) {
    return load_packet<r.mem_size()>(static_cast<int64_t>(static_cast<int32_t>(reg[i.src] + static_cast<uint32_t>(i.imm))));
  } else {
    static_assert(r.kind == Kind::kAlu, "every kind of operation needs semantics");
    return false;
  }
}

// The unchecked executor's program (interpreter_unchecked.cpp): one slot per instruction,
// superinstructions chosen, jumps threaded, lookups in the maps of `map_lookups` without the
// helper.
[[nodiscard]] std::vector<InterpreterSlot> predecode(std::span<const isa::Insn> program,
                                                     std::span<const MapLookup> map_lookups);

}  // namespace bpfvm::interp
