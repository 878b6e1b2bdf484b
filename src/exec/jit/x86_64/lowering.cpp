// Lowering: one BPF instruction at a time into x86-64, BPF registers pinned to host registers
// as Linux's JIT pins them, so helper calls need no shuffling:
//
//   r0 rax   r1 rdi   r2 rsi   r3 rdx   r4 rcx   r5 r8      (System V argument registers)
//   r6 rbx   r7 r13   r8 r14   r9 r15   r10 rbp             (callee-saved)
//
// and four host registers of the JIT's own:
//
//   r12  the JitState of this run (callee-saved, so helpers keep it)
//   r9   the taken-branch budget (checked code); holds the HelperContext* (6th argument) during
//        helper calls; keeps r3 in the division stubs (unchecked code)
//   r11  the address of the memory access being checked; the divisor; scratch
//   r10  the dividend and result of the division stubs; scratch
//
// Code layout: prologue (entry), the instructions in order, out-of-line failure paths and
// shared stubs, the entry for callbacks, then the callx jump table. The main program is entered
// with `call`, so every BPF exit is a plain `ret`, whatever the depth: an unverified program may
// exit from anywhere.
//
// Tail calls: bpf_tail_call records the target's body in the JitState and asks to stop; the
// stop path sees the target and jumps to it with r1 = ctx, in the same frame and with the same
// return address, so the target's exit returns where the caller's would have. Any program of
// the chain may therefore run with the entry's prologue, which is why a program that calls
// helpers saves all of rbx and r13-r15: the targets may use them.
//
// Callbacks (bpf_loop, for_each_map_elem): the helper, C++ code, calls the callback entry,
// which saves the host's callee-saved registers, opens a frame one deeper and calls the
// subprogram. Early exits (errors, a helper asking to stop) unwind to the innermost entry,
// through JitState::host_rsp and exit_to, never across the helper's C++ frames.
#include "exec/jit/x86_64/lowering.hpp"

#include <fmt/format.h>
#include <linux/bpf.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <cstddef>
#include <cstring>
#include <optional>
#include <utility>

#include "exec/alu_semantics.hpp"
#include "exec/jit/x86_64/encoder.hpp"
#include "exec/jit/x86_64/run_state.hpp"

namespace bpfvm::jit::detail {
namespace {

using asmjit::Label;
using isa::Insn;
using isa::Kind;
using isa::Op;
using isa::OpInfo;
namespace x86 = asmjit::x86;
using x86::CondCode;
using x86::Gp;

// Operations that only compute, load or store: no jump, call or exit, no helper to run.
constexpr bool computes_only(Kind kind) {
  return kind == Kind::kAlu || kind == Kind::kMovSx || kind == Kind::kNeg || kind == Kind::kEnd ||
         kind == Kind::kBswap || kind == Kind::kLoad || kind == Kind::kLoadSx || kind == Kind::kLdImm64 ||
         kind == Kind::kStore || kind == Kind::kStoreReg;
}

constexpr std::array<uint32_t, 11> kHostReg = {
    Gp::kIdAx, Gp::kIdDi, Gp::kIdSi, Gp::kIdDx, Gp::kIdCx, Gp::kIdR8,   // r0-r5
    Gp::kIdBx, Gp::kIdR13, Gp::kIdR14, Gp::kIdR15,                      // r6-r9
    Gp::kIdBp,                                                          // r10
};

constexpr uint32_t kLoopAlignment = 32;

const x86::Gpq kState = x86::r12;
const x86::Gpq kBudget = x86::r9;
const x86::Gpq kAddr = x86::r11;
const x86::Gpq kScratch = x86::r10;

Gp reg64(uint8_t r) { return x86::gpq(kHostReg[r]); }
Gp reg32(uint8_t r) { return x86::gpd(kHostReg[r]); }
Gp reg16(uint8_t r) { return x86::gpw(kHostReg[r]); }
Gp reg8(uint8_t r) { return x86::gpb(kHostReg[r]); }
Gp sized(Gp r, unsigned bytes) {
  switch (bytes) {
    case 1: return x86::gpb(r.id());
    case 2: return x86::gpw(r.id());
    case 4: return x86::gpd(r.id());
    default: return x86::gpq(r.id());
  }
}

// imm as an operand of `bytes` bytes (what its low bytes say, sign-extended for the encoders).
int32_t narrowed(int32_t imm, unsigned bytes) {
  return bytes == 1 ? static_cast<int8_t>(imm) : bytes == 2 ? static_cast<int16_t>(imm) : imm;
}

// The x86 instruction of a BPF add, sub, and, or or xor.
asmjit::InstId op_instruction(uint8_t op_bits) {
  switch (op_bits) {
    case BPF_ADD: return x86::Inst::kIdAdd;
    case BPF_SUB: return x86::Inst::kIdSub;
    case BPF_AND: return x86::Inst::kIdAnd;
    case BPF_OR: return x86::Inst::kIdOr;
    default: return x86::Inst::kIdXor;
  }
}

// A field of the run's JitState.
x86::Mem state(std::size_t offset, uint32_t size = 8) {
  return x86::ptr(kState, static_cast<int32_t>(offset), size);
}
#define BPFVM_STATE(field, ...) state(offsetof(JitState, field), ##__VA_ARGS__)

unsigned log2_size(unsigned bytes) { return bytes == 1 ? 0 : bytes == 2 ? 1 : bytes == 4 ? 2 : 3; }

CondCode condition(uint8_t op_bits) {
  switch (op_bits) {
    case 0x10: return CondCode::kE;
    case 0x20: return CondCode::kA;
    case 0x30: return CondCode::kAE;
    case 0x40: return CondCode::kNE;  // jset: after test
    case 0x50: return CondCode::kNE;
    case 0x60: return CondCode::kG;
    case 0x70: return CondCode::kGE;
    case 0xa0: return CondCode::kB;
    case 0xb0: return CondCode::kBE;
    case 0xc0: return CondCode::kL;
    default: return CondCode::kLE;  // 0xd0
  }
}

// Records the first assembler error; later instructions are still emitted but the result is
// discarded (a sticky error, so the lowering reads as straight-line code).
class StickyError : public asmjit::ErrorHandler {
 public:
  void handleError(asmjit::Error err, const char* message, asmjit::BaseEmitter*) override {
    if (!failed) {
      failed = true;
      text = fmt::format("asmjit error {}: {}", err, message);
    }
  }
  bool failed = false;
  std::string text;
};

// An out-of-line failure: r10 = pc, r11 = the offending value, then the status's tail.
struct FailSite {
  Label label;
  Status status;
  std::size_t pc;
  int64_t value = -1;  // when >= 0, r11 = value (else r11 already holds it)
};

class Lowering {
 public:
  Lowering(x86::Assembler& a, const LowerInput& in) : a_(a), in_(in) {}

  LoweredLabels run();

 private:
  // Where the program's instructions are.
  void prologue(std::array<bool, 11> used, bool calls_out);
  void instruction(std::size_t pc, const verifier::InsnFacts* facts);
  bool zero_extension_pair(std::size_t pc) const;
  bool low_half_copy(std::size_t pc) const;
  bool dead_after(std::size_t pc, uint8_t reg) const;
  bool dead_from(std::size_t pc, uint8_t reg, int& budget) const;
  bool update_in_memory(std::size_t pc) const;
  std::size_t address_pair(std::size_t pc) const;
  bool select(std::size_t pc) const;
  bool skips_jump(std::size_t pc) const;
  bool decided(std::size_t pc) const;
  std::size_t scaled_index(std::size_t pc) const;
  // The verifier's facts about an instruction (JitOptions::facts), or null.
  const verifier::InsnFacts* facts_at(std::size_t pc) const {
    const auto& f = in_.options.facts;
    return f.size() == in_.insns.size() ? &f[pc] : nullptr;
  }
  void out_of_line();
  void callback_entry();

  // Operations, by kind.
  void load_constant(uint8_t dst, uint64_t value) { set_constant(kHostReg[dst], value); }
  void set_constant(unsigned host, uint64_t value);
  bool with_constants(std::size_t pc, const Insn& i, const OpInfo& r, std::optional<uint64_t> result);
  std::optional<uint64_t> known(uint8_t reg) const {
    if (!(known_ & regs::bit(reg))) return std::nullopt;
    return value_[reg];
  }
  std::optional<uint64_t> value_after(const Insn& i, const OpInfo& r) const;
  // The largest value reg may hold here (unsigned): its value when known, else its bound.
  uint64_t upper(uint8_t reg) const { return (known_ & regs::bit(reg)) ? value_[reg] : umax_[reg]; }
  uint64_t upper_after(const Insn& i, const OpInfo& r) const;
  void learn(const Insn& i, const OpInfo& r, std::optional<uint64_t> result);
  void forget_writes(const Insn& i, const OpInfo& r);
  void forget(uint8_t reg) {
    known_ &= static_cast<uint16_t>(~regs::bit(reg));
    umax_[reg] = UINT64_MAX;
  }
  void forget_all() {
    known_ = 0;
    umax_.fill(UINT64_MAX);
  }
  void remember(uint8_t reg, uint64_t value) {
    value_[reg] = value;
    known_ |= regs::bit(reg);
  }
  void alu(const Insn& i, const OpInfo& r);
  void alu_imm(uint8_t op_bits, bool is64, bool is_signed, uint8_t dst, int32_t imm);
  void alu_reg(uint8_t op_bits, bool is64, bool is_signed, uint8_t dst, uint8_t src);
  void divide(uint8_t op_bits, bool is64, bool is_signed, uint8_t dst, std::optional<int32_t> imm, uint8_t src);
  void divide_by_zero(bool is_div, bool is64, const Gp& d);
  void divide_by_minus_one(bool is_div, const Gp& d);
  void shift_by_register(uint8_t op_bits, bool is64, uint8_t dst, uint8_t src);
  void movsx(const Insn& i, const OpInfo& r);
  void byte_swap(const Insn& i, const OpInfo& r);
  void jump_cond(std::size_t pc, const Insn& i, const OpInfo& r);
  void compare(const Insn& i, const OpInfo& r, std::optional<int32_t> src_value = std::nullopt);
  std::size_t skips_exit(std::size_t pc) const;
  bool flag_select(std::size_t pc) const;
  Label& ret_label();
  void branch(std::size_t pc, std::size_t target, std::optional<CondCode> cc);
  void may_goto(std::size_t pc, const Insn& i);
  void call_helper(std::size_t pc, const Helper& helper);
  void call_helper_fn(std::size_t pc, HelperFn fn);
  const MapLookup* known_lookup(std::size_t pc) const;
  bool only_for_inline_lookup(std::size_t pc) const;
  bool only_for_inline_key(std::size_t pc) const;
  bool note_stack_use(const Insn& i);
  bool dead_store(const Insn& i) const;
  void array_lookup(std::size_t pc, const MapLookup& m);
  std::optional<uint8_t> key_register(std::size_t pc) const;
  void call_lookup(const MapLookup& m);
  void hash_lookup(std::size_t pc, const MapLookup& m);
  void element_address(const MapLookup& m, const Gp& index);
  [[nodiscard]] bool null_test_follows(std::size_t pc) const;
  void call_local(std::size_t pc, std::size_t target);
  void callx(std::size_t pc, const Insn& i);
  void load(std::size_t pc, const Insn& i, const OpInfo& r);
  void store(std::size_t pc, const Insn& i, const OpInfo& r, std::optional<int32_t> src_value = std::nullopt);
  void atomic(std::size_t pc, const Insn& i, const OpInfo& r);
  void packet_load(const Insn& i, const OpInfo& r);

  // Pieces shared by several operations.
  x86::Mem access(std::size_t pc, uint8_t base, int16_t off, unsigned size, bool write, bool atomic = false);
  void spend_branch(std::size_t target);
  void check_depth(std::size_t pc);
  void enter_frame();
  void leave_frame();
  Label fail(Status status, std::size_t pc, int64_t value = -1);
  bool tracking() const { return in_.init != nullptr && in_.init->tracking; }
  void check_reads(std::size_t pc, const Insn& i);
  void track_writes(const Insn& i, const OpInfo& r);
  void args_scratched();
  Label& fail_tail(Status status);
  Label& access_stub(bool write, unsigned size);
  Label& zero_frame_stub();
  struct DivideStub {
    Label entry;   // any divisor
    Label divide;  // a divisor known to be neither 0 nor -1
  };
  DivideStub& divide_stub(bool is_div, bool is64, bool is_signed);
  void divide_stubs();

  // Direct encodings (encoder.hpp), written into the assembler's buffer: straight there when
  // it has room (a fixed 16-byte copy), else through embed(), which grows it. embed() for
  // every instruction cost a virtual call and a variable-length memcpy each, a sixth of the
  // compile time.
  void put(const enc::Bytes& b) {
    if (a_.remainingSpace() < sizeof(b.b)) {
      a_.embed(b.b, b.n);
      return;
    }
    std::memcpy(a_.bufferPtr(), b.b, sizeof(b.b));
    a_._bufferPtr += b.n;
    asmjit::CodeBuffer& buffer = a_.currentSection()->buffer();
    buffer._size = std::max(buffer._size, a_.offset());  // as asmjit's own writes keep it
  }
  bool is_target(std::size_t pc) const { return target_[pc] != 0; }
  // Whether control may reach pc other than from pc - 1: a jump to it, or a callback entry.
  bool entered_elsewhere(std::size_t pc) const {
    return is_target(pc) || (!function_start_.empty() && function_start_[pc]);
  }
  // Whether first..last run straight through, so they may be fused with the instruction before.
  bool straight(std::size_t first, std::size_t last) const {
    for (std::size_t k = first; k <= last; ++k) {
      if (entered_elsewhere(k)) return false;
    }
    return true;
  }
  void jump(std::size_t pc, std::size_t target, std::optional<CondCode> cc);
  // pc is fallen into every round of its loop now (a fused latch before it): no alignment
  // padding, which would execute each time.
  void unpadded(std::size_t pc) {
    if (pc < loop_head_.size()) loop_head_[pc] = false;
  }
  void patch_jumps();

  x86::Assembler& a_;
  const LowerInput& in_;
  LoweredLabels labels_;
  std::vector<uint8_t> target_;  // by pc: a jump or call lands there
  struct JumpFixup {
    std::size_t rel32_at;  // offset of the rel32 to fill in
    std::size_t target;    // pc
  };
  std::vector<JumpFixup> fixups_;  // forward jumps to instructions
  struct CallFixup {
    std::size_t rel32_at;
    Label target;
  };
  std::vector<CallFixup> call_fixups_;  // calls to labels (stubs, functions), patched at the end
  // call label, encoded directly (asmjit's generic encoder costs a few hundred instructions).
  void call_label(const Label& target) {
    put(enc::call_rel32(0));
    call_fixups_.push_back(CallFixup{a_.offset() - 4, target});
  }
  bool skip_next_ = false;         // instruction() lowered the next instruction too
  Label ret_;                      // a shared `ret`, out of line (unchecked code's jumps to exits)
  Label epilogue_;
  Label early_exit_;
  Label stop_;
  Label packet_out_;
  Label internal_;
  Label jump_table_;
  bool uses_jump_table_ = false;
  std::vector<bool> loop_head_;       // by pc: a loop head to align (empty: none)
  std::vector<bool> function_start_;  // by pc: an ld_imm64 names it (empty: none does)
  std::vector<FailSite> fail_sites_;
  // Inlined array lookups' out-of-range paths, placed after the body: r0 = NULL, then the
  // jump of the NULL test at pc (to target).
  struct NullPath {
    Label label;
    std::size_t pc;
    std::size_t target;
  };
  std::vector<NullPath> null_paths_;
  // Inline hash lookups' other cases (a chain being changed, a key not first in its bucket):
  // the map's lookup called, then back.
  struct LookupPath {
    Label label;
    Label empty;  // the bucket was empty: NULL if it still is
    Label back;
    DirectLookup call;
  };
  std::vector<LookupPath> lookup_paths_;
  // Exits that skips_exit() moved out of line: the move to r0, then ret.
  struct ExitPath {
    Label label;
    const Insn* set_r0;
  };
  std::vector<ExitPath> exit_paths_;
  std::vector<Label> moved_;  // by pc: where an instruction's code is when out of line (empty: none is)
  // Stack bytes that some instruction may read, by offset from r10 (-512..-1 as 0..511), when
  // every use of r10 is known (stack_known_): it is only the base of loads and stores, or the
  // key address of a lookup done inline that takes its key from a register. A store nothing
  // reads (clang's store of such a key) is left out.
  std::bitset<kStackSize> stack_read_;
  bool stack_known_ = false;
  std::array<Label, static_cast<std::size_t>(Status::kInternal) + 1> fail_tails_{};
  std::array<std::array<Label, 4>, 2> access_stubs_{};
  Label zero_frame_;
  std::array<DivideStub, 8> divide_stubs_{};  // by (div, 64-bit, signed)
  const verifier::InsnFacts* facts_ = nullptr;  // of the instruction being lowered, if any
  // Known constants (JitOptions::propagate_constants): the registers whose value is known
  // here, in this basic block, and those values.
  bool propagate_ = false;
  uint16_t known_ = 0;
  std::array<uint64_t, 11> value_{};
  // Unsigned upper bounds of the registers not known, in this basic block (UINT64_MAX: none),
  // from zero-extending loads, `&=` and `>>=`, 32-bit operations and moves: an array lookup
  // whose key register stays below max_entries needs no range check. Kept (bounds_) only
  // for programs with such lookups, the only use of them.
  bool bounds_ = false;
  std::array<uint64_t, 11> umax_ = filled(UINT64_MAX);
  static constexpr std::array<uint64_t, 11> filled(uint64_t v) {
    std::array<uint64_t, 11> a{};
    a.fill(v);
    return a;
  }
};

LoweredLabels Lowering::run() {
  labels_.entry = a_.newLabel();
  labels_.callback_entry = a_.newLabel();
  labels_.body = a_.newLabel();
  labels_.out_of_line = a_.newLabel();
  labels_.data = a_.newLabel();
  epilogue_ = a_.newLabel();
  early_exit_ = a_.newLabel();
  packet_out_ = a_.newLabel();
  internal_ = a_.newLabel();
  jump_table_ = a_.newLabel();
  // Labels only where something jumps or calls (all instructions when callx may go anywhere):
  // labels are a good part of the compile time.
  labels_.insn.resize(in_.insns.size());
  target_.assign(in_.insns.size(), 0);
  bool any_callx = false;
  // Only inline lookups leave dead stores (of their keys), and only unchecked code has them.
  stack_known_ = in_.init == nullptr && !in_.options.checked && !in_.options.map_lookups.empty();
  std::vector<std::size_t> key_addresses;  // r2 = r10 (copies of r10 that only_for_inline_key must explain)
  std::array<bool, 11> used{};             // registers the program names, for the prologue
  bool calls_out = false;
  for (std::size_t pc = 0; pc < in_.insns.size(); ++pc) {
    const Insn& i = in_.insns[pc];
    any_callx = any_callx || i.op == Op::Callx;
    calls_out = calls_out || i.op == Op::CallHelper;
    used[i.dst] = true;
    used[i.src] = true;
    if (stack_known_ && (regs::read_set(i) & regs::bit(isa::kFrameReg)) && !note_stack_use(i)) {
      if (i.op == Op::Mov64Reg && i.dst == 2) key_addresses.push_back(pc);
      else stack_known_ = false;
    }
    if (i.op == Op::LdFunc) {  // callbacks start there, at its offset (no label needed)
      const int64_t target = static_cast<int64_t>(pc) + 1 + i.imm;
      if (target >= 0 && static_cast<std::size_t>(target) < in_.insns.size()) {
        function_start_.resize(in_.insns.size());
        function_start_[static_cast<std::size_t>(target)] = true;
      }
    }
    if (auto target = isa::branch_target(i, pc); target && *target >= 0 &&
                                                 static_cast<std::size_t>(*target) < in_.insns.size()) {
      const auto t = static_cast<std::size_t>(*target);
      target_[t] = 1;
      // Jumps are encoded here (jump()); calls go through asmjit's labels.
      if (i.info().kind == Kind::kCallLocal && !labels_.insn[t].isValid()) labels_.insn[t] = a_.newLabel();
      if (t <= pc && t > 0) {
        // A loop head. Padding before it executes once per entry into the loop when code falls
        // into it (a few multi-byte NOPs), never when code jumps to it.
        loop_head_.resize(in_.insns.size());
        loop_head_[t] = true;
      }
    }
  }
  if (any_callx) {
    for (Label& l : labels_.insn) {
      if (!l.isValid()) l = a_.newLabel();
    }
    std::fill(target_.begin(), target_.end(), 1);
  }
  for (const std::size_t pc : key_addresses) stack_known_ = stack_known_ && only_for_inline_key(pc);
  labels_.insn_offset.resize(in_.insns.size());

  prologue(used, calls_out || any_callx);
  a_.bind(labels_.body);
  propagate_ = in_.options.propagate_constants;
  bounds_ = propagate_ && std::any_of(in_.options.map_lookups.begin(), in_.options.map_lookups.end(),
                                      [](const MapLookup& m) { return m.is_inline(); });
  for (std::size_t pc = 0; pc < in_.insns.size(); ++pc) {
    // Constants are known within a basic block: none where control may come from elsewhere.
    if (entered_elsewhere(pc)) forget_all();
    if (is_target(pc)) {
      // Loop heads start a 32-byte block: where short loops fell moved sieve's and
      // strmatch's times by a fifth and more, fnv1a's by a few per cent (the kernel's JIT
      // leaves it to chance; 16 bytes helped sieve but not bubble).
      if (!loop_head_.empty() && loop_head_[pc]) a_.align(asmjit::AlignMode::kCode, kLoopAlignment);
      if (labels_.insn[pc].isValid()) a_.bind(labels_.insn[pc]);
    }
    labels_.insn_offset[pc] = a_.offset();
    const verifier::InsnFacts* facts = facts_at(pc);
    if (facts && !facts->reached) continue;  // dead code: no path gets here
    // The sequences below are lowered together (none where reads are checked); each test is
    // tried only on the operation that starts its sequence (tests cost compile time).
    const Op op = in_.insns[pc].op;
    const bool fusing = in_.init == nullptr;
    const bool shifts = fusing && op == Op::Lsh64Imm;
    const bool jcc = fusing && in_.insns[pc].info().kind == Kind::kJmpCond;
    if (shifts && zero_extension_pair(pc)) {
      // rX <<= 32; rX >>= 32 (clang's zero-extension of a 32-bit value): one mov32, which
      // zero-extends on x86-64, for both; nothing when the upper half is known to be zero.
      const uint8_t dst = in_.insns[pc].dst;
      if (!facts || !(facts->upper32_zero & (1U << dst))) put(enc::mov_rr(false, kHostReg[dst], kHostReg[dst]));
      value_[dst] = static_cast<uint32_t>(value_[dst]);  // when known
      umax_[dst] = std::min<uint64_t>(umax_[dst], UINT32_MAX);
      ++pc;
      labels_.insn_offset[pc] = a_.offset();
      continue;
    }
    if (shifts && low_half_copy(pc)) {
      // rX <<= 32; rY = rX; rY >>= 32 (clang's rY = (u32)rX, before -mcpu=v3): one mov32 from
      // rX as it was, then rX's shift, unless nothing reads rX before it is written again.
      const uint8_t x = in_.insns[pc].dst;
      const uint8_t y = in_.insns[pc + 1].dst;
      put(enc::mov_rr(false, kHostReg[y], kHostReg[x]));
      const bool shifted = !dead_after(pc + 2, x);
      if (shifted) put(enc::shift_ri(enc::Shift::kShl, true, kHostReg[x], 32));
      const auto value = known(x);
      const uint64_t bound = std::min<uint64_t>(upper(x), UINT32_MAX);
      forget(x);
      forget(y);
      umax_[y] = bound;
      if (value) {
        remember(y, static_cast<uint32_t>(*value));
        if (shifted) remember(x, *value << 32);
      }
      for (std::size_t k = 1; k < 3; ++k) labels_.insn_offset[pc + k] = a_.offset();
      pc += 2;
      continue;
    }
    if (fusing && in_.insns[pc].info().kind == Kind::kLoad && update_in_memory(pc)) {
      // *(uN *)(rB + off) op= imm or rC, for a load, an operation and a store back.
      const Insn& load = in_.insns[pc];
      const Insn& update = in_.insns[pc + 1];
      const unsigned n = load.info().mem_size();
      const x86::Mem m = access(pc, load.src, load.off, n, true);
      const asmjit::InstId id = op_instruction(update.info().op_bits());
      if (update.info().reg_source()) {
        a_.emit(id, m, sized(reg64(update.src), n));
      } else {
        a_.emit(id, m, asmjit::Imm(narrowed(update.imm, n)));
      }
      forget(load.dst);  // not loaded: dead
      for (std::size_t k = 1; k < 3; ++k) labels_.insn_offset[pc + k] = a_.offset();
      pc += 2;
      continue;
    }
    if (const std::size_t slots = shifts ? scaled_index(pc) : 0) {
      // rA <<= s; [rB = imm64;] rB += rA: rB from rA before the shift, in one lea, then the
      // shift. A load through rB (a table lookup) then waits for one instruction, not two.
      const Insn& shift = in_.insns[pc];
      const Insn& add = in_.insns[pc + slots - 1];
      if (slots == 4) {
        const Insn& constant = in_.insns[pc + 1];
        load_constant(add.dst, constant.op == Op::LdImm64 ? constant.imm64 : in_.insns[pc + 2].imm64);
      }
      a_.lea(reg64(add.dst), x86::ptr(reg64(add.dst), reg64(shift.dst), static_cast<uint32_t>(shift.imm)));
      put(enc::shift_ri(enc::Shift::kShl, true, kHostReg[shift.dst], static_cast<uint8_t>(shift.imm)));
      forget(shift.dst);
      forget(add.dst);
      for (std::size_t k = 1; k < slots; ++k) labels_.insn_offset[pc + k] = a_.offset();
      pc += slots - 1;
      continue;
    }
    if (fusing && (op == Op::Mov64Imm || op == Op::Mov32Imm) && flag_select(pc)) {
      // rX = 1; if cond goto L; rX = 0; goto L: rX = cond (setcc), then one jump.
      const Insn& test = in_.insns[pc + 1];
      const uint8_t x = in_.insns[pc].dst;
      put(enc::alu_rr(enc::Alu::kXor, false, kHostReg[x], kHostReg[x]));  // before the flags are set
      compare(test, test.info());
      a_.set(condition(test.info().op_bits()), reg8(x));
      forget(x);
      for (std::size_t k = 1; k < 4; ++k) labels_.insn_offset[pc + k] = a_.offset();
      jump(pc + 3, static_cast<std::size_t>(static_cast<int64_t>(pc) + 2 + test.off), std::nullopt);
      pc += 3;
      continue;
    }
    if (const std::size_t skipped = jcc ? skips_exit(pc) : 0) {
      // if cond goto pc+2; exit (or pc+3 over r0 = imm or rY; exit): the exit becomes the jump
      // (to a shared ret, or out of line to r0 = ...; ret) and the code falls through, instead
      // of a taken jump over the exit on the way on (loop latches).
      const Insn& i = in_.insns[pc];
      compare(i, i.info());
      const CondCode leave = x86::negateCond(condition(i.info().op_bits()));
      if (skipped == 1) {
        a_.j(leave, ret_label());
      } else {
        const Label out = a_.newLabel();
        exit_paths_.push_back(ExitPath{out, &in_.insns[pc + 1]});
        a_.j(leave, out);
        if (is_target(pc + 1)) {
          // Other jumps to the r0 = ... go out of line too.
          moved_.resize(in_.insns.size());
          moved_[pc + 1] = out;
        }
      }
      for (std::size_t k = 1; k <= skipped; ++k) labels_.insn_offset[pc + k] = a_.offset();
      unpadded(pc + skipped + 1);  // the code after the latch
      pc += skipped;
      continue;
    }
    if (const std::size_t slots = fusing && op == Op::Mov64Reg ? address_pair(pc) : 0) {
      // rX = rY; rX += rZ (or imm) [; rX += rZ]: clang's way to form an address, one lea.
      const Insn& add = in_.insns[pc + 1];
      const Gp base = reg64(in_.insns[pc].src);
      if (slots == 2 && only_for_inline_key(pc)) {
        // Nothing: the key's address, for a lookup done inline that takes the key from its register.
      } else if (slots == 3) {
        a_.lea(reg64(add.dst), x86::ptr(base, reg64(in_.insns[pc + 2].src), 0, add.imm));
      } else if (add.op == Op::Add64Reg) {
        // rX += rX after rX = rY adds rY twice.
        const Gp index = add.src == add.dst ? base : reg64(add.src);
        a_.lea(reg64(add.dst), x86::ptr(base, index));
      } else {
        a_.lea(reg64(add.dst), x86::ptr(base, add.imm));
      }
      forget(add.dst);
      for (std::size_t k = 1; k < slots; ++k) labels_.insn_offset[pc + k] = a_.offset();
      pc += slots - 1;
      continue;
    }
    if (jcc && skips_jump(pc)) {
      // if cond goto pc+2; goto L: if !cond goto L, then on (an inner loop's latch: one taken
      // jump fewer per round).
      const Insn& test = in_.insns[pc];
      const Insn& skip = in_.insns[pc + 1];
      compare(test, test.info());
      labels_.insn_offset[pc + 1] = a_.offset();
      jump(pc + 1, static_cast<std::size_t>(static_cast<int64_t>(pc) + 2 + skip.off),
           x86::negateCond(condition(test.info().op_bits())));
      unpadded(pc + 2);
      ++pc;
      continue;
    }
    if (jcc && select(pc)) {
      // if cond goto L; rX = imm; goto L: rX = imm unless cond (a cmov, no branch to
      // mispredict), then the jump.
      const Insn& test = in_.insns[pc];
      const Insn& set = in_.insns[pc + 1];
      const uint64_t value = set.op == Op::Mov64Imm ? static_cast<uint64_t>(int64_t{set.imm})
                                                    : static_cast<uint32_t>(set.imm);
      set_constant(kScratch.id(), value);  // before the flags are set (xor for 0)
      compare(test, test.info());
      a_.cmov(x86::negateCond(condition(test.info().op_bits())), reg64(set.dst), kScratch);
      forget(set.dst);
      for (std::size_t k = 1; k < 3; ++k) labels_.insn_offset[pc + k] = a_.offset();
      jump(pc + 2, static_cast<std::size_t>(static_cast<int64_t>(pc) + 1 + test.off), std::nullopt);
      pc += 2;
      continue;
    }
    instruction(pc, facts);
    if (skip_next_) {
      skip_next_ = false;
      ++pc;
      labels_.insn_offset[pc] = a_.offset();
    }
  }
  // check_control_flow guarantees the last instruction is an exit or a jump; never fall off.
  a_.jmp(internal_);
  out_of_line();
  patch_jumps();  // last: out-of-line code jumps into the body too
  return std::move(labels_);  // a member: returned by copy otherwise
}

// A shift pair that only zero-extends, with nothing jumping between the two. Not where reads
// are checked (each instruction keeps its own checks there).
bool Lowering::zero_extension_pair(std::size_t pc) const {
  if (in_.init != nullptr || pc + 1 >= in_.insns.size() || entered_elsewhere(pc + 1)) return false;
  const Insn& first = in_.insns[pc];
  const Insn& second = in_.insns[pc + 1];
  return first.op == Op::Lsh64Imm && second.op == Op::Rsh64Imm && first.dst == second.dst && first.imm == 32 &&
         second.imm == 32;
}

// rX <<= 32; rY = rX; rY >>= 32 (rY not rX, not r10), with nothing jumping between them. Not
// where reads are checked.
bool Lowering::low_half_copy(std::size_t pc) const {
  if (in_.init != nullptr || pc + 2 >= in_.insns.size() || !straight(pc + 1, pc + 2)) return false;
  const Insn& shl = in_.insns[pc];
  const Insn& mov = in_.insns[pc + 1];
  const Insn& shr = in_.insns[pc + 2];
  return shl.imm == 32 && mov.op == Op::Mov64Reg && mov.src == shl.dst && mov.dst != shl.dst &&
         mov.dst != isa::kFrameReg && shr.op == Op::Rsh64Imm && shr.dst == mov.dst && shr.imm == 32;
}

// Whether the value BPF register reg holds after pc is dead: every path from pc + 1 writes
// reg before reading it. Paths are followed through jumps, calls (which read r1-r5 and write
// r0) and exits (which read r0; r1-r5 are dead there) for a bounded number of instructions;
// past that, or at atomics and packet loads, not known dead.
bool Lowering::dead_after(std::size_t pc, uint8_t reg) const {
  int budget = 24;
  return dead_from(pc + 1, reg, budget);
}

bool Lowering::dead_from(std::size_t pc, uint8_t reg, int& budget) const {
  for (std::size_t k = pc; k < in_.insns.size(); ++k) {
    if (--budget < 0) return false;
    const Insn& i = in_.insns[k];
    if (regs::read_set(i) & regs::bit(reg)) return false;
    const Kind kind = i.info().kind;
    switch (kind) {
      case Kind::kAlu: case Kind::kMovSx: case Kind::kNeg: case Kind::kEnd: case Kind::kBswap:
      case Kind::kLoad: case Kind::kLoadSx:
        if (i.dst == reg) return true;
        break;
      case Kind::kLdImm64:
        if (i.dst == reg) return true;
        ++k;  // over the second slot
        break;
      case Kind::kStore: case Kind::kStoreReg: break;
      case Kind::kJa: case Kind::kGotol: case Kind::kJmpCond: case Kind::kMayGoto: {
        const auto target = isa::branch_target(i, k);
        if (!target || *target < 0 || static_cast<std::size_t>(*target) >= in_.insns.size()) return false;
        if (kind == Kind::kJa || kind == Kind::kGotol) {
          k = static_cast<std::size_t>(*target) - 1;  // the loop steps to it
        } else if (!dead_from(static_cast<std::size_t>(*target), reg, budget)) {
          return false;
        }
        break;
      }
      case Kind::kCallHelper: case Kind::kCallLocal: case Kind::kCallx: case Kind::kCallKfunc:
        if (reg <= 5) return reg == 0;  // arguments are read; r0 is the result
        break;
      case Kind::kExit: return reg >= 1 && reg <= 5;
      default: return false;  // atomics, packet loads (which read r6), tail slots
    }
  }
  return false;
}

// rA = *(uN *)(rB + off); rA op= imm or rC; *(uN *)(rB + off) = rA, with rA dead afterwards
// (clang's counter update): one x86 operation on memory. op is add, sub, and, or or xor, whose
// low N bytes depend only on the operands' low N bytes; a 32-bit op only for N <= 4 (it
// clears bits 32-63). Not where reads are checked.
bool Lowering::update_in_memory(std::size_t pc) const {
  if (in_.init != nullptr || pc + 2 >= in_.insns.size() || in_.insns[pc + 2].info().kind != Kind::kStoreReg ||
      !straight(pc + 1, pc + 2)) {
    return false;
  }
  const Insn& load = in_.insns[pc];
  const Insn& op = in_.insns[pc + 1];
  const Insn& store = in_.insns[pc + 2];
  const OpInfo& r = op.info();
  const unsigned n = load.info().mem_size();
  if (load.info().kind != Kind::kLoad || load.dst == load.src || r.kind != Kind::kAlu || op.dst != load.dst ||
      (r.reg_source() && (op.src == load.dst || op.src == isa::kFrameReg)) || (!r.is64() && n == 8)) {
    return false;
  }
  switch (r.op_bits()) {
    case BPF_ADD: case BPF_SUB: case BPF_AND: case BPF_OR: case BPF_XOR: break;
    default: return false;
  }
  if (store.info().kind != Kind::kStoreReg || store.info().mem_size() != n || store.src != load.dst ||
      store.dst != load.src || store.off != load.off) {
    return false;
  }
  return dead_after(pc + 2, load.dst);
}

// rX = rY (64-bit); rX += rZ or imm (64-bit); and, after an immediate, possibly rX += rZ
// (rZ not rX), with nothing jumping inside. The number of instructions (2 or 3), or 0. Not
// where reads are checked.
std::size_t Lowering::address_pair(std::size_t pc) const {
  if (in_.init != nullptr || pc + 1 >= in_.insns.size() || entered_elsewhere(pc + 1)) return 0;
  const Insn& first = in_.insns[pc];
  const Insn& second = in_.insns[pc + 1];
  if (first.op != Op::Mov64Reg || (second.op != Op::Add64Reg && second.op != Op::Add64Imm) ||
      first.dst != second.dst) {
    return 0;
  }
  if (second.op == Op::Add64Imm && pc + 2 < in_.insns.size() && !entered_elsewhere(pc + 2)) {
    const Insn& third = in_.insns[pc + 2];
    if (third.op == Op::Add64Reg && third.dst == first.dst && third.src != first.dst) return 3;
  }
  return 2;
}

// if cond goto L; rX = imm; goto L (clang choosing one of two values for rX), in unchecked
// code (checked code keeps each jump's budget), with nothing jumping inside and the jump not
// decided by the verifier's facts or known constants.
bool Lowering::select(std::size_t pc) const {
  if (in_.options.checked || in_.init != nullptr || pc + 3 >= in_.insns.size()) return false;
  const Insn& test = in_.insns[pc];
  const Insn& set = in_.insns[pc + 1];
  const Insn& skip = in_.insns[pc + 2];
  if (test.info().kind != Kind::kJmpCond || (set.op != Op::Mov64Imm && set.op != Op::Mov32Imm) ||
      skip.op != Op::Ja || static_cast<int64_t>(pc) + 1 + test.off != static_cast<int64_t>(pc) + 3 + skip.off) {
    return false;
  }
  return !decided(pc) && straight(pc + 1, pc + 2);
}

// if cond goto pc+2; goto L, in unchecked code, with nothing jumping to the goto and the jump
// not decided.
bool Lowering::skips_jump(std::size_t pc) const {
  if (in_.options.checked || in_.init != nullptr || pc + 2 >= in_.insns.size()) return false;
  const Insn& test = in_.insns[pc];
  if (test.info().kind != Kind::kJmpCond || test.off != 1 || in_.insns[pc + 1].op != Op::Ja) return false;
  return !decided(pc) && !entered_elsewhere(pc + 1);
}

// Whether the conditional jump at pc is decided at compile time, by the verifier's facts or
// the known constants (instruction() then lowers it as decided: peepholes leave it alone).
bool Lowering::decided(std::size_t pc) const {
  const Insn& i = in_.insns[pc];
  const verifier::InsnFacts* facts = facts_at(pc);
  if (facts && facts->branch != verifier::BranchFact::kUnknown) return true;
  return propagate_ && known(i.dst) && (!i.info().reg_source() || known(i.src));
}

// rA <<= s (s = 1 to 3); optionally rB = imm64 (a constant or a map value's address); then
// rB += rA (64-bit, rB not rA), with nothing jumping or calling back inside. The number of
// instruction slots covered, or 0. Not where reads are checked.
std::size_t Lowering::scaled_index(std::size_t pc) const {
  const std::size_t n = in_.insns.size();
  const Insn& shift = in_.insns[pc];
  if (in_.init != nullptr || shift.op != Op::Lsh64Imm || shift.imm < 1 || shift.imm > 3) return 0;
  std::size_t k = pc + 1;
  const bool constant = k < n && (in_.insns[k].op == Op::LdImm64 || in_.insns[k].op == Op::LdMapValue);
  if (constant) k += 2;
  if (k >= n) return 0;
  const Insn& add = in_.insns[k];
  if (add.op != Op::Add64Reg || add.src != shift.dst || add.dst == shift.dst) return 0;
  if (constant && in_.insns[pc + 1].dst != add.dst) return 0;
  return straight(pc + 1, k) ? k - pc + 1 : 0;
}

// rX = 1; if A op B goto L; rX = 0; goto L (clang's way to count a condition), with neither A
// nor B being rX and nothing jumping inside. Unchecked code (checked code keeps each
// instruction's checks and branch budget).
bool Lowering::flag_select(std::size_t pc) const {
  if (in_.options.checked || in_.init != nullptr || pc + 3 >= in_.insns.size()) return false;
  const Insn& one = in_.insns[pc];
  const Insn& test = in_.insns[pc + 1];
  const Insn& zero = in_.insns[pc + 2];
  const Insn& skip = in_.insns[pc + 3];
  const auto is_mov = [](const Insn& i, int32_t value) {
    return (i.op == Op::Mov64Imm || i.op == Op::Mov32Imm) && i.imm == value;
  };
  if (!is_mov(one, 1) || !is_mov(zero, 0) || zero.dst != one.dst || skip.op != Op::Ja) return false;
  const OpInfo& r = test.info();
  if (r.kind != Kind::kJmpCond || test.dst == one.dst || (r.reg_source() && test.src == one.dst)) return false;
  if (static_cast<int64_t>(pc) + 2 + test.off != static_cast<int64_t>(pc) + 4 + skip.off) return false;
  return straight(pc + 1, pc + 3);
}

// `if cond goto pc+2` then `exit`, or `if cond goto pc+3`, `r0 = imm or rY`, `exit`, in unchecked
// code, where the exit needs no code of its own: jumps to exits return directly (jump()), and
// nothing calls or calls back into it or the move to r0. The number of instructions the jump
// skips (1 or 2), or 0.
std::size_t Lowering::skips_exit(std::size_t pc) const {
  if (in_.options.checked || in_.init != nullptr) return 0;
  const Insn& i = in_.insns[pc];
  if (i.info().kind != Kind::kJmpCond || i.off < 1 || i.off > 2) return 0;
  if (decided(pc)) return 0;
  const auto skipped = static_cast<std::size_t>(i.off);
  const std::size_t exit = pc + skipped;
  if (exit + 1 >= in_.insns.size() || in_.insns[exit].op != Op::Exit || labels_.insn[exit].isValid() ||
      (!function_start_.empty() && function_start_[exit])) {
    return 0;
  }
  if (skipped == 2) {
    // Jumps may land on r0 = ... (clang shares the block): they go to the out-of-line copy.
    const Insn& set = in_.insns[pc + 1];
    const bool move = set.op == Op::Mov64Imm || set.op == Op::Mov32Imm || set.op == Op::Mov64Reg || set.op == Op::Mov32Reg;
    if (!move || set.dst != 0 || labels_.insn[pc + 1].isValid() ||
        (!function_start_.empty() && function_start_[pc + 1])) {
      return 0;
    }
  }
  return skipped;
}

// entry(JitState* state): save the callee-saved registers the program uses, load r1-r5,
// then `call` the program so that its exits return here.
// used: the registers any instruction names (run() finds them); r6-r9 are all saved when a
// helper is called (it may tail-call into code that uses any of them).
void Lowering::prologue(std::array<bool, 11> used, bool calls_out) {
  if (calls_out) std::fill(used.begin() + 6, used.begin() + 10, true);
  std::vector<Gp> saved = {x86::rbp, x86::r12};
  for (uint8_t r = 6; r <= 9; ++r) {
    if (used[r]) saved.push_back(reg64(r));
  }
  // The body runs with rsp 16-byte aligned (helpers are called from it): the caller's call
  // left rsp at 8 mod 16, each push moves it by 8, and `call body` by another 8.
  const bool pad = saved.size() % 2 == 1;

  a_.bind(labels_.entry);
  for (const Gp& r : saved) a_.push(r);
  if (pad) a_.sub(x86::rsp, 8);
  a_.mov(kState, x86::rdi);
  a_.mov(BPFVM_STATE(host_rsp), x86::rsp);
  a_.lea(kScratch, x86::ptr(epilogue_));
  a_.mov(BPFVM_STATE(exit_to), kScratch);
  a_.mov(kBudget, BPFVM_STATE(budget));
  a_.lea(x86::rbp, state(offsetof(JitState, stack) + kJitStackBytes));  // r10 = top of frame 0
  for (uint8_t r = 1; r <= 5; ++r) {
    a_.mov(reg64(r), state(offsetof(JitState, args) + 8 * (r - 1)));
  }
  a_.xor_(x86::eax, x86::eax);
  for (uint8_t r = 6; r <= 9; ++r) {
    if (used[r]) a_.xor_(reg32(r), reg32(r));
  }
  a_.call(labels_.body);
  a_.bind(epilogue_);
  if (pad) a_.add(x86::rsp, 8);
  for (auto it = saved.rbegin(); it != saved.rend(); ++it) a_.pop(*it);
  a_.ret();
}

// facts: facts_at(pc), which run() has at hand.
void Lowering::instruction(std::size_t pc, const verifier::InsnFacts* facts) {
  const Insn& i = in_.insns[pc];
  const OpInfo& r = i.info();
  if (in_.init != nullptr) check_reads(pc, i);
  if (tracking()) track_writes(i, r);  // before: a failing access ends the run anyway
  if (facts && (facts->upper32_zero & (1U << i.dst)) &&
      ((i.op == Op::Mov32Reg && i.src == i.dst) || i.op == Op::Le32)) {
    return;  // only zero-extends a register whose upper half is zero
  }
  if (stack_known_ && (r.kind == Kind::kStore || r.kind == Kind::kStoreReg) && i.dst == isa::kFrameReg &&
      dead_store(i)) {
    return;  // nothing reads what it stores
  }
  facts_ = facts;  // for the lowering below; reset at the end
  std::optional<uint64_t> result;  // dst's value afterwards, when known at compile time
  if (propagate_) {
    result = value_after(i, r);
    if (with_constants(pc, i, r, result)) {
      learn(i, r, result);
      facts_ = nullptr;
      return;
    }
  }
  switch (r.kind) {
    case Kind::kAlu: alu(i, r); break;
    case Kind::kMovSx: movsx(i, r); break;
    case Kind::kNeg:
      if (r.is64()) a_.neg(reg64(i.dst));
      else a_.neg(reg32(i.dst));
      break;
    case Kind::kEnd: case Kind::kBswap: byte_swap(i, r); break;
    case Kind::kJmpCond: jump_cond(pc, i, r); break;
    case Kind::kJa: branch(pc, static_cast<std::size_t>(static_cast<int64_t>(pc) + 1 + i.off), std::nullopt); break;
    case Kind::kGotol: branch(pc, static_cast<std::size_t>(static_cast<int64_t>(pc) + 1 + i.imm), std::nullopt); break;
    case Kind::kMayGoto: may_goto(pc, i); break;
    case Kind::kCallHelper:
      if (const MapLookup* m = known_lookup(pc)) {
        if (m->is_inline()) {
          array_lookup(pc, *m);
          break;
        }
        if (m->is_hash()) hash_lookup(pc, *m);
        else call_lookup(*m);
      } else {
        call_helper(pc, *in_.helper_at[pc]);
      }
      // An array lookup with a key in range never fails: its NULL test goes. (In checked code
      // too, where a wrong fact then shows as a NULL dereference the checks catch.)
      if (facts_ && facts_->key_in_range && null_test_follows(pc)) skip_next_ = true;
      break;
    case Kind::kCallLocal: call_local(pc, static_cast<std::size_t>(static_cast<int64_t>(pc) + 1 + i.imm)); break;
    case Kind::kCallKfunc: a_.jmp(fail(Status::kKfunc, pc)); break;
    case Kind::kCallx: callx(pc, i); break;
    case Kind::kExit: a_.ret(); break;
    case Kind::kLoad: case Kind::kLoadSx: load(pc, i, r); break;
    case Kind::kStore: case Kind::kStoreReg: store(pc, i, r); break;
    case Kind::kAtomic: atomic(pc, i, r); break;
    case Kind::kLdImm64:
      if (i.op == Op::LdFunc) {
        // The same value the interpreter gives: the address of the target instruction.
        // Integer arithmetic: an unverified program may name a target outside the program.
        const uint64_t target = reinterpret_cast<uint64_t>(in_.insns.data()) +
                                static_cast<uint64_t>(static_cast<int64_t>(pc) + 1 + i.imm) * sizeof(Insn);
        load_constant(i.dst, target);
      } else if (i.op == Op::LdMapFd && i.dst == 1 && only_for_inline_lookup(pc)) {
        // r1 = map for a lookup done inline: nothing reads it (the call scratches r1). The
        // host register keeps what it held, maybe the key (key_register): so does what is
        // known of it.
        facts_ = nullptr;
        return;
      } else {
        // A map reference: the value the loader resolved it to, kept in the second slot.
        load_constant(i.dst, i.op == Op::LdImm64 ? i.imm64 : (&i)[1].imm64);
      }
      break;
    case Kind::kLdAbs: case Kind::kLdInd: packet_load(i, r); break;
    case Kind::kTail: break;  // data of the ld_imm64 before it; never reached
  }
  if (propagate_) learn(i, r, result);
  facts_ = nullptr;
}

// ---------------------------------------------------------------------------------------
// Known constants

// The value dst holds after i when every value i reads is known (as the interpreter computes
// it, sem::), for the operations that only compute a register; else nothing.
std::optional<uint64_t> Lowering::value_after(const Insn& i, const OpInfo& r) const {
  switch (r.kind) {
    case Kind::kAlu: {
      uint64_t src = i.imm64;
      if (r.reg_source()) {
        const auto s = known(i.src);
        if (!s) return std::nullopt;
        src = *s;
      }
      uint64_t dst = 0;
      if (r.op_bits() != isa::code::kMov) {
        const auto d = known(i.dst);
        if (!d) return std::nullopt;
        dst = *d;
      }
      const bool is_signed = r.match_value == 1;
      if (r.is64()) return sem::alu<uint64_t>(r.op_bits(), is_signed, dst, src);
      return sem::alu<uint32_t>(r.op_bits(), is_signed, static_cast<uint32_t>(dst), static_cast<uint32_t>(src));
    }
    case Kind::kMovSx: {
      const auto s = known(i.src);
      if (!s) return std::nullopt;
      return sem::sign_extend(*s, r.match_value, r.is64());
    }
    case Kind::kNeg: {
      const auto d = known(i.dst);
      if (!d) return std::nullopt;
      return sem::negate(*d, r.is64());
    }
    case Kind::kEnd: case Kind::kBswap: {
      const auto d = known(i.dst);
      if (!d) return std::nullopt;
      const bool swap = r.kind == Kind::kBswap || r.code == 0xdc;
      return swap ? sem::swap_bytes(*d, r.match_value) : sem::truncate(*d, r.match_value);
    }
    case Kind::kLdImm64:
      if (i.op == Op::LdImm64) return i.imm64;
      return std::nullopt;  // a map or function: an address not folded into anything
    default: return std::nullopt;
  }
}

// Lowers i using the known values, when that gives shorter or faster code than i as it is:
// a computed value becomes a mov of it (a plain mov stays as it is), a known register operand
// an immediate, a comparison of known values a jump or nothing, a store of a known register a
// store of an immediate. Returns whether it lowered i.
bool Lowering::with_constants(std::size_t pc, const Insn& i, const OpInfo& r, std::optional<uint64_t> result) {
  if (result) {
    const bool plain_move = (r.kind == Kind::kAlu && r.op_bits() == isa::code::kMov) || r.kind == Kind::kLdImm64;
    if (plain_move) return false;
    load_constant(i.dst, *result);
    return true;
  }
  // An immediate for a known register operand: any value for 32-bit operations (their
  // immediates are the low 32 bits), one that sign-extends from 32 bits for 64-bit ones.
  const auto as_imm = [&](uint8_t reg, bool is64) -> std::optional<int32_t> {
    const auto v = known(reg);
    if (!v) return std::nullopt;
    const auto low = static_cast<int32_t>(static_cast<uint32_t>(*v));
    if (is64 && static_cast<int64_t>(*v) != low) return std::nullopt;
    return low;
  };
  switch (r.kind) {
    case Kind::kAlu: {
      if (!r.reg_source() || r.op_bits() == isa::code::kMov) return false;
      const auto imm = as_imm(i.src, r.is64());
      if (!imm) return false;
      alu_imm(r.op_bits(), r.is64(), r.match_value == 1, i.dst, *imm);
      return true;
    }
    case Kind::kJmpCond: {
      if (facts_ && facts_->branch != verifier::BranchFact::kUnknown) return false;  // decided already
      const auto d = known(i.dst);
      std::optional<uint64_t> s = i.imm64;
      if (r.reg_source()) s = known(i.src);
      if (d && s) {
        const bool taken = r.is64() ? sem::condition<uint64_t>(r.op_bits(), *d, *s)
                                    : sem::condition<uint32_t>(r.op_bits(), static_cast<uint32_t>(*d),
                                                               static_cast<uint32_t>(*s));
        if (taken) branch(pc, static_cast<std::size_t>(static_cast<int64_t>(pc) + 1 + i.off), std::nullopt);
        return true;
      }
      if (!r.reg_source()) return false;
      const auto imm = as_imm(i.src, r.is64());
      if (!imm) return false;
      compare(i, r, imm);
      branch(pc, static_cast<std::size_t>(static_cast<int64_t>(pc) + 1 + i.off), condition(r.op_bits()));
      return true;
    }
    case Kind::kStoreReg: {
      const auto v = known(i.src);
      if (!v) return false;
      const unsigned n = r.mem_size();
      if (n == 8 && static_cast<int64_t>(*v) != static_cast<int32_t>(*v)) return false;
      store(pc, i, r, static_cast<int32_t>(*v));  // store_imm narrows it to n bytes
      return true;
    }
    default: return false;
  }
}

// dst's upper bound after i, an ALU operation or a load (from what is known before it).
uint64_t Lowering::upper_after(const Insn& i, const OpInfo& r) const {
  if (r.kind == Kind::kLoad) return r.mem_size() == 8 ? UINT64_MAX : (uint64_t{1} << (8 * r.mem_size())) - 1;
  const uint64_t width = r.is64() ? UINT64_MAX : UINT32_MAX;
  const uint64_t dst = std::min(upper(i.dst), width);
  const uint64_t src = std::min(r.reg_source() ? upper(i.src) : i.imm64, width);
  switch (r.op_bits()) {
    case isa::code::kMov: return src;
    case isa::code::kAnd: return std::min(dst, src);  // no bit set that either lacks
    case isa::code::kRsh:
      if (r.reg_source()) return dst;
      return dst >> (i.imm & (r.is64() ? 63 : 31));
    default: return width;
  }
}

// What is known of the registers after i (lowering it changes nothing of what is known
// before it): result (dst's value, when known), else dst's bound and nothing of the other
// registers i writes.
void Lowering::learn(const Insn& i, const OpInfo& r, std::optional<uint64_t> result) {
  if (result) {
    remember(i.dst, *result);
  } else if (bounds_ && (r.kind == Kind::kAlu || r.kind == Kind::kLoad)) {
    const uint64_t bound = upper_after(i, r);
    forget(i.dst);
    umax_[i.dst] = bound;
  } else {
    forget_writes(i, r);
  }
}

// No longer knows the registers i writes (those value_after() does not compute).
void Lowering::forget_writes(const Insn& i, const OpInfo& r) {
  switch (r.kind) {
    case Kind::kAlu: case Kind::kMovSx: case Kind::kNeg: case Kind::kEnd: case Kind::kBswap:
    case Kind::kLoad: case Kind::kLoadSx: case Kind::kLdImm64:
      forget(i.dst);
      break;
    case Kind::kAtomic:
      forget(0);  // cmpxchg
      forget(i.src);  // the fetch forms
      break;
    case Kind::kCallHelper: case Kind::kCallLocal: case Kind::kCallKfunc: case Kind::kCallx:
    case Kind::kLdAbs: case Kind::kLdInd:
      for (uint8_t reg = 0; reg <= 5; ++reg) forget(reg);  // r0 set, r1-r5 scratched
      break;
    case Kind::kExit: case Kind::kJa: case Kind::kGotol:
      forget_all();  // what follows is entered by a jump, or not at all
      break;
    default: break;  // stores, conditional jumps, may_goto: no register changes
  }
}

// Host register `h` (BPF registers: load_constant) = value, in the shortest form: xor for 0, a
// 32-bit mov (which zero-extends) below 2^32, a sign-extended imm32, else movabs.
void Lowering::set_constant(unsigned h, uint64_t value) {
  if (value == 0) put(enc::alu_rr(enc::Alu::kXor, false, h, h));
  else if (value <= UINT32_MAX) put(enc::mov_ri32(h, static_cast<uint32_t>(value)));
  else if (static_cast<int64_t>(value) >= INT32_MIN && static_cast<int64_t>(value) < 0) {
    put(enc::mov_ri64_sx(h, static_cast<int32_t>(value)));
  } else {
    a_.movabs(x86::gpq(h), value);
  }
}

// ---------------------------------------------------------------------------------------
// ALU

void Lowering::alu(const Insn& i, const OpInfo& r) {
  const bool is_signed = r.match_value == 1;
  if (r.reg_source()) alu_reg(r.op_bits(), r.is64(), is_signed, i.dst, i.src);
  else alu_imm(r.op_bits(), r.is64(), is_signed, i.dst, i.imm);
}

void Lowering::alu_imm(uint8_t op_bits, bool is64, bool is_signed, uint8_t dst, int32_t imm) {
  // 64-bit operations sign-extend the immediate, as x86's imm32 forms do; 32-bit operations
  // write the low half, which zero-extends on x86-64.
  const unsigned h = kHostReg[dst];
  const unsigned shift_mask = is64 ? 63 : 31;
  switch (op_bits) {
    case 0x00: put(enc::alu_ri(enc::Alu::kAdd, is64, h, imm)); break;
    case 0x10: put(enc::alu_ri(enc::Alu::kSub, is64, h, imm)); break;
    case 0x20: put(enc::imul_rri(is64, h, h, imm)); break;
    case 0x30: case 0x90: divide(op_bits, is64, is_signed, dst, imm, 0); break;
    case 0x40: put(enc::alu_ri(enc::Alu::kOr, is64, h, imm)); break;
    case 0x50: put(enc::alu_ri(enc::Alu::kAnd, is64, h, imm)); break;
    case 0x60: case 0x70: case 0xc0: {
      const auto count = static_cast<uint8_t>(static_cast<unsigned>(imm) & shift_mask);
      if (count == 0) {
        if (!is64) put(enc::mov_rr(false, h, h));  // only the zero-extension is left
      } else {
        put(enc::shift_ri(op_bits == 0x60 ? enc::Shift::kShl : op_bits == 0x70 ? enc::Shift::kShr : enc::Shift::kSar,
                          is64, h, count));
      }
      break;
    }
    case 0xa0: put(enc::alu_ri(enc::Alu::kXor, is64, h, imm)); break;
    case 0xb0:
      // A non-negative immediate fits the shorter 32-bit mov, which zero-extends; zero is a
      // shorter xor still (flags are never live from one BPF instruction to the next).
      if (imm == 0) put(enc::alu_rr(enc::Alu::kXor, false, h, h));
      else if (is64 && imm < 0) put(enc::mov_ri64_sx(h, imm));
      else put(enc::mov_ri32(h, static_cast<uint32_t>(imm)));
      break;
    default: break;
  }
}

void Lowering::alu_reg(uint8_t op_bits, bool is64, bool is_signed, uint8_t dst, uint8_t src) {
  const unsigned hd = kHostReg[dst], hs = kHostReg[src];
  switch (op_bits) {
    case 0x00: put(enc::alu_rr(enc::Alu::kAdd, is64, hd, hs)); break;
    case 0x10: put(enc::alu_rr(enc::Alu::kSub, is64, hd, hs)); break;
    case 0x20: put(enc::imul_rr(is64, hd, hs)); break;
    case 0x30: case 0x90: {
      // A divisor the verifier knows: divided as by an immediate (shifts and masks for powers of 2).
      const bool known = facts_ && facts_->divisor_known;
      divide(op_bits, is64, is_signed, dst, known ? std::optional<int32_t>(facts_->divisor) : std::nullopt, src);
      break;
    }
    case 0x40: put(enc::alu_rr(enc::Alu::kOr, is64, hd, hs)); break;
    case 0x50: put(enc::alu_rr(enc::Alu::kAnd, is64, hd, hs)); break;
    case 0x60: case 0x70: case 0xc0:
      if (in_.bmi2) {
        // shlx/shrx/sarx mask the count to the operand size, as BPF does.
        const auto shift = op_bits == 0x60 ? enc::Shift::kShl : op_bits == 0x70 ? enc::Shift::kShr : enc::Shift::kSar;
        put(enc::shift_x(shift, is64, hd, hd, hs));
      } else {
        shift_by_register(op_bits, is64, dst, src);
      }
      break;
    case 0xa0: put(enc::alu_rr(enc::Alu::kXor, is64, hd, hs)); break;
    case 0xb0:
      if (!is64 || dst != src) put(enc::mov_rr(is64, hd, hs));  // mov32 to itself still zero-extends
      break;
    default: break;
  }
}

// Shift by a register without BMI2: the count must be in cl, and rcx is r4.
void Lowering::shift_by_register(uint8_t op_bits, bool is64, uint8_t dst, uint8_t src) {
  auto emit = [&](const Gp& target) {
    if (op_bits == 0x60) a_.shl(target, x86::cl);
    else if (op_bits == 0x70) a_.shr(target, x86::cl);
    else a_.sar(target, x86::cl);
  };
  const uint32_t rcx = Gp::kIdCx;
  if (kHostReg[src] == rcx) {
    emit(is64 ? reg64(dst) : reg32(dst));
    return;
  }
  a_.mov(kAddr, x86::rcx);       // keep r4
  a_.mov(x86::rcx, reg64(src));  // the count
  if (kHostReg[dst] == rcx) {
    emit(is64 ? Gp(kAddr) : Gp(kAddr.r32()));  // r4 is the value being shifted: shift the copy
    a_.mov(x86::rcx, kAddr);
  } else {
    emit(is64 ? reg64(dst) : reg32(dst));
    a_.mov(x86::rcx, kAddr);
  }
}

// Division and modulo. Constant divisors of 0, -1 (signed) and powers of two (unsigned) are
// done inline; everything else calls a shared stub (one per operation, out of line): r10 =
// dst, r11 = the divisor, call, dst = r10. Four instructions where the inline sequence was
// about ten: divisions were half of what a division-heavy program made the encoder emit.
void Lowering::divide(uint8_t op_bits, bool is64, bool is_signed, uint8_t dst, std::optional<int32_t> imm,
                      uint8_t src) {
  const bool is_div = op_bits == 0x30;
  const Gp d = is64 ? reg64(dst) : reg32(dst);
  if (imm) {
    // A constant divisor needs no run-time case analysis.
    if (*imm == 0) return divide_by_zero(is_div, is64, d);
    if (is_signed && *imm == -1) return divide_by_minus_one(is_div, d);
    if (!is_signed && *imm > 0 && (*imm & (*imm - 1)) == 0) {
      // Unsigned by a power of two: a shift or a mask (both zero-extend a 32-bit result).
      unsigned shift = 0;
      while ((int64_t{1} << shift) < *imm) ++shift;
      if (is_div && shift > 0) a_.shr(d, shift);
      else if (!is_div) a_.and_(d, *imm - 1);
      else if (!is64) a_.mov(d, d);
      return;
    }
  }
  DivideStub& stub = divide_stub(is_div, is64, is_signed);
  put(enc::mov_rr(is64, kScratch.id(), kHostReg[dst]));  // a 32-bit mov zero-extends, as the stub's divide wants
  if (imm) {
    // Neither 0 nor -1: straight to the division.
    set_constant(kAddr.id(), is64 ? static_cast<uint64_t>(int64_t{*imm}) : static_cast<uint32_t>(*imm));
    call_label(stub.divide);
  } else {
    put(enc::mov_rr(is64, kAddr.id(), kHostReg[src]));
    // A divisor the verifier proved neither 0 nor (signed) -1 skips the stub's checks.
    const bool plain = facts_ && facts_->divisor_nonzero && (!is_signed || facts_->divisor_not_minus_one);
    call_label(plain ? stub.divide : stub.entry);
  }
  put(enc::mov_rr(true, kHostReg[dst], kScratch.id()));
}

// Division by zero gives 0; modulo by zero leaves dst (zero-extended for 32 bits).
void Lowering::divide_by_zero(bool is_div, bool is64, const Gp& d) {
  if (is_div) a_.xor_(d.r32(), d.r32());
  else if (!is64) a_.mov(d, d);
}

// Signed division by -1: -dst and remainder 0 (INT_MIN / -1, which faults on x86, included).
void Lowering::divide_by_minus_one(bool is_div, const Gp& d) {
  if (is_div) a_.neg(d);
  else a_.xor_(d.r32(), d.r32());
}

Lowering::DivideStub& Lowering::divide_stub(bool is_div, bool is64, bool is_signed) {
  DivideStub& s = divide_stubs_[(is_div ? 4 : 0) + (is64 ? 2 : 0) + (is_signed ? 1 : 0)];
  if (!s.entry.isValid()) {
    s.entry = a_.newLabel();
    s.divide = a_.newLabel();
  }
  return s;
}

// The division stubs: r10 = dividend (zero-extended for 32 bits), r11 = divisor; returns
// r10 = the result, every BPF register as it was. `entry` handles the divisors x86 cannot
// (0, and -1 when signed); `divide` is for divisors known to be neither. x86 divides
// rdx:rax (r3:r0): r0 is swapped with the dividend and back, r3 kept in r9 in unchecked code
// (which keeps no branch budget there), on the host stack in checked code.
void Lowering::divide_stubs() {
  for (std::size_t k = 0; k < divide_stubs_.size(); ++k) {
    const DivideStub& s = divide_stubs_[k];
    if (!s.entry.isValid()) continue;
    const bool is_div = (k & 4) != 0, is64 = (k & 2) != 0, is_signed = (k & 1) != 0;
    const Gp divisor = is64 ? Gp(kAddr) : Gp(kAddr.r32());
    const Gp dividend = is64 ? Gp(kScratch) : Gp(kScratch.r32());
    const bool keep_in_r9 = !in_.options.checked;
    Label zero = a_.newLabel();
    a_.bind(s.entry);
    a_.test(divisor, divisor);
    a_.jz(zero);
    Label minus_one;
    if (is_signed) {
      minus_one = a_.newLabel();
      a_.cmp(divisor, -1);
      a_.je(minus_one);
    }
    a_.bind(s.divide);
    a_.xchg(x86::rax, kScratch);  // rax = the dividend, r10 = r0
    if (keep_in_r9) a_.mov(x86::r9, x86::rdx);
    else a_.push(x86::rdx);
    if (is_signed) {
      if (is64) a_.cqo();
      else a_.cdq();
      a_.idiv(divisor);
    } else {
      a_.xor_(x86::edx, x86::edx);
      a_.div(divisor);
    }
    a_.xchg(x86::rax, kScratch);  // r10 = the quotient (a 32-bit divide zero-extended it), rax = r0
    if (!is_div) a_.mov(kScratch, x86::rdx);
    if (keep_in_r9) a_.mov(x86::rdx, x86::r9);
    else a_.pop(x86::rdx);
    a_.ret();
    a_.bind(zero);
    divide_by_zero(is_div, is64, dividend);
    a_.ret();
    if (is_signed) {
      a_.bind(minus_one);
      divide_by_minus_one(is_div, dividend);
      a_.ret();
    }
  }
}

void Lowering::movsx(const Insn& i, const OpInfo& r) {
  const Gp d = r.is64() ? reg64(i.dst) : reg32(i.dst);
  switch (r.match_value) {
    case 8: a_.movsx(d, reg8(i.src)); break;
    case 16: a_.movsx(d, reg16(i.src)); break;
    default: a_.movsxd(reg64(i.dst), reg32(i.src)); break;
  }
}

void Lowering::byte_swap(const Insn& i, const OpInfo& r) {
  // Hosts are little-endian: to/from little endian truncates, big endian and bswap swap.
  const bool swap = r.kind == Kind::kBswap || r.code == 0xdc;
  switch (r.match_value) {
    case 16:
      if (swap) a_.rol(reg16(i.dst), 8);
      a_.movzx(reg32(i.dst), reg16(i.dst));
      break;
    case 32:
      if (swap) a_.bswap(reg32(i.dst));
      else a_.mov(reg32(i.dst), reg32(i.dst));
      break;
    default:
      if (swap) a_.bswap(reg64(i.dst));
      break;
  }
}

// ---------------------------------------------------------------------------------------
// Control flow

void Lowering::jump_cond(std::size_t pc, const Insn& i, const OpInfo& r) {
  if (facts_ && facts_->branch == verifier::BranchFact::kNeverTaken) return;
  if (facts_ && facts_->branch == verifier::BranchFact::kAlwaysTaken) {
    // No jump at all when it only skips dead code, which has none.
    const auto target = static_cast<std::size_t>(static_cast<int64_t>(pc) + 1 + i.off);
    std::size_t k = pc + 1;
    while (k < target && !in_.options.facts[k].reached) ++k;
    if (k != target) branch(pc, target, std::nullopt);
    return;
  }
  compare(i, r);
  branch(pc, static_cast<std::size_t>(static_cast<int64_t>(pc) + 1 + i.off), condition(r.op_bits()));
}

// The flags a conditional jump tests: cmp dst, src/imm (test for jset).
// src_value: the known value of a register source, compared as an immediate.
void Lowering::compare(const Insn& i, const OpInfo& r, std::optional<int32_t> src_value) {
  const bool is64 = r.is64();
  const Gp d = is64 ? reg64(i.dst) : reg32(i.dst);
  const bool is_test = r.op_bits() == 0x40;
  const unsigned dst = kHostReg[i.dst];
  const int32_t imm = src_value ? *src_value : i.imm;
  if (r.reg_source() && !src_value) {
    if (is_test) put(enc::test_rr(is64, dst, kHostReg[i.src]));
    else put(enc::alu_rr(enc::Alu::kCmp, is64, dst, kHostReg[i.src]));
  } else if (is_test) {
    a_.test(d, imm);
  } else if (imm == 0) {
    put(enc::test_rr(is64, dst, dst));  // the same flags as cmp d, 0 (CF and OF clear), two bytes shorter
  } else {
    put(enc::alu_ri(enc::Alu::kCmp, is64, dst, imm));
  }
}

// Jumps to `target` (when `cc` holds, if given). A jump backwards spends the branch budget
// in checked mode, so an unverified loop cannot hang the host.
void Lowering::branch(std::size_t pc, std::size_t target, std::optional<CondCode> cc) {
  const bool backward = target <= pc;
  if (!backward || !in_.options.checked) return jump(pc, target, cc);
  Label not_taken = a_.newLabel();
  if (cc) a_.j(x86::negateCond(*cc), not_taken);
  spend_branch(target);
  jump(pc, target, std::nullopt);
  a_.bind(not_taken);
}

// A jump to instruction `target` from the one at pc: backward, the shortest form to where its
// code starts; forward, a rel32 filled in by patch_jumps().
void Lowering::jump(std::size_t pc, std::size_t target, std::optional<CondCode> cc) {
  const auto code = cc ? static_cast<unsigned>(*cc) : 0u;
  if (!in_.options.checked && in_.insns[target].op == Op::Exit) {
    // A jump to an exit is a return: `ret` itself, or a conditional jump to a shared one.
    // (So exits are reached by falling into them only; skips_exit() relies on it.)
    if (cc) a_.j(*cc, ret_label());
    else a_.ret();
    return;
  }
  if (!moved_.empty() && moved_[target].isValid()) {
    if (cc) a_.j(*cc, moved_[target]);
    else a_.jmp(moved_[target]);
    return;
  }
  if (target <= pc) {
    const auto back = static_cast<int64_t>(labels_.insn_offset[target]) - static_cast<int64_t>(a_.offset());
    if (enc::fits8(back - 2)) {
      put(cc ? enc::jcc_rel8(code, static_cast<int8_t>(back - 2)) : enc::jmp_rel8(static_cast<int8_t>(back - 2)));
    } else {
      put(cc ? enc::jcc_rel32(code, static_cast<int32_t>(back - 6)) : enc::jmp_rel32(static_cast<int32_t>(back - 5)));
    }
    return;
  }
  put(cc ? enc::jcc_rel32(code, 0) : enc::jmp_rel32(0));
  fixups_.push_back(JumpFixup{a_.offset() - 4, target});
}

void Lowering::patch_jumps() {
  uint8_t* text = a_.code()->textSection()->buffer().data();
  const auto patch = [text](std::size_t rel32_at, uint64_t target) {
    const auto rel = static_cast<int32_t>(static_cast<int64_t>(target) - static_cast<int64_t>(rel32_at + 4));
    std::memcpy(text + rel32_at, &rel, 4);
  };
  for (const JumpFixup& f : fixups_) patch(f.rel32_at, labels_.insn_offset[f.target]);
  for (const CallFixup& f : call_fixups_) patch(f.rel32_at, a_.code()->labelOffset(f.target));
}

void Lowering::spend_branch(std::size_t target) {
  if (!in_.options.checked) return;
  a_.dec(kBudget);
  a_.jz(fail(Status::kBranchLimit, target));
}

// may_goto falls through kMayGotoBudget times per run, then jumps (the kernel's countdown).
void Lowering::may_goto(std::size_t pc, const Insn& i) {
  Label fall_through = a_.newLabel();
  a_.cmp(BPFVM_STATE(may_goto_left), 0);
  a_.jne(fall_through);
  branch(pc, static_cast<std::size_t>(static_cast<int64_t>(pc) + 1 + i.off), std::nullopt);
  a_.bind(fall_through);
  a_.dec(BPFVM_STATE(may_goto_left));
}

// Helpers take r1-r5 where the program keeps them; r9 carries the HelperContext, which is the
// JitState's first member. r0-r5 are caller-saved, exactly the registers BPF lets a call clobber.
// Unchecked code calls a context-free helper (Helper::context_free) and nothing more: it needs
// no pc, program or budget in the state, and never stops the run. r9 still carries the
// context, as the helper's signature says.
void Lowering::call_helper(std::size_t pc, const Helper& helper) {
  if (!in_.options.checked && helper.context_free) {
    a_.mov(x86::r9, kState);
    a_.mov(kScratch, reinterpret_cast<uint64_t>(helper.fn));
    a_.call(kScratch);
    return;
  }
  call_helper_fn(pc, helper.fn);
}

void Lowering::call_helper_fn(std::size_t pc, HelperFn fn) {
  a_.mov(BPFVM_STATE(ctx.pc), static_cast<int32_t>(pc));
  a_.mov(kScratch, reinterpret_cast<uint64_t>(in_.insns.data()));  // which program, for callbacks
  a_.mov(BPFVM_STATE(program), kScratch);
  a_.mov(BPFVM_STATE(budget), kBudget);
  a_.mov(x86::r9, kState);
  a_.mov(kScratch, reinterpret_cast<uint64_t>(fn));
  a_.call(kScratch);
  // r1-r5 are unwritten now and hold what the helper left there, host values: zero them, as
  // the interpreter does (they can still be passed to a helper unchecked).
  for (uint8_t r = 1; r <= 5; ++r) a_.xor_(reg32(r), reg32(r));
  a_.mov(kBudget, BPFVM_STATE(budget));
  if (tracking()) args_scratched();
  a_.cmp(BPFVM_STATE(ctx.stop, 1), 0);
  if (!stop_.isValid()) stop_ = a_.newLabel();
  a_.jne(stop_);
}

// Unchecked code only: how to do the bpf_map_lookup_elem at pc without the helper, when the
// map in r1 is known at compile time and has a MapLookup. It is known when an ld_imm64 of the map sets r1 in the same basic block: nothing
// between it and the call is a jump target, a call, or an instruction that may write r1
// (conservatively: anything naming r1 as its destination, and atomics).
const MapLookup* Lowering::known_lookup(std::size_t pc) const {
  if (in_.options.checked || in_.options.map_lookups.empty() || in_.insns[pc].imm != BPF_FUNC_map_lookup_elem) {
    return nullptr;
  }
  constexpr std::size_t kLookBack = 16;
  for (std::size_t k = pc; k > 0 && pc - k < kLookBack; --k) {
    const Insn& i = in_.insns[k - 1];
    if (i.op == Op::LdImm64Tail) continue;
    if (i.op == Op::LdMapFd && i.dst == 1) {
      const uint64_t ref = (&i)[1].imm64;
      for (const MapLookup& m : in_.options.map_lookups) {
        if (m.ref == ref) return &m;
      }
      return nullptr;
    }
    if (!computes_only(i.info().kind) || i.dst == 1 || is_target(k - 1)) return nullptr;
  }
  return nullptr;
}

// Whether the ld_imm64 of r1 at pc feeds only a lookup done inline (an ARRAY map's): nothing
// reads r1 before the call, which follows in the same basic block.
bool Lowering::only_for_inline_lookup(std::size_t pc) const {
  if (in_.options.checked || in_.options.map_lookups.empty()) return false;
  constexpr std::size_t kLookAhead = 16;
  for (std::size_t k = pc + 2; k < in_.insns.size() && k - pc < kLookAhead; ++k) {
    const Insn& i = in_.insns[k];
    if (i.op == Op::LdImm64Tail) continue;
    if (entered_elsewhere(k)) return false;
    if (i.op == Op::CallHelper) {
      const MapLookup* m = known_lookup(k);
      return m != nullptr && m->is_inline();
    }
    if (!computes_only(i.info().kind) || i.dst == 1) return false;
    if (regs::read_set(i) & regs::bit(1)) return false;
  }
  return false;
}

// Whether `r2 = r10; r2 += off` at pc is the key's address for a lookup done inline (an ARRAY
// map's) that reads the key from the register clang stored it from (key_register): then
// nothing reads r2, which the call scratches.
bool Lowering::only_for_inline_key(std::size_t pc) const {
  const std::size_t call = pc + 4;  // after r2 = r10; r2 += off; r1 = map (two slots)
  if (in_.insns[pc].dst != 2 || in_.insns[pc].src != isa::kFrameReg || call >= in_.insns.size() ||
      in_.insns[call].op != Op::CallHelper) {
    return false;
  }
  const MapLookup* m = known_lookup(call);
  return m != nullptr && m->is_inline() && key_register(call).has_value();
}

// For an instruction i that reads r10: whether it only uses it as the base of a load or store
// (noting the bytes it reads, which must be in the stack).
bool Lowering::note_stack_use(const Insn& i) {
  const OpInfo& r = i.info();
  const bool base_only = ((r.kind == Kind::kLoad || r.kind == Kind::kLoadSx) && i.src == isa::kFrameReg) ||
                         ((r.kind == Kind::kStore || r.kind == Kind::kStoreReg || r.kind == Kind::kAtomic) &&
                          i.dst == isa::kFrameReg && (r.kind == Kind::kStore || i.src != isa::kFrameReg));
  if (!base_only) return false;
  if (r.kind == Kind::kStore || r.kind == Kind::kStoreReg) return true;
  const int first = i.off + static_cast<int>(kStackSize);
  if (first < 0 || first + static_cast<int>(r.mem_size()) > static_cast<int>(kStackSize)) {
    stack_known_ = false;  // outside the stack: not a program the verifier passed
    return true;
  }
  for (unsigned k = 0; k < r.mem_size(); ++k) stack_read_.set(static_cast<std::size_t>(first) + k);
  return true;
}

// A store to the stack that nothing reads (see stack_read_).
bool Lowering::dead_store(const Insn& i) const {
  const int first = i.off + static_cast<int>(kStackSize);
  const auto n = static_cast<int>(i.info().mem_size());
  if (first < 0 || first + n > static_cast<int>(kStackSize)) return false;
  for (int k = 0; k < n; ++k) {
    if (stack_read_.test(static_cast<std::size_t>(first + k))) return false;
  }
  return true;
}

// r0 = &value[*(u32*)r2], or 0 when the key is out of range (the kernel's array_map_gen_lookup).
// The verifier proved r2 points to a readable key; it forbids reading r1-r5 after the call, so
// they keep what they held. When the next instruction is clang's null check (`if r0 == 0
// goto`), with nothing else jumping to it, the range check decides it: a value in range is
// never NULL, so that path falls through with no test.
// Whether clang's NULL test of a lookup's result follows the call at pc (`if r0 == 0 goto`),
// and nothing else jumps to it.
bool Lowering::null_test_follows(std::size_t pc) const {
  if (pc + 1 >= in_.insns.size() || entered_elsewhere(pc + 1)) return false;
  const Insn& next = in_.insns[pc + 1];
  return next.op == Op::JeqImm && next.dst == 0 && next.imm == 0;
}

void Lowering::array_lookup(std::size_t pc, const MapLookup& m) {
  const bool null_check = null_test_follows(pc);
  // The key: from the register clang just stored it from, when it did (no wait for the store
  // to forward to the load), else from memory.
  const auto key = key_register(pc);
  const auto load_key = [&] {
    if (key) a_.mov(x86::eax, reg32(*key));
    else a_.mov(x86::eax, x86::dword_ptr(reg64(2)));
  };
  // The key is in range, as the verifier proved or as the block computed it (the key
  // register's low 32 bits, below what is known of it): no NULL, so the null check is dead; a
  // known key makes the lookup an address.
  const uint64_t below = key ? std::min<uint64_t>(upper(*key), UINT32_MAX) : UINT64_MAX;
  if ((facts_ && facts_->key_in_range) || below < m.max_entries) {
    if (null_check) skip_next_ = true;
    const auto value = key ? known(*key) : std::nullopt;
    if ((facts_ && facts_->key_known) || value) {
      const uint64_t index = value ? static_cast<uint32_t>(*value) : facts_->key;
      a_.mov(x86::rax, m.data + index * m.stride);
      return;
    }
    if (key && below == upper(*key)) {
      element_address(m, reg64(*key));  // the whole register is the key
      return;
    }
    load_key();
    element_address(m, x86::rax);
    return;
  }
  load_key();
  a_.cmp(x86::eax, asmjit::Imm(m.max_entries));
  if (null_check) {
    // Out of range: r0 = NULL and the NULL test's jump, out of line, so that the usual path
    // (in range) takes no jump.
    const std::size_t target = static_cast<std::size_t>(static_cast<int64_t>(pc) + 2 + in_.insns[pc + 1].off);
    null_paths_.push_back(NullPath{a_.newLabel(), pc + 1, target});
    a_.jae(null_paths_.back().label);
    skip_next_ = true;
    element_address(m, x86::rax);
    return;
  }
  const Label in_range = a_.newLabel(), done = a_.newLabel();
  a_.short_().jb(in_range);  // over the 2-byte xor and the 2-byte jump
  a_.xor_(x86::eax, x86::eax);
  a_.short_().jmp(done);
  a_.bind(in_range);
  element_address(m, x86::rax);
  a_.bind(done);
}

// The register whose low 32 bits are the key of the lookup called at pc, when clang's
// sequence just stored it: `*(u32 *)(r10 + off) = rX; r2 = r10; r2 += off; r1 = map; call`,
// with nothing jumping in. r1 may be the key register: its ld_imm64 emits nothing when the
// lookup is inlined (only_for_inline_lookup). Nothing in the sequence writes memory or rX.
std::optional<uint8_t> Lowering::key_register(std::size_t pc) const {
  if (pc < 5) return std::nullopt;  // the store is at pc - 5
  const Insn& store = in_.insns[pc - 5];
  const Insn& base = in_.insns[pc - 4];
  const Insn& add = in_.insns[pc - 3];
  const Insn& map = in_.insns[pc - 2];
  if (store.op != Op::StxW || store.dst != isa::kFrameReg || store.src == 2 || store.src == isa::kFrameReg) {
    return std::nullopt;
  }
  if (base.op != Op::Mov64Reg || base.dst != 2 || base.src != isa::kFrameReg) return std::nullopt;
  if (add.op != Op::Add64Imm || add.dst != 2 || add.imm != store.off) return std::nullopt;
  if (map.op != Op::LdMapFd || map.dst != 1) return std::nullopt;
  if (store.src == 1 && !only_for_inline_lookup(pc - 2)) return std::nullopt;
  if (!straight(pc - 4, pc)) return std::nullopt;
  return store.src;
}

// rax = the address of element `index` (a register holding an index below max_entries) of m.
void Lowering::element_address(const MapLookup& m, const Gp& index) {
  a_.mov(kScratch, m.data);
  unsigned shift = 0;
  while ((uint32_t{1} << shift) < m.stride) ++shift;
  if ((uint32_t{1} << shift) == m.stride && shift <= 3) {
    a_.lea(x86::rax, x86::ptr(kScratch, index, shift));  // data + index * stride (1, 2, 4, 8)
  } else {
    if ((uint32_t{1} << shift) == m.stride) {
      if (index != x86::rax) a_.mov(x86::rax, index);
      a_.shl(x86::rax, shift);
    } else {
      a_.imul(x86::rax, index, asmjit::Imm(m.stride));
    }
    a_.add(x86::rax, kScratch);
  }
}

// r0 = m.call(r1, r2): the map's lookup, called where the program put the map and the key.
// Nothing else of the helper call is needed: no HelperContext (the lookup reads none), no stop
// to test. The call may change r1-r5, as a helper may, and the JIT's scratch registers, which
// hold nothing between unchecked instructions; the verifier forbids reading r1-r5 after it.
void Lowering::call_lookup(const MapLookup& m) {
  a_.mov(kScratch, reinterpret_cast<uint64_t>(m.call));
  a_.call(kScratch);
}

// r0 = the value of the key at r2 in a HASH map (maps::Map::DirectHash), inline when the key is
// its bucket's first element and no writer changed the bucket meanwhile; an empty bucket
// gives NULL (out of line, with the second look at its count); anything else calls the map's
// lookup (r1 = the map, r2 = the key, as the program left them), out of line. rdi and rsi
// (r1, r2) are kept for that call; rcx, rdx and r8 (r3-r5) are free, as the call scratches them.
void Lowering::hash_lookup(std::size_t pc, const MapLookup& m) {
  const bool wide = m.key_size == 8;
  const Gp key = wide ? Gp(x86::rax) : Gp(x86::eax);
  if (const auto r = wide ? std::nullopt : key_register(pc)) a_.mov(x86::eax, reg32(*r));
  else a_.mov(key, wide ? x86::qword_ptr(x86::rsi) : x86::dword_ptr(x86::rsi));
  a_.mov(kScratch, m.multiplier);
  a_.imul(kScratch, x86::rax);  // the key zero-extended (a 32-bit mov cleared the upper half)
  if (m.shift < 64) a_.shr(kScratch, m.shift);
  else a_.xor_(kScratch.r32(), kScratch.r32());
  a_.mov(kAddr, m.buckets);
  a_.lea(kAddr, x86::ptr(kAddr, kScratch, 3));  // the bucket
  a_.mov(x86::edx, x86::dword_ptr(kAddr, 4));   // its change count first (x86 keeps loads in order)
  a_.mov(x86::ecx, x86::dword_ptr(kAddr));      // its first element
  lookup_paths_.push_back(LookupPath{a_.newLabel(), a_.newLabel(), a_.newLabel(), m.call});
  const LookupPath& slow = lookup_paths_.back();
  a_.test(x86::dl, 1);
  a_.jnz(slow.label);  // a writer is changing the chain
  a_.cmp(x86::ecx, -1);
  a_.je(slow.empty);
  a_.mov(kScratch, m.keys);
  a_.cmp(wide ? x86::qword_ptr(kScratch, x86::rcx, 3) : x86::dword_ptr(kScratch, x86::rcx, 3), key);
  a_.jne(slow.label);  // maybe further down the chain
  a_.cmp(x86::dword_ptr(kAddr, 4), x86::edx);
  a_.jne(slow.label);  // the bucket changed while it was read
  a_.mov(kScratch, m.data);
  if (m.stride == 8) {
    a_.lea(x86::rax, x86::ptr(kScratch, x86::rcx, 3));
  } else {
    a_.imul(x86::rax, x86::rcx, asmjit::Imm(m.stride));
    a_.add(x86::rax, kScratch);
  }
  a_.bind(slow.back);
}

// A bpf-to-bpf call: a new frame 512 bytes below the caller's, zeroed; r6-r9 and r10 of the
// caller kept on the host stack (5 pushes and the return address: 48 bytes, so the callee's
// rsp is as aligned as the caller's).
void Lowering::check_depth(std::size_t pc) {
  // Always checked, even when the verifier vouches for the program: it guards the host stack.
  a_.cmp(BPFVM_STATE(depth, 4), static_cast<int32_t>(kMaxCallFrames - 1));
  a_.jae(fail(Status::kCallDepth, pc));
}

void Lowering::enter_frame() {
  if (tracking()) {
    // The callee starts with the caller's r1-r5 and r10 written; the caller's set comes back
    // on return (16 bytes of host stack: alignment kept).
    a_.push(BPFVM_STATE(init));
    a_.sub(x86::rsp, 8);
    a_.mov(kScratch.r32(), BPFVM_STATE(init, 4));
    a_.and_(kScratch.r32(), static_cast<int32_t>(regs::kArgRegs));
    a_.or_(kScratch.r32(), static_cast<int32_t>(regs::bit(isa::kFrameReg)));
    a_.mov(BPFVM_STATE(init, 4), kScratch.r32());
  }
  a_.inc(BPFVM_STATE(depth, 4));
  a_.push(x86::rbx);
  a_.push(x86::r13);
  a_.push(x86::r14);
  a_.push(x86::r15);
  a_.push(x86::rbp);
  a_.sub(x86::rbp, static_cast<int32_t>(kStackSize));
  call_label(zero_frame_stub());
}

void Lowering::leave_frame() {
  a_.pop(x86::rbp);
  a_.pop(x86::r15);
  a_.pop(x86::r14);
  a_.pop(x86::r13);
  a_.pop(x86::rbx);
  a_.dec(BPFVM_STATE(depth, 4));
  if (tracking()) {
    a_.add(x86::rsp, 8);
    a_.pop(kScratch);
    a_.mov(BPFVM_STATE(init, 4), kScratch.r32());
    args_scratched();
  }
}

// Reads of registers nobody wrote end the run as the interpreter ends it ("R%d !read_ok"),
// checked in its order (dst, src, then r0 for exit and cmpxchg). Where the static analysis
// knows the answer, nothing (written) or a jump to the failure (never written) is emitted;
// otherwise, in tracking mode, the run-time set is tested. Tracking mode tests every read: it
// is also the mode for callx and callbacks, which may enter code anywhere.
void Lowering::check_reads(std::size_t pc, const Insn& i) {
  const regs::InitAnalysis& init = *in_.init;
  // Usually every read may have been written: nothing to emit.
  if (!tracking() && (!init.reached[pc] || (regs::read_set(i) & ~init.maybe[pc]) == 0)) return;
  const regs::Reads reads = regs::reads(i);
  for (uint8_t k = 0; k < reads.count; ++k) {
    const uint8_t reg = reads.reg[k];
    const uint16_t b = regs::bit(reg);
    if (tracking()) {
      if (reg == isa::kFrameReg) continue;  // always written
      a_.test(BPFVM_STATE(init, 4), static_cast<int32_t>(b));
      a_.jz(fail(Status::kNotReadOk, pc, reg));
    } else if (init.reached[pc] && !(init.maybe[pc] & b)) {
      a_.jmp(fail(Status::kNotReadOk, pc, reg));
      return;
    }
  }
}

// Tracking mode: the registers an instruction writes (calls and LD_ABS: args_scratched).
void Lowering::track_writes(const Insn& i, const OpInfo& r) {
  int reg = -1;
  switch (r.kind) {
    case Kind::kAlu: case Kind::kMovSx: case Kind::kLoad: case Kind::kLoadSx: case Kind::kLdImm64: reg = i.dst; break;
    case Kind::kAtomic:
      if (r.match_value == isa::code::kCmpxchg) reg = 0;
      else if ((r.match_value & isa::code::kFetch) != 0) reg = i.src;
      break;
    default: break;
  }
  if (reg >= 0) a_.or_(BPFVM_STATE(init, 4), static_cast<int32_t>(regs::bit(static_cast<unsigned>(reg))));
}

// After a helper call, LD_ABS/LD_IND or a return: r1-r5 unwritten, r0 written.
void Lowering::args_scratched() {
  a_.and_(BPFVM_STATE(init, 4), static_cast<int32_t>(~regs::kArgRegs & regs::kAllRegs));
  a_.or_(BPFVM_STATE(init, 4), static_cast<int32_t>(regs::bit(0)));
}

void Lowering::call_local(std::size_t pc, std::size_t target) {
  // The interpreter counts a call as a taken branch once the frame exists; failing before
  // pushing anything is equivalent (the run ends either way).
  check_depth(pc);
  spend_branch(target);
  enter_frame();
  call_label(labels_.insn[target]);
  leave_frame();
}

// callx: the register holds either what `ld_imm64 src=4` made (the address of an instruction
// in the program, as in the interpreter) or a helper id.
void Lowering::callx(std::size_t pc, const Insn& i) {
  uses_jump_table_ = true;
  Label as_helper = a_.newLabel();
  Label done = a_.newLabel();
  // index = (value - &insns[0]) / sizeof(Insn) when that is exact and in range. sizeof(Insn)
  // is 8 * 3: check the low 3 bits, shift, and multiply by the inverse of 3 modulo 2^64, which
  // maps exact multiples of 3 to their quotient and everything else to values >= 2^64 / 3.
  static_assert(sizeof(Insn) == 24);
  a_.mov(kAddr, reg64(i.dst));
  a_.mov(kScratch, reinterpret_cast<uint64_t>(in_.insns.data()));
  a_.sub(kAddr, kScratch);
  a_.test(kAddr.r8(), 7);
  a_.jnz(as_helper);
  a_.shr(kAddr, 3);
  a_.mov(kScratch, uint64_t{0xaaaaaaaaaaaaaaab});
  a_.imul(kAddr, kScratch);
  a_.cmp(kAddr, static_cast<int32_t>(in_.insns.size()));
  a_.jae(as_helper);
  // A subprogram: r11 = its index.
  check_depth(pc);
  if (in_.options.checked) {
    Label budget_ok = a_.newLabel();
    a_.dec(kBudget);
    a_.jnz(budget_ok);
    a_.mov(kScratch, kAddr);  // the failure names the target, as the interpreter does
    a_.jmp(fail_tail(Status::kBranchLimit));
    a_.bind(budget_ok);
  }
  enter_frame();
  a_.lea(kScratch, x86::ptr(jump_table_));
  a_.call(x86::qword_ptr(kScratch, kAddr, 3));
  leave_frame();
  a_.jmp(done);
  // A helper id: looked up at run time by a trampoline with the helpers' signature.
  a_.bind(as_helper);
  a_.mov(BPFVM_STATE(callx_value), reg64(i.dst));
  call_helper_fn(pc, [](uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, HelperContext& ctx) -> uint64_t {
    auto& st = reinterpret_cast<JitState&>(ctx);
    const uint64_t value = st.callx_value;
    if (value <= static_cast<uint64_t>(INT32_MAX)) {
      if (const Helper* h = st.helpers->find(static_cast<int32_t>(value)); h != nullptr && h->fn != nullptr) {
        return h->fn(r1, r2, r3, r4, r5, ctx);
      }
    }
    st.status = Status::kCallxBad;
    st.error_value = value;
    st.error_pc = ctx.pc;
    ctx.stop = true;
    return 0;
  });
  a_.bind(done);
}

// ---------------------------------------------------------------------------------------
// Memory

// The operand for an N-byte access at base + off. In checked mode the address goes to r11 and
// is checked against the first region and the stack inline, then the other regions in a
// stub; a failure ends the run naming this instruction. An access through r10 with a constant
// offset inside one frame needs no check: r10 always points at the top of a 512-byte frame.
x86::Mem Lowering::access(std::size_t pc, uint8_t base, int16_t off, unsigned size, bool write, bool atomic) {
  const bool in_frame = base == isa::kFrameReg && off >= -static_cast<int>(kStackSize) &&
                        off <= -static_cast<int>(size) && (!atomic || off % static_cast<int>(size) == 0);
  if (!in_.options.checked || in_frame) return x86::ptr(reg64(base), off, size);
  Label ok = a_.newLabel();
  // The first region before the stack: accesses to the stack through r10 rarely get here.
  const unsigned state_id = kState.id(), addr = kAddr.id(), scratch = kScratch.id();
  const auto field = [](std::size_t offset) { return static_cast<int32_t>(offset); };
  put(enc::lea(addr, kHostReg[base], off));
  put(enc::mov_rr(true, scratch, addr));
  put(enc::alu_rm(enc::Alu::kSub, true, scratch, state_id, field(offsetof(JitState, first.base))));
  put(enc::alu_rm(enc::Alu::kCmp, true, scratch, state_id,
                  field(offsetof(JitState, first.limit) + 8 * (4 * (write ? 1 : 0) + log2_size(size)))));
  a_.jb(ok);
  put(enc::mov_rr(true, scratch, addr));
  put(enc::alu_rm(enc::Alu::kSub, true, scratch, state_id, field(offsetof(JitState, stack_lo))));
  put(enc::alu_ri(enc::Alu::kCmp, true, scratch, static_cast<int32_t>(kJitStackBytes - size + 1)));
  a_.jb(ok);
  call_label(access_stub(write, size));
  a_.jnc(fail(Status::kBadAccess, pc));
  a_.bind(ok);
  if (atomic) {
    a_.test(kAddr.r8(), static_cast<int32_t>(size - 1));
    a_.jnz(fail(Status::kMisaligned, pc));
  }
  return x86::ptr(kAddr, 0, size);
}

void Lowering::load(std::size_t pc, const Insn& i, const OpInfo& r) {
  const unsigned n = r.mem_size();
  if (r.kind == Kind::kLoad && !in_.options.checked) {
    put(enc::load(n, kHostReg[i.dst], kHostReg[i.src], i.off));  // what access() would give
    return;
  }
  const x86::Mem m = access(pc, i.src, i.off, n, false);
  if (r.kind == Kind::kLoad) {
    put(enc::load(n, kHostReg[i.dst], m.baseId(), m.offsetLo32()));  // access() gives [base + disp]
  } else if (n == 4) {
    a_.movsxd(reg64(i.dst), m);
  } else {
    a_.movsx(reg64(i.dst), m);
  }
}

// src_value: the known value of a register source (for 8 bytes, one that sign-extends from 32
// bits), stored as an immediate.
void Lowering::store(std::size_t pc, const Insn& i, const OpInfo& r, std::optional<int32_t> src_value) {
  const unsigned n = r.mem_size();
  // [base + disp]: in checked code, what access() gives after its checks.
  unsigned base = kHostReg[i.dst];
  int32_t disp = i.off;
  if (in_.options.checked) {
    const x86::Mem m = access(pc, i.dst, i.off, n, true);
    base = m.baseId();
    disp = m.offsetLo32();
  }
  if (r.kind == Kind::kStoreReg && !src_value) {
    put(enc::store(n, base, disp, kHostReg[i.src]));
  } else {
    // An 8-byte store sign-extends imm32, as BPF does.
    const int32_t imm = src_value ? *src_value : i.imm;
    put(enc::store_imm(n, base, disp, narrowed(imm, n)));
  }
}

// Atomics: the plain forms are one locked instruction; fetch-add is xadd; xchg is implicitly
// locked; cmpxchg compares with r0 = rax. fetch-or/and/xor have no x86 instruction and loop on
// cmpxchg, with r0 kept in r10 and the budget register lent as the temporary.
void Lowering::atomic(std::size_t pc, const Insn& i, const OpInfo& r) {
  const unsigned n = r.mem_size();
  x86::Mem m = access(pc, i.dst, i.off, n, true, true);
  const Gp s = sized(reg64(i.src), n);
  const int32_t op = r.match_value;
  switch (op) {
    case 0x00: a_.lock().add(m, s); return;
    case 0x40: a_.lock().or_(m, s); return;
    case 0x50: a_.lock().and_(m, s); return;
    case 0xa0: a_.lock().xor_(m, s); return;
    case 0x01: a_.lock().xadd(m, s); return;  // 32-bit: writes src's low half, zero-extending
    case isa::code::kXchg: a_.xchg(m, s); return;
    case isa::code::kCmpxchg:
      a_.lock().cmpxchg(m, s, sized(x86::rax, n));
      if (n == 4) a_.mov(x86::eax, x86::eax);  // a successful 32-bit cmpxchg leaves rax's top half
      return;
    default: break;
  }
  const Gp acc = sized(x86::rax, n);
  const Gp tmp = sized(x86::r9, n);
  const Gp operand = kHostReg[i.src] == Gp::kIdAx ? sized(kScratch, n) : s;
  if (m.baseId() == Gp::kIdAx) {  // unchecked mode, based on r0: the loop needs rax
    a_.lea(kAddr, m);
    m = x86::ptr(kAddr, 0, n);
  }
  Label retry = a_.newLabel();
  a_.push(kBudget);
  a_.mov(kScratch, x86::rax);
  a_.mov(acc, m);
  a_.bind(retry);
  a_.mov(tmp, acc);
  switch (op & ~isa::code::kFetch) {
    case 0x40: a_.or_(tmp, operand); break;
    case 0x50: a_.and_(tmp, operand); break;
    default: a_.xor_(tmp, operand); break;
  }
  a_.lock().cmpxchg(m, tmp, acc);
  a_.jne(retry);
  a_.mov(x86::r9, x86::rax);      // the old value, zero-extended for 32 bits
  a_.mov(x86::rax, kScratch);     // r0 back (overwritten next if src is r0)
  a_.mov(reg64(i.src), x86::r9);
  a_.pop(kBudget);
}

// LD_ABS / LD_IND: r0 = big-endian packet bytes at a 32-bit signed offset; out of bounds ends
// the program with r0 = 0.
void Lowering::packet_load(const Insn& i, const OpInfo& r) {
  const unsigned n = r.mem_size();
  if (tracking()) args_scratched();  // out of bounds ends the run: nothing reads the set after
  if (r.kind == Kind::kLdAbs) {
    if (i.imm < 0) {
      a_.jmp(packet_out_);
      return;
    }
    a_.mov(kAddr, static_cast<int64_t>(i.imm));
  } else {
    a_.mov(kAddr.r32(), reg32(i.src));
    a_.add(kAddr.r32(), i.imm);
    a_.movsxd(kAddr, kAddr.r32());
    a_.test(kAddr, kAddr);
    a_.js(packet_out_);
  }
  a_.lea(kScratch, x86::ptr(kAddr, static_cast<int32_t>(n)));
  a_.cmp(kScratch, BPFVM_STATE(packet_size));
  a_.ja(packet_out_);
  a_.add(kAddr, BPFVM_STATE(packet));
  switch (n) {
    case 1: a_.movzx(x86::eax, x86::byte_ptr(kAddr)); break;
    case 2:
      a_.movzx(x86::eax, x86::word_ptr(kAddr));
      a_.rol(x86::ax, 8);
      break;
    default:
      a_.mov(x86::eax, x86::dword_ptr(kAddr));
      a_.bswap(x86::eax);
      break;
  }
}

// ---------------------------------------------------------------------------------------
// Out-of-line code

Label Lowering::fail(Status status, std::size_t pc, int64_t value) {
  Label label = a_.newLabel();
  fail_sites_.push_back(FailSite{label, status, pc, value});
  return label;
}

Label& Lowering::fail_tail(Status status) {
  Label& l = fail_tails_[static_cast<std::size_t>(status)];
  if (!l.isValid()) l = a_.newLabel();
  return l;
}

Label& Lowering::access_stub(bool write, unsigned size) {
  Label& l = access_stubs_[write ? 1 : 0][log2_size(size)];
  if (!l.isValid()) l = a_.newLabel();
  return l;
}

Label& Lowering::ret_label() {
  if (!ret_.isValid()) ret_ = a_.newLabel();
  return ret_;
}

Label& Lowering::zero_frame_stub() {
  if (!zero_frame_.isValid()) zero_frame_ = a_.newLabel();
  return zero_frame_;
}

void Lowering::out_of_line() {
  a_.bind(labels_.out_of_line);
  for (const NullPath& n : null_paths_) {
    a_.bind(n.label);
    a_.xor_(x86::eax, x86::eax);
    jump(n.pc, n.target, std::nullopt);
  }
  for (const LookupPath& l : lookup_paths_) {
    a_.bind(l.empty);
    a_.cmp(x86::dword_ptr(kAddr, 4), x86::edx);
    a_.jne(l.label);
    a_.xor_(x86::eax, x86::eax);
    a_.jmp(l.back);
    a_.bind(l.label);
    a_.mov(kScratch, reinterpret_cast<uint64_t>(l.call));
    a_.call(kScratch);
    a_.jmp(l.back);
  }
  for (const ExitPath& e : exit_paths_) {
    a_.bind(e.label);
    alu(*e.set_r0, e.set_r0->info());
    a_.ret();
  }
  if (stop_.isValid()) {
    // A helper asked to stop: a tail call, or the end of the run with r0 = its return value.
    // The tail call continues as the target in this frame: registers as fresh as they can be
    // (r1 = ctx, r10 kept), and the jump spends the branch budget as the interpreter does.
    a_.bind(stop_);
    a_.cmp(BPFVM_STATE(tail_target), 0);
    a_.je(early_exit_);
    a_.mov(BPFVM_STATE(ctx.stop, 1), 0);
    a_.mov(kAddr, BPFVM_STATE(tail_target));
    a_.mov(BPFVM_STATE(tail_target), 0);
    a_.mov(reg64(1), BPFVM_STATE(tail_ctx));
    a_.mov(BPFVM_STATE(init, 4), static_cast<int32_t>(regs::bit(1) | regs::bit(isa::kFrameReg)));
    if (in_.options.checked) {
      Label budget_ok = a_.newLabel();
      a_.dec(kBudget);
      a_.jnz(budget_ok);
      a_.xor_(kScratch.r32(), kScratch.r32());  // the target's first instruction
      a_.jmp(fail_tail(Status::kBranchLimit));
      a_.bind(budget_ok);
    }
    for (uint8_t r : {0, 2, 3, 4, 5, 6, 7, 8, 9}) a_.xor_(reg32(r), reg32(r));
    a_.jmp(kAddr);
  }
  // Helpers can call back only into programs that name a subprogram (ld_imm64 func).
  const bool names_functions = std::any_of(in_.insns.begin(), in_.insns.end(),
                                           [](const Insn& i) { return i.op == Op::LdFunc; });
  if (names_functions) callback_entry();
  // Failure sites: r10 = pc, then the tail of their status (r11 already holds the value).
  for (const FailSite& site : fail_sites_) {
    a_.bind(site.label);
    if (site.value >= 0) a_.mov(kAddr.r32(), static_cast<uint32_t>(site.value));
    a_.mov(kScratch.r32(), static_cast<uint32_t>(site.pc));
    a_.jmp(fail_tail(site.status));
  }
  a_.bind(internal_);
  a_.mov(kScratch, -1);
  a_.jmp(fail_tail(Status::kInternal));
  for (std::size_t s = 0; s < fail_tails_.size(); ++s) {
    if (!fail_tails_[s].isValid()) continue;
    a_.bind(fail_tails_[s]);
    a_.mov(BPFVM_STATE(error_pc), kScratch);
    a_.mov(BPFVM_STATE(error_value), kAddr);
    a_.mov(kScratch, reinterpret_cast<uint64_t>(in_.insns.data()));
    a_.mov(BPFVM_STATE(error_program), kScratch);
    a_.mov(BPFVM_STATE(status, 4), static_cast<int32_t>(s));
    a_.jmp(early_exit_);
  }
  a_.bind(packet_out_);
  a_.xor_(x86::eax, x86::eax);
  // Ends the run (or the callback) from any depth: the host stack as the innermost entry left
  // it, r0 = rax.
  a_.bind(early_exit_);
  a_.mov(x86::rsp, BPFVM_STATE(host_rsp));
  a_.jmp(BPFVM_STATE(exit_to));

  // Access checks beyond the first region: r11 = address; carry set when some region allows it.
  for (unsigned w = 0; w < 2; ++w) {
    for (unsigned k = 0; k < 4; ++k) {
      if (!access_stubs_[w][k].isValid()) continue;
      Label loop = a_.newLabel(), found = a_.newLabel(), none = a_.newLabel();
      a_.bind(access_stubs_[w][k]);
      a_.push(x86::rax);
      a_.push(x86::rcx);
      a_.mov(x86::rcx, BPFVM_STATE(regions));
      a_.mov(x86::rax, BPFVM_STATE(region_count));
      a_.bind(loop);
      a_.test(x86::rax, x86::rax);
      a_.jz(none);
      a_.mov(kScratch, kAddr);
      a_.sub(kScratch, x86::qword_ptr(x86::rcx, static_cast<int32_t>(offsetof(RegionCheck, base))));
      a_.cmp(kScratch, x86::qword_ptr(x86::rcx, static_cast<int32_t>(offsetof(RegionCheck, limit) + 8 * (4 * w + k))));
      a_.jb(found);
      a_.add(x86::rcx, static_cast<int32_t>(sizeof(RegionCheck)));
      a_.dec(x86::rax);
      a_.jmp(loop);
      a_.bind(found);
      a_.pop(x86::rcx);
      a_.pop(x86::rax);
      a_.stc();
      a_.ret();
      a_.bind(none);
      a_.pop(x86::rcx);
      a_.pop(x86::rax);
      a_.clc();
      a_.ret();
    }
  }

  divide_stubs();
  if (ret_.isValid()) {
    a_.bind(ret_);
    a_.ret();
  }

  // Zeroes the 512-byte frame below rbp.
  if (zero_frame_.isValid()) {
    Label loop = a_.newLabel();
    a_.bind(zero_frame_);
    a_.pxor(x86::xmm0, x86::xmm0);
    a_.mov(kScratch, -static_cast<int64_t>(kStackSize));
    a_.bind(loop);
    a_.movdqa(x86::ptr(x86::rbp, kScratch, 0, 0), x86::xmm0);
    a_.movdqa(x86::ptr(x86::rbp, kScratch, 0, 16), x86::xmm0);
    a_.add(kScratch, 32);
    a_.jnz(loop);
    a_.ret();
  }

  // callx's jump table: the native address of every instruction (ld_imm64 tails: internal).
  a_.align(asmjit::AlignMode::kData, 8);
  a_.bind(labels_.data);
  if (uses_jump_table_) {
    a_.bind(jump_table_);
    for (std::size_t pc = 0; pc < in_.insns.size(); ++pc) {
      a_.embedLabel(in_.insns[pc].op == Op::LdImm64Tail ? internal_ : labels_.insn[pc], 8);
    }
  }
}

// callback_entry(JitState* state, uint64_t target, uint64_t target_pc): called by a helper (C++)
// through HelperHost::call. Saves every callee-saved register (the callback may use r6-r9),
// makes early exits come back here, then enters `target` as a bpf-to-bpf call one frame deeper
// than the helper's caller, with r1-r5 = state.args.
void Lowering::callback_entry() {
  Label done = a_.newLabel(), too_deep = a_.newLabel(), out_of_budget = a_.newLabel();
  a_.bind(labels_.callback_entry);
  for (const Gp& r : {x86::rbp, x86::rbx, x86::r12, x86::r13, x86::r14, x86::r15}) a_.push(r);
  a_.mov(kState, x86::rdi);
  a_.push(BPFVM_STATE(host_rsp));
  a_.push(BPFVM_STATE(exit_to));  // 8 pushes in all: rsp is 8 mod 16 again, as `call` needs
  a_.mov(BPFVM_STATE(host_rsp), x86::rsp);
  a_.lea(kScratch, x86::ptr(done));
  a_.mov(BPFVM_STATE(exit_to), kScratch);
  a_.mov(kBudget, BPFVM_STATE(budget));
  a_.mov(kAddr, x86::rsi);
  a_.cmp(BPFVM_STATE(depth, 4), static_cast<int32_t>(kMaxCallFrames - 1));
  a_.jae(too_deep);
  if (in_.options.checked) {
    a_.dec(kBudget);
    a_.jz(out_of_budget);
  }
  a_.inc(BPFVM_STATE(depth, 4));
  // r10 = the top of frame `depth`: frames are 512 bytes apart from the top of the stack.
  a_.mov(x86::eax, BPFVM_STATE(depth, 4));
  a_.shl(x86::eax, 9);
  static_assert(kStackSize == 512);
  a_.mov(x86::rbp, BPFVM_STATE(stack_lo));
  a_.add(x86::rbp, static_cast<int32_t>(kJitStackBytes));
  a_.sub(x86::rbp, x86::rax);
  call_label(zero_frame_stub());
  for (uint8_t r = 1; r <= 5; ++r) a_.mov(reg64(r), state(offsetof(JitState, args) + 8 * (r - 1)));
  a_.call(kAddr);
  a_.bind(done);
  a_.mov(BPFVM_STATE(budget), kBudget);
  a_.pop(BPFVM_STATE(exit_to));
  a_.pop(BPFVM_STATE(host_rsp));
  for (const Gp& r : {x86::r15, x86::r14, x86::r13, x86::r12, x86::rbx, x86::rbp}) a_.pop(r);
  a_.ret();
  // Failures name the helper's instruction (depth) or the callback's first one (budget), as
  // the interpreter does; the stack is unwound to `done` by the early exit.
  a_.bind(too_deep);
  a_.mov(kScratch, BPFVM_STATE(ctx.pc));
  a_.jmp(fail_tail(Status::kCallDepth));
  a_.bind(out_of_budget);
  a_.mov(kScratch, x86::rdx);
  a_.jmp(fail_tail(Status::kBranchLimit));
}

#undef BPFVM_STATE

}  // namespace

Result<LoweredLabels> lower(asmjit::CodeHolder& code, const LowerInput& input) {
  StickyError errors;
  code.setErrorHandler(&errors);
  x86::Assembler a(&code);
  a.addEncodingOptions(asmjit::EncodingOptions::kOptimizedAlign);  // multi-byte NOPs, not runs of 0x90
  Lowering lowering(a, input);
  LoweredLabels labels = lowering.run();
  code.resetErrorHandler();
  if (errors.failed) return Error{ErrorKind::kInternal, "JIT: " + errors.text, std::nullopt, std::nullopt};
  return labels;
}

}  // namespace bpfvm::jit::detail
