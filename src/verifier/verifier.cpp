#include "verifier/verifier.hpp"

#include <fmt/format.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <map>
#include <unordered_map>

#include "helpers/helper_table.hpp"
#include "isa/disasm.hpp"
#include "support/cpu.hpp"
#include "verifier/context_rules.hpp"
#include "verifier/print.hpp"
#include "verifier/state.hpp"
#include "verifier/structure.hpp"

namespace bpfvm::verifier {
namespace {

using isa::Insn;
using isa::Kind;
using isa::Op;

struct HelperAvailability {
  uint32_t prog_type;
  uint64_t words[4];
};
#include "verifier/helper_availability.inc"

constexpr uint64_t kComplexityLimit = 1'000'000;   // BPF_COMPLEXITY_LIMIT_INSNS
constexpr std::size_t kMaxPendingBranches = 8192;  // BPF_COMPLEXITY_LIMIT_JMP_SEQ
constexpr int kMaxCallFrames = 8;                  // MAX_CALL_FRAMES
constexpr std::size_t kEvictAbove = 64;            // explored states kept per insn before evicting
constexpr int64_t kMaxVarOff = 1 << 29;            // BPF_MAX_VAR_OFF
constexpr uint64_t kMaxVarSize = 1ULL << 29;       // BPF_MAX_VAR_SIZ
constexpr int kMaxPacketOff = 0xffff;              // MAX_PACKET_OFF

// BPF_OP values of ALU operations and jumps.
constexpr uint8_t kAdd = 0x00, kSub = 0x10, kMul = 0x20, kDiv = 0x30, kOr = 0x40, kAnd = 0x50, kLsh = 0x60,
                  kRsh = 0x70, kNeg = 0x80, kMod = 0x90, kXor = 0xa0, kMov = 0xb0, kArsh = 0xc0;
constexpr uint8_t kJeq = 0x10, kJgt = 0x20, kJge = 0x30, kJne = 0x50, kJlt = 0xa0, kJle = 0xb0;

const char* alu_string(uint8_t op) {
  switch (op) {
    case kAdd: return "+=";
    case kSub: return "-=";
    case kMul: return "*=";
    case kDiv: return "/=";
    case kOr: return "|=";
    case kAnd: return "&=";
    case kLsh: return "<<=";
    case kRsh: return ">>=";
    case kNeg: return "neg";
    case kMod: return "%=";
    case kXor: return "^=";
    case kMov: return "=";
    case kArsh: return "s>>=";
    default: return "?";
  }
}

struct Failure {
  int error;
  std::string message;
};
using Check = std::optional<Failure>;

Failure fail(int error, std::string message) { return Failure{error, std::move(message)}; }

// ---- facts for the JIT (facts.hpp) ----

// The divisor (its low 32 bits for alu32) cannot be 0.
bool excludes_zero(const Bounds& b, bool alu32) {
  if (alu32) return b.u32min > 0 || (b.var.value & 0xffffffffULL) != 0;
  return b.umin > 0 || b.var.value != 0;
}

// The divisor (its low 32 bits for alu32) cannot be -1.
bool excludes_minus_one(const Bounds& b, bool alu32) {
  if (alu32) {
    return b.u32max != 0xffffffffU || b.s32min >= 0 || b.s32max < -1 ||
           ((b.var.value | b.var.mask) & 0xffffffffULL) != 0xffffffffULL;
  }
  return b.umax != ~0ULL || b.smin >= 0 || b.smax < -1 || (b.var.value | b.var.mask) != ~0ULL;
}

// The register whose zero-extension is all the instruction at pc does (the upper half
// aside), or -1: `wX = wX`, `rX = le32 rX`, the first of `rX <<= 32; rX >>= 32`.
int zero_extended_reg(std::span<const Insn> insns, std::size_t pc) {
  const Insn& i = insns[pc];
  if ((i.op == Op::Mov32Reg && i.dst == i.src) || i.op == Op::Le32) return i.dst;
  if (i.op == Op::Lsh64Imm && i.imm == 32 && pc + 1 < insns.size()) {
    const Insn& next = insns[pc + 1];
    if (next.op == Op::Rsh64Imm && next.imm == 32 && next.dst == i.dst) return i.dst;
  }
  return -1;
}

// Needs (Verifier::compute_needs()) beyond registers: a needed value may come from the stack
// (a fill, a map key). Registers are compared loosely before they are spilled, and slots
// exactly after, so what the stack later gives must be needed in the register it is spilled
// from. Which slot is not tracked: every register stored before such a use becomes needed
// (through any pointer: a copy of r10 may be the base).
constexpr uint16_t kStackNeeded = 1U << 11;

// What the verifier has seen at an instruction so far, over every state processed there.
struct FactsSeen {
  bool reached = false;
  bool jumped = false;        // a conditional jump went to its target
  bool fell_through = false;  // ... or on to the next instruction
  bool divisor_nonzero = true;
  bool divisor_not_minus_one = true;
  bool divisor_known = true;  // and divisor_seen: the same value on every path so far
  bool divisor_seen = false;
  int32_t divisor = 0;
  uint16_t upper32_zero = 0x7ff;
  bool key_in_range = true;
  bool key_known = true;  // and key_seen: the same key on every path so far
  bool key_seen = false;
  uint32_t key = 0;
};

// The branch decisions of a path, shared by the paths that fork from it.
struct PathNode {
  PathStep step;
  std::shared_ptr<const PathNode> prev;
};

struct Explored {
  State state;
  int branches = 0;
  uint32_t hits = 0;    // times it pruned a path
  uint32_t misses = 0;  // times it was compared in vain
};

// Which ids of an explored state correspond to which of the current state (few per state).
class IdMap {
 public:
  void clear() { pairs_.clear(); }
  // Records old -> cur; false when old already maps to something else.
  bool map(uint32_t old_id, uint32_t cur_id) {
    for (const auto& [o, c] : pairs_) {
      if (o == old_id) return c == cur_id;
    }
    pairs_.emplace_back(old_id, cur_id);
    return true;
  }
  [[nodiscard]] const uint32_t* find(uint32_t old_id) const {
    for (const auto& p : pairs_) {
      if (p.first == old_id) return &p.second;
    }
    return nullptr;
  }

 private:
  std::vector<std::pair<uint32_t, uint32_t>> pairs_;
};

// A pending path: the state at the start of `insn`, and what the log looked like then.
struct Pending {
  State state;
  std::size_t insn = 0;
  std::size_t prev_insn = 0;
  std::size_t log_pos = 0;
  std::shared_ptr<const PathNode> path;
};

class Verifier {
 public:
  Verifier(const Structure& structure, const Options& options) : s_(structure), opt_(options) {}

  Verdict run();

 private:
  // ---- log ----
  void log(std::string_view text) {
    if (opt_.log_level & 3) log_ += text;
  }
  void log_insn_line(std::size_t pc);
  void log_scratched_state();
  void log_full_state(std::size_t pc);

  // ---- registers ----
  Frame& frame() { return cur_.cur(); }
  Reg& reg(int r) { return frame().regs[static_cast<std::size_t>(r)]; }
  void scratch(int r) { scratched_regs_ |= 1U << r; }
  Check read_reg(int r) {
    scratch(r);
    if (reg(r).type == RegType::kNotInit) return fail(EACCES, fmt::format("R{} !read_ok", r));
    return std::nullopt;
  }
  Check write_reg(int r) {
    scratch(r);
    if (r == 10) return fail(EACCES, "frame pointer is read only");
    return std::nullopt;
  }
  void set_reg(int r, const Reg& value) {
    reg(r) = value;
    reg(r).defined_at = static_cast<int32_t>(pc_);
  }

  // ---- instructions ----
  Check step(std::size_t pc, std::size_t& next, bool& path_done);
  Check check_alu(const Insn& insn);
  Check check_ptr_alu(const Insn& insn, int dst, const Reg& ptr, const Reg& off, bool commuted);
  Check check_mem(int regno, int off, int size, bool write, int value_regno, bool atomic);
  Check check_alignment(const Reg& ptr, int insn_off, int size, bool always) const;
  Check check_stack_access(int regno, const Reg& ptr, int off, int size, bool write, int value_regno);
  Check check_mem_region(int regno, const Reg& ptr, int off, int size, uint64_t mem_size, bool zero_ok,
                         const char* kind);
  Check check_cond_jump(const Insn& insn, std::size_t pc, std::size_t& next);
  Check check_helper_call(const Insn& insn, std::size_t pc, std::size_t& next);
  Check check_helper_mem(int regno, const Reg& ptr, uint64_t size, bool write, bool zero_ok);
  [[nodiscard]] std::optional<uint64_t> constant_map_key(const Reg& key, uint32_t key_size) const;
  [[nodiscard]] std::optional<std::pair<uint32_t, uint32_t>> array_key_range(const Reg& key) const;
  Check check_local_call(const Insn& insn, std::size_t pc, std::size_t& next);
  Check check_exit(std::size_t pc, std::size_t& next, bool& path_done);
  Check check_ld_imm64(const Insn& insn);
  Check check_ld_abs(const Insn& insn);

  Check check_stack_bounds(int regno, const Reg& ptr, int off, int size, const char* what,
                           const char* unbounded_what, int64_t& min_off, int64_t& max_off);
  std::optional<Failure> check_combined_stack() const;

  // ---- paths ----
  void push_branch(State state, std::size_t target, std::size_t from);
  Check visit_prune_point(std::size_t pc, bool& pruned);
  void path_finished();
  bool states_equal(const State& old, const State& cur, bool exact, std::size_t pc);
  // Which registers matter at an instruction when comparing states (see compute_needs()).
  void compute_needs();
  void mark_sensitive(std::size_t pc, uint16_t regs) {
    if ((sensitive_[pc] | regs) == sensitive_[pc]) return;
    sensitive_[pc] |= regs;
    needs_dirty_ = true;
  }
  bool regs_equal(const Reg& old, const Reg& cur, bool exact, IdMap& ids) const;

  // ---- facts for the JIT (facts.hpp) ----
  void note_facts(std::size_t pc);
  [[nodiscard]] std::vector<InsnFacts> facts() const;

  // ---- refinement ----
  void mark_null_check(State& state, uint32_t id, bool is_null);
  void mark_packet_range(State& state, const Reg& pkt, int new_range);
  void sync_linked_scalars(State& state, const Reg& known);
  template <typename F>
  void for_each_reg(State& state, F&& f) {
    for (Frame& fr : state.frames) {
      for (Reg& r : fr.regs) f(r);
      for (StackSlot& slot : fr.stack) {
        if (slot.bytes[0] == SlotType::kSpill) f(slot.spilled);
        if (slot.narrow_spill_size != 0) f(slot.narrow_spill);
      }
    }
  }

  [[nodiscard]] const MapInfo& map_of(const Reg& r) const { return opt_.maps[static_cast<std::size_t>(r.map)]; }
  [[nodiscard]] std::string reg_text(const Reg& r) const { return format_reg(r, opt_.maps); }
  [[nodiscard]] std::string type_name(const Reg& r) const { return reg_type_name(r); }

  const Structure& s_;
  const Options& opt_;
  State cur_;
  std::size_t pc_ = 0;
  std::vector<Pending> stack_;
  // A deque per instruction: explored_index_ points into them, and push_back must not move
  // the states already there (a vector's growth left those pointers dangling).
  std::unordered_map<std::size_t, std::list<Explored>> explored_;
  IdMap ids_;
  std::vector<Explored*> explored_index_;  // by State::parent
  std::vector<bool> prune_point_;
  std::vector<int> max_stack_depth_;       // per subprogram start
  uint32_t next_id_ = 0;
  Stats stats_;
  std::string log_;
  uint32_t scratched_regs_ = 0;
  uint64_t scratched_slots_ = 0;
  std::size_t prev_line_start_ = 0;  // where the current instruction's log line starts
  bool line_open_ = false;           // the last log line is an instruction awaiting its state
  std::shared_ptr<const PathNode> path_;  // the branch decisions of the current path, newest first
  uint64_t insns_since_state_ = 0;
  uint64_t jumps_since_state_ = 0;
  std::array<Reg, 6> saved_args_{};
  // Precision, approximated: registers whose exact value some instruction relied on
  // (pointer arithmetic, helper sizes, branches decided by a value, checked return values),
  // traced back through the arithmetic that computed them. Scalars outside that set are
  // compared loosely when pruning, as the kernel treats scalars it did not mark precise.
  std::vector<uint16_t> sensitive_;  // per instruction: registers it relied on
  std::vector<uint16_t> live_;       // per instruction: registers read before written
  std::vector<uint16_t> needed_;     // per instruction: registers whose value matters
  bool needs_dirty_ = true;
  bool whole_program_needed_ = false;  // local calls or callbacks: compare everything
  std::vector<FactsSeen> seen_;        // per instruction
  bool callbacks_ = false;             // some ld_imm64 names a callback
};

// ---------------------------------------------------------------------------------------------
// log

void Verifier::log_insn_line(std::size_t pc) {
  if (!(opt_.log_level & 3)) return;
  isa::KernelSyntaxOptions ko;
  ko.imm_text = [this](const Insn& insn) -> std::optional<std::string> {
    if (insn.op == Op::LdMapFd || insn.op == Op::LdMapValue) {
      // The kernel prints the map's kernel address; bpfvm prints which map it is.
      const auto idx = static_cast<std::size_t>(static_cast<uint32_t>(insn.imm));
      const std::string name = idx < opt_.maps.size() ? opt_.maps[idx].name : "?";
      if (insn.op == Op::LdMapValue) return fmt::format("map[id:{}][0]+{}", idx, insn.imm_hi());
      return fmt::format("map[id:{}]{}", idx, name.empty() ? "" : " " + name);
    }
    return std::nullopt;
  };
  prev_line_start_ = log_.size();
  log_ += fmt::format("{}: {}\n", pc, isa::kernel_text(s_.insns[pc], ko));
  line_open_ = true;
}

void Verifier::log_scratched_state() {
  if (!(opt_.log_level & 3) || !line_open_) return;
  line_open_ = false;
  std::string text;
  const Frame& fr = frame();
  for (int r = 0; r <= 10; ++r) {
    if (!(scratched_regs_ & (1U << r))) continue;
    const Reg& value = fr.regs[static_cast<std::size_t>(r)];
    if (value.type == RegType::kNotInit) continue;
    text += fmt::format(" R{}={}", r, reg_text(value));
  }
  for (int slot = 0; slot < kSlots; ++slot) {
    if (!(scratched_slots_ & (1ULL << slot))) continue;
    const std::string s = format_slot(fr.stack[static_cast<std::size_t>(slot)], opt_.maps);
    if (!s.empty()) text += fmt::format(" fp{}={}", -8 * (slot + 1), s);
  }
  scratched_regs_ = 0;
  scratched_slots_ = 0;
  if (text.empty()) return;
  // Replace the line's newline with padding and the state, as the kernel aligns it.
  log_.pop_back();
  const std::size_t len = log_.size() - prev_line_start_;
  const std::size_t width = std::max<std::size_t>(len + 5, 40);
  const std::size_t column = (width + 7) / 8 * 8 - 2;
  if (column > len) log_.append(column - len, ' ');
  log_ += ";" + text + "\n";
}

void Verifier::log_full_state(std::size_t pc) {
  if (!(opt_.log_level & 3)) return;
  log_ += fmt::format("{}:{}\n", pc, format_frame(frame(), opt_.maps));
  scratched_regs_ = 0;
  scratched_slots_ = 0;
  line_open_ = false;
}

// ---------------------------------------------------------------------------------------------
// ALU

Check Verifier::check_alu(const Insn& insn) {
  const auto& info = insn.info();
  const uint8_t op = info.op_bits();
  const bool alu64 = info.cls() == isa::code::kAlu64;
  const int dst = insn.dst;
  const int src = insn.src;
  const bool x = info.reg_source();

  if (info.kind == Kind::kEnd || info.kind == Kind::kBswap || info.kind == Kind::kNeg) {
    if (auto e = read_reg(dst)) return e;
    if (auto e = write_reg(dst)) return e;
    if (reg(dst).is_pointer()) {
      return fail(EACCES, fmt::format("R{} pointer arithmetic prohibited", dst));
    }
    Bounds b = reg(dst).b;
    if (info.kind == Kind::kNeg) {
      b = alu(kSub, Bounds::constant(0), b, !alu64);
    } else {
      const unsigned width = static_cast<unsigned>(insn.imm);
      const bool swap = info.kind == Kind::kBswap || (info.code & isa::code::kSrcX);  // to big endian
      if (b.is_const()) {
        uint64_t v = b.var.value;
        if (swap) {
          v = width == 16 ? __builtin_bswap16(static_cast<uint16_t>(v))
              : width == 32 ? __builtin_bswap32(static_cast<uint32_t>(v))
                            : __builtin_bswap64(v);
        } else if (width < 64) {
          v &= (1ULL << width) - 1;
        }
        b = Bounds::constant(v);
      } else if (!swap) {
        b.truncate(width / 8);
      } else {
        b = Bounds::unsigned_of_size(width / 8);
      }
    }
    set_reg(dst, Reg::scalar(b));
    return std::nullopt;
  }

  if (info.kind == Kind::kMovSx) {
    if (auto e = read_reg(src)) return e;
    if (auto e = write_reg(dst)) return e;
    Reg value = reg(src);
    if (value.is_pointer()) {
      set_reg(dst, Reg::unknown());
      return std::nullopt;
    }
    Bounds b = value.b;
    b.sign_extend(static_cast<unsigned>(insn.off) / 8);
    if (!alu64) {
      b.truncate(4);
    }
    set_reg(dst, Reg::scalar(b));
    return std::nullopt;
  }

  if (op == kMov) {
    if (x) {
      if (auto e = read_reg(src)) return e;
    }
    if (auto e = write_reg(dst)) return e;
    if (!x) {
      const uint64_t v = alu64 ? static_cast<uint64_t>(static_cast<int64_t>(insn.imm))
                               : static_cast<uint32_t>(insn.imm);
      set_reg(dst, Reg::constant(v));
      return std::nullopt;
    }
    Reg& from = reg(src);
    if (alu64) {
      if (from.type == RegType::kScalar && from.id == 0 && !from.b.is_const()) from.id = ++next_id_;
      set_reg(dst, from);
      return std::nullopt;
    }
    if (from.is_pointer()) {
      set_reg(dst, Reg::unknown());
      reg(dst).b.truncate(4);
      return std::nullopt;
    }
    Reg value = from;
    const bool upper_zero = value.b.umax <= 0xffffffffULL;
    if (upper_zero && value.id == 0 && !value.b.is_const()) from.id = value.id = ++next_id_;
    if (!upper_zero) value.id = 0;
    value.b.truncate(4);
    set_reg(dst, value);
    return std::nullopt;
  }

  // Binary operations.
  if (x) {
    if (auto e = read_reg(src)) return e;
  }
  if (auto e = read_reg(dst)) return e;
  if (auto e = write_reg(dst)) return e;
  if (!x && (op == kDiv || op == kMod) && insn.imm == 0) return fail(EINVAL, "div by zero");
  const unsigned bits = alu64 ? 64 : 32;
  if (!x && (op == kLsh || op == kRsh || op == kArsh) && (insn.imm < 0 || static_cast<unsigned>(insn.imm) >= bits)) {
    return fail(EINVAL, fmt::format("invalid shift {}", insn.imm));
  }
  const Reg src_reg = x ? reg(src) : Reg::constant(static_cast<uint64_t>(static_cast<int64_t>(insn.imm)));
  const Reg dst_reg = reg(dst);

  if (dst_reg.is_pointer() && src_reg.is_pointer()) {
    if (op == kSub) {
      set_reg(dst, Reg::unknown());
      return std::nullopt;
    }
    return fail(EACCES, fmt::format("R{} pointer {} pointer prohibited", dst, alu_string(op)));
  }
  if (dst_reg.is_pointer() && x && !src_reg.is_pointer()) mark_sensitive(pc_, static_cast<uint16_t>(1U << src));
  if (src_reg.is_pointer() && !dst_reg.is_pointer()) mark_sensitive(pc_, static_cast<uint16_t>(1U << dst));
  if (dst_reg.is_pointer()) {
    if (!alu64) {
      if (op == kSub) {
        set_reg(dst, Reg::unknown());
        return std::nullopt;
      }
      return fail(EACCES, fmt::format("R{} 32-bit pointer arithmetic prohibited", dst));
    }
    return check_ptr_alu(insn, dst, dst_reg, src_reg, false);
  }
  if (src_reg.is_pointer()) {
    if (!alu64) {
      return fail(EACCES, fmt::format("R{} 32-bit pointer arithmetic prohibited", dst));
    }
    return check_ptr_alu(insn, dst, src_reg, dst_reg, true);
  }

  // Scalar op scalar.
  const bool trackable = op == kAdd || op == kSub || op == kMul || op == kAnd || op == kOr || op == kXor ||
                         ((op == kLsh || op == kRsh || op == kArsh) && src_reg.b.is_const() &&
                          src_reg.b.umax < bits);
  Reg result = Reg::unknown();
  if (trackable) {
    result.b = alu(op, dst_reg.b, src_reg.b, !alu64);
  }
  // Otherwise (div, mod, shifts by unknown amounts) the value is unknown, all 64 bits even
  // after a 32-bit operation: Linux's adjust_scalar_min_max_vals() gives up before its zext.
  // A constant added to a copy keeps the link to its originals (BPF_ADD_CONST) only in the
  // kernel's newest form; bpfvm drops the link.
  set_reg(dst, result);
  return std::nullopt;
}

Check Verifier::check_ptr_alu(const Insn& insn, int dst, const Reg& ptr, const Reg& off, bool commuted) {
  const uint8_t op = insn.info().op_bits();
  const std::string tname = type_name(ptr);
  if (ptr.maybe_null) {
    return fail(EACCES, fmt::format("R{} pointer arithmetic on {} prohibited, null-check it first", dst, tname));
  }
  const bool known = off.b.is_const();
  const int64_t val = static_cast<int64_t>(off.b.var.value);
  switch (ptr.type) {
    case RegType::kMapPtr:
      if (known && val == 0 && op == kAdd) break;
      [[fallthrough]];
    case RegType::kPacketEnd:
    case RegType::kFunc:
      return fail(EACCES, fmt::format("R{} pointer arithmetic on {} prohibited", dst, tname));
    default:
      break;
  }
  if (op != kAdd && op != kSub) {
    if (op == kAnd || op == kOr || op == kXor) {
      return fail(EACCES, fmt::format("R{} bitwise operator {} on pointer prohibited", dst, alu_string(op)));
    }
    return fail(EACCES, fmt::format("R{} pointer arithmetic with {} operator prohibited", dst, alu_string(op)));
  }
  if (op == kSub && commuted) {
    return fail(EACCES, fmt::format("R{} tried to subtract pointer from scalar", dst));
  }
  auto sane = [&](const Reg& r, bool is_offset) -> Check {
    if (is_offset && known && (val >= kMaxVarOff || val <= -kMaxVarOff)) {
      return fail(EINVAL, fmt::format("math between {} pointer and {} is not allowed", tname, val));
    }
    if (r.off >= kMaxVarOff || r.off <= -kMaxVarOff) {
      return fail(EINVAL, fmt::format("{} pointer offset {} is not allowed", tname, r.off));
    }
    if (r.b.smin == std::numeric_limits<int64_t>::min()) {
      return fail(EINVAL,
                  fmt::format("math between {} pointer and register with unbounded min value is not allowed", tname));
    }
    if (r.b.smin >= kMaxVarOff || r.b.smin <= -kMaxVarOff) {
      return fail(EINVAL, fmt::format("value {} makes {} pointer be out of bounds", r.b.smin, tname));
    }
    return std::nullopt;
  };
  if (auto e = sane(off, true)) return e;
  if (auto e = sane(ptr, false)) return e;

  Reg result = ptr;
  if (known) {
    const int64_t delta = op == kAdd ? val : -val;
    const int64_t new_off = static_cast<int64_t>(ptr.off) + delta;
    if (new_off >= kMaxVarOff || new_off <= -kMaxVarOff) {
      return fail(EACCES, fmt::format("{} pointer offset {} is not allowed", tname, new_off));
    }
    result.off = static_cast<int32_t>(new_off);
  } else {
    // A variable part: allowed on any pointer here (privileged programs); what may be
    // accessed through it is decided at the access (ctx refuses it there, as the kernel).
    result.b = alu(op, ptr.b, off.b, false);
    if (ptr.is_packet()) {
      result.id = ++next_id_;
      result.range = 0;
    }
  }
  if (auto e = sane(result, false)) return e;
  set_reg(dst, result);
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// memory

Check Verifier::check_mem_region(int regno, const Reg& ptr, int off, int size, uint64_t mem_size, bool zero_ok,
                                 const char* kind) {
  auto access_ok = [&](int64_t at) {
    const bool size_ok = size > 0 || (size == 0 && zero_ok);
    return at >= 0 && size_ok && static_cast<uint64_t>(at) + static_cast<uint64_t>(size) <= mem_size;
  };
  auto message = [&](int64_t at) {
    if (std::string_view(kind) == "map value") {
      return fmt::format("invalid access to map value, value_size={} off={} size={}", mem_size, at, size);
    }
    if (std::string_view(kind) == "map key") {
      return fmt::format("invalid access to map key, key_size={} off={} size={}", mem_size, at, size);
    }
    return fmt::format("invalid access to memory, mem_size={} off={} size={}", mem_size, at, size);
  };
  const int64_t smin = ptr.b.smin;
  if (smin < 0 && (smin == std::numeric_limits<int64_t>::min() || smin + off < 0 ||
                   static_cast<int64_t>(static_cast<int32_t>(off + smin)) != off + smin)) {
    return fail(EACCES, fmt::format("R{} min value is negative, either use unsigned index or do a if (index >=0) check.",
                                    regno));
  }
  if (!access_ok(smin + off)) return fail(EACCES, message(smin + off));
  if (ptr.b.umax >= static_cast<uint64_t>(kMaxVarOff)) {
    return fail(EACCES,
                fmt::format("R{} unbounded memory access, make sure to bounds check any such access", regno));
  }
  const int64_t max_at = static_cast<int64_t>(ptr.b.umax) + off;
  if (!access_ok(max_at)) return fail(EACCES, message(max_at));
  return std::nullopt;
}

// check_stack_access_within_bounds(): [min_off, max_off) of the frame's stack, fp-relative, for
// an access of `size` bytes at `off` (the pointer's fixed offset included) plus its variable
// part; records how deep the frame's stack goes.
Check Verifier::check_stack_bounds(int regno, const Reg& ptr, int off, int size, const char* what,
                                   const char* unbounded_what, int64_t& min_off, int64_t& max_off) {
  const bool fixed = ptr.b.is_const();
  if (fixed) {
    min_off = static_cast<int64_t>(ptr.b.var.value) + off;
    max_off = min_off + size;
  } else {
    if (ptr.b.smax >= kMaxVarOff || ptr.b.smin <= -kMaxVarOff) {
      return fail(EACCES, fmt::format("invalid unbounded variable-offset{} stack R{}", unbounded_what, regno));
    }
    min_off = ptr.b.smin + off;
    max_off = ptr.b.smax + off + size;
  }
  if (min_off < -kStackSize || min_off >= 0 || max_off > 0) {
    const int error = (min_off < -kStackSize || min_off >= 0) ? EACCES : EINVAL;
    if (fixed) return fail(error, fmt::format("invalid{} stack R{} off={} size={}", what, regno, off, size));
    return fail(error, fmt::format("invalid variable-offset{} stack R{} var_off={} off={} size={}", what, regno,
                                   format_tnum(ptr.b.var), off, size));
  }
  Frame& fr = cur_.frames[static_cast<std::size_t>(ptr.frameno)];
  fr.stack_depth = std::max(fr.stack_depth, static_cast<int>(-min_off));
  auto& deepest = max_stack_depth_[fr.subprog_start];
  deepest = std::max(deepest, fr.stack_depth);
  return std::nullopt;
}

Check Verifier::check_stack_access(int regno, const Reg& ptr, int off, int size, bool write, int value_regno) {
  Frame& fr = cur_.frames[static_cast<std::size_t>(ptr.frameno)];
  const char* what = write ? " write to" : " read from";
  const bool fixed = ptr.b.is_const();
  int64_t min_off = 0, max_off = 0;
  if (auto e = check_stack_bounds(regno, ptr, off, size, what, what, min_off, max_off)) return e;
  auto byte_at = [&](int64_t fp_off) -> std::pair<StackSlot*, int> {
    const int64_t idx = -fp_off - 1;  // 0 for fp-1
    StackSlot& slot = fr.stack[static_cast<std::size_t>(idx / 8)];
    return {&slot, static_cast<int>(7 - idx % 8)};
  };
  auto scratch_slot = [&](int64_t fp_off) { scratched_slots_ |= 1ULL << ((-fp_off - 1) / 8); };

  if (write) {
    const Reg* value = value_regno >= 0 ? &reg(value_regno) : nullptr;
    const Insn& insn = s_.insns[pc_];
    if (!fixed) {
      // Variable-offset writes: every byte in range may change.
      for (int64_t o = min_off; o < max_off; ++o) {
        auto [slot, i] = byte_at(o);
        slot->narrow_spill_size = 0;
        if (slot->bytes[static_cast<std::size_t>(i)] == SlotType::kSpill) {
          for (auto& b : slot->bytes) b = SlotType::kMisc;
        }
        slot->bytes[static_cast<std::size_t>(i)] = SlotType::kMisc;
        scratch_slot(o);
      }
      return std::nullopt;
    }
    auto [slot, first] = byte_at(min_off);
    scratch_slot(min_off);
    slot->narrow_spill_size = 0;
    const bool is_st_imm = insn.info().kind == Kind::kStore;
    if (value && value->type == RegType::kScalar && min_off % 8 == 0 && value->id == 0 && !value->is_const() &&
        (size == 8 || value->b.umax >> (8 * size) == 0)) {
      // As Linux (assign_scalar_id_before_mov on a spill that holds the whole value): the
      // register and its spill get an id, so a fill stays linked to the register.
      reg(value_regno).id = ++next_id_;
    }
    if (size == 8 && value && (value->is_pointer() || value->type == RegType::kScalar)) {
      slot->spilled = *value;
      for (auto& b : slot->bytes) b = SlotType::kSpill;
      return std::nullopt;
    }
    if (value && value->is_pointer()) return fail(EACCES, "invalid size of register spill");
    if (size == 8 && is_st_imm && insn.imm != 0) {
      slot->spilled = Reg::constant(static_cast<uint64_t>(static_cast<int64_t>(insn.imm)));
      for (auto& b : slot->bytes) b = SlotType::kSpill;
      return std::nullopt;
    }
    const bool zero = (value && value->is_null_const()) || (is_st_imm && insn.imm == 0);
    if (slot->bytes[0] == SlotType::kSpill) {
      // Overwriting part of a spill: the rest of the slot loses its register.
      for (auto& b : slot->bytes) b = SlotType::kMisc;
    }
    for (int k = 0; k < size; ++k) {
      slot->bytes[static_cast<std::size_t>(first + k)] = zero ? SlotType::kZero : SlotType::kMisc;
    }
    if (min_off % 8 == 0 && (is_st_imm || (value && value->type == RegType::kScalar))) {
      slot->narrow_spill_size = static_cast<uint8_t>(size);
      slot->narrow_spill = is_st_imm ? Reg::constant(static_cast<uint64_t>(static_cast<int64_t>(insn.imm))) : *value;
      // As Linux: a spill too narrow for the value no longer tracks its copies.
      if (size < 8 && slot->narrow_spill.b.umax >> (8 * size) != 0) slot->narrow_spill.id = 0;
    }
    return std::nullopt;
  }

  // Read.
  if (value_regno < 0) return std::nullopt;
  if (!fixed) {
    set_reg(value_regno, Reg::unknown());
    if (size < 8) reg(value_regno).b.truncate(static_cast<unsigned>(size));
    return std::nullopt;
  }
  auto [slot, first] = byte_at(min_off);
  scratch_slot(min_off);
  if (slot->bytes[0] == SlotType::kSpill && size == 8) {
    set_reg(value_regno, slot->spilled);
    return std::nullopt;
  }
  if (slot->bytes[0] == SlotType::kSpill && slot->spilled.type == RegType::kScalar) {
    // A narrow fill, as Linux does it (check_stack_read_fixed_off): from the slot's first
    // byte it is the spilled scalar truncated to the fill's size (linked to it only when the
    // value fits); from any other byte only a spilled zero stays known.
    const Reg& spilled = slot->spilled;
    if (first == 0) {
      Reg r = spilled;
      r.b.truncate(static_cast<unsigned>(size));
      if (spilled.b.umax > (size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1)) r.id = 0;
      set_reg(value_regno, r);
    } else if (spilled.is_null_const()) {
      set_reg(value_regno, Reg::constant(0));
    } else {
      Reg r = Reg::unknown();
      r.b.truncate(static_cast<unsigned>(size));
      set_reg(value_regno, r);
    }
    return std::nullopt;
  }
  if (first == 0 && size <= slot->narrow_spill_size) {
    // A fill of (part of) a narrow spill from its first byte: Linux copies the spilled register.
    Reg r = slot->narrow_spill;
    r.b.truncate(static_cast<unsigned>(size));
    if (size < 8 && slot->narrow_spill.b.umax >> (8 * size) != 0) r.id = 0;
    set_reg(value_regno, r);
    return std::nullopt;
  }
  bool all_zero = true;
  for (int k = 0; k < size; ++k) {
    if (slot->bytes[static_cast<std::size_t>(first + k)] != SlotType::kZero) all_zero = false;
  }
  if (all_zero) {
    set_reg(value_regno, Reg::constant(0));
    return std::nullopt;
  }
  Reg value = Reg::unknown();
  if (size < 8) value.b.truncate(static_cast<unsigned>(size));
  set_reg(value_regno, value);
  return std::nullopt;
}

// check_ptr_alignment(): with BPF_F_STRICT_ALIGNMENT (and always for the stack and for
// atomics) an access must be aligned to its size; packets count NET_IP_ALIGN (2) first.
Check Verifier::check_alignment(const Reg& ptr, int insn_off, int size, bool always) const {
  const bool strict = (opt_.prog_flags & BPF_F_STRICT_ALIGNMENT) != 0 || always;
  auto var_text = [](Tnum t) {
    return t.is_const() ? fmt::format("{}", static_cast<int64_t>(t.value)) : format_tnum(t);
  };
  auto aligned = [size](Tnum t) { return ((t.value | t.mask) & static_cast<uint64_t>(size - 1)) == 0; };
  if (ptr.is_packet()) {
    if (!strict) return std::nullopt;
    constexpr int kNetIpAlign = 2;
    const Tnum at = tnum_add(ptr.b.var, Tnum::constant(static_cast<uint64_t>(kNetIpAlign + ptr.off + insn_off)));
    if (aligned(at)) return std::nullopt;
    return fail(EACCES, fmt::format("misaligned packet access off {}+{}+{}+{} size {}", kNetIpAlign,
                                    var_text(ptr.b.var), ptr.off, insn_off, size));
  }
  const char* desc = "";
  switch (ptr.type) {
    case RegType::kMapValue: desc = "value "; break;
    case RegType::kMapKey: desc = "key "; break;
    case RegType::kCtx: desc = "context "; break;
    case RegType::kStack: desc = "stack "; break;
    default: break;
  }
  if (!strict && ptr.type != RegType::kStack) return std::nullopt;
  const Tnum at = tnum_add(ptr.b.var, Tnum::constant(static_cast<uint64_t>(static_cast<int64_t>(ptr.off) + insn_off)));
  if (aligned(at)) return std::nullopt;
  return fail(EACCES, fmt::format("misaligned {}access off {}+{}+{} size {}", desc, var_text(ptr.b.var), ptr.off,
                                  insn_off, size));
}

Check Verifier::check_mem(int regno, int insn_off, int size, bool write, int value_regno, bool atomic) {
  const Reg ptr = reg(regno);
  const int off = insn_off + ptr.off;
  const std::string tname = type_name(ptr);
  if (atomic && (ptr.type == RegType::kCtx || ptr.is_packet() || ptr.type == RegType::kPacketEnd)) {
    return fail(EACCES, fmt::format("BPF_ATOMIC stores into R{} {} is not allowed", regno, tname));
  }
  if (auto e = check_alignment(ptr, insn_off, size, atomic)) return e;
  if (ptr.maybe_null && ptr.is_pointer()) {
    return fail(EACCES, fmt::format("R{} invalid mem access '{}'", regno, tname));
  }
  auto read_result = [&](Reg value) {
    if (value_regno >= 0 && !write) {
      if (value.type == RegType::kScalar && size < 8) value.b.truncate(static_cast<unsigned>(size));
      set_reg(value_regno, value);
    }
  };
  switch (ptr.type) {
    case RegType::kStack:
      return check_stack_access(regno, ptr, off, size, write, value_regno);
    case RegType::kMapValue: {
      const MapInfo& map = map_of(ptr);
      if (write && (map.map_flags & BPF_F_RDONLY_PROG)) {
        return fail(EACCES, fmt::format("write into map forbidden, value_size={} off={} size={}", map.value_size,
                                        off, size));
      }
      if (auto e = check_mem_region(regno, ptr, off, size, map.value_size, false, "map value")) return e;
      if (map.spin_lock_off >= 0) {
        // The lock's 4 bytes are the helpers' alone.
        const int64_t lo = ptr.b.smin + off, hi = static_cast<int64_t>(ptr.b.umax) + off + size;
        if (lo < map.spin_lock_off + 4 && hi > map.spin_lock_off) {
          return fail(EACCES, "bpf_spin_lock cannot be accessed directly by load/store");
        }
      }
      Reg value = Reg::unknown();
      if (!write && ptr.b.is_const() && !map.frozen_value.empty() &&
          static_cast<std::size_t>(off) + static_cast<std::size_t>(size) <= map.frozen_value.size()) {
        uint64_t v = 0;
        for (int k = size - 1; k >= 0; --k) v = (v << 8) | map.frozen_value[static_cast<std::size_t>(off + k)];
        value = Reg::constant(v);
      }
      read_result(value);
      return std::nullopt;
    }
    case RegType::kMapKey: {
      if (write) return fail(EACCES, fmt::format("R{} invalid mem access '{}'", regno, tname));  // read-only
      if (auto e = check_mem_region(regno, ptr, off, size, map_of(ptr).key_size, false, "map key")) return e;
      read_result(Reg::unknown());
      return std::nullopt;
    }
    case RegType::kMem: {
      if (auto e = check_mem_region(regno, ptr, off, size, static_cast<uint64_t>(ptr.range), false, "mem")) return e;
      read_result(Reg::unknown());
      return std::nullopt;
    }
    case RegType::kCtx: {
      if (!ptr.b.is_const()) {
        return fail(EACCES, fmt::format("variable ctx access var_off={} disallowed", format_tnum(ptr.b.var)));
      }
      if (ptr.off != 0) {
        return fail(EACCES, fmt::format("dereference of modified ctx ptr R{} off={} disallowed", regno, ptr.off));
      }
      const auto result = ctx_access(opt_.prog_type, opt_.expected_attach_type, off, size, write);
      if (!result) return fail(EACCES, fmt::format("invalid bpf_context access off={} size={}", off, size));
      if (write) return std::nullopt;
      switch (*result) {
        case CtxResult::kScalar: read_result(Reg::unknown()); break;
        case CtxResult::kPacket: read_result(Reg::pointer(RegType::kPacket)); break;
        case CtxResult::kPacketMeta: read_result(Reg::pointer(RegType::kPacketMeta)); break;
        case CtxResult::kPacketEnd: read_result(Reg::pointer(RegType::kPacketEnd)); break;
      }
      return std::nullopt;
    }
    case RegType::kPacket:
    case RegType::kPacketMeta: {
      if (write && !may_write_packet(opt_.prog_type)) return fail(EACCES, "cannot write into packet");
      if (ptr.b.smin < 0) {
        return fail(EACCES, fmt::format(
                                "R{} min value is negative, either use unsigned index or do a if (index >=0) check.",
                                regno));
      }
      const bool ok = ptr.range >= 0 && off >= 0 && size > 0 &&
                      static_cast<int64_t>(off) + size <= static_cast<int64_t>(ptr.range);
      if (!ok) {
        return fail(EACCES, fmt::format("invalid access to packet, off={} size={}, R{}(id={},off={},r={})", off, size,
                                        regno, ptr.id, off, ptr.range));
      }
      read_result(Reg::unknown());
      return std::nullopt;
    }
    default:
      return fail(EACCES, fmt::format("R{} invalid mem access '{}'", regno, tname));
  }
}

// ---------------------------------------------------------------------------------------------
// jumps

void Verifier::mark_null_check(State& state, uint32_t id, bool is_null) {
  for_each_reg(state, [&](Reg& r) {
    if (!r.is_pointer() || !r.maybe_null || r.id != id) return;
    if (is_null) {
      r = Reg::constant(0);
    } else {
      r.maybe_null = false;
      // Map values with a bpf_spin_lock keep their id: it tells one lookup's lock from another's.
      const bool lock_value = r.type == RegType::kMapValue && r.map >= 0 && map_of(r).spin_lock_off >= 0;
      if (r.type != RegType::kPacket && !lock_value) r.id = 0;
    }
  });
  if (is_null) {
    // A NULL from an acquiring helper holds no reference.
    std::erase_if(state.refs, [&](const Reference& ref) { return ref.id == id; });
  }
}

void Verifier::mark_packet_range(State& state, const Reg& pkt, int new_range) {
  if (pkt.off < 0) return;
  if (pkt.b.umax > static_cast<uint64_t>(kMaxPacketOff) || pkt.b.umax + static_cast<uint64_t>(pkt.off) > kMaxPacketOff) {
    return;
  }
  for_each_reg(state, [&](Reg& r) {
    if (r.type == pkt.type && r.id == pkt.id) r.range = std::max(r.range, new_range);
  });
}

void Verifier::sync_linked_scalars(State& state, const Reg& known) {
  if (known.type != RegType::kScalar || known.id == 0) return;
  for_each_reg(state, [&](Reg& r) {
    if (r.type == RegType::kScalar && r.id == known.id) r.b = known.b;
  });
}

Check Verifier::check_cond_jump(const Insn& insn, std::size_t pc, std::size_t& next) {
  const auto& info = insn.info();
  const uint8_t op = info.op_bits();
  const bool jmp32 = info.cls() == isa::code::kJmp32;
  const int dst = insn.dst;
  const bool x = info.reg_source();
  if (x) {
    if (auto e = read_reg(insn.src)) return e;
  }
  if (auto e = read_reg(dst)) return e;
  const std::size_t target = pc + 1 + static_cast<std::size_t>(static_cast<int64_t>(insn.off));
  Reg a = reg(dst);
  Reg b = x ? reg(insn.src) : Reg::constant(jmp32 ? static_cast<uint32_t>(insn.imm)
                                                  : static_cast<uint64_t>(static_cast<int64_t>(insn.imm)));

  int taken = -1;
  if (a.type == RegType::kScalar && b.type == RegType::kScalar) {
    taken = branch_taken(op, a.b, b.b, jmp32);
  } else if ((op == kJeq || op == kJne) && !jmp32) {
    // A pointer that cannot be NULL compared with zero.
    const Reg* ptr = a.is_pointer() ? &a : (b.is_pointer() ? &b : nullptr);
    const Reg* other = ptr == &a ? &b : &a;
    if (ptr && !ptr->maybe_null && other->is_null_const() && ptr->type != RegType::kScalar) {
      taken = op == kJne ? 1 : 0;
    }
  }
  if (taken >= 0 && a.type == RegType::kScalar && b.type == RegType::kScalar) {
    // The path depends on these values: states must agree on them to be pruned.
    mark_sensitive(pc, static_cast<uint16_t>((1U << dst) | (x ? 1U << insn.src : 0U)));
  }
  if (taken == 1) {
    seen_[pc].jumped = true;
    next = target;
    return std::nullopt;
  }
  if (taken == 0) {
    seen_[pc].fell_through = true;
    next = pc + 1;
    return std::nullopt;
  }

  // Both ways: the taken side goes on the stack, the fall-through continues.
  State other = cur_;
  State& fall = cur_;
  auto refine_side = [&](State& st, uint8_t cond) -> bool {
    Frame& fr = st.cur();
    Reg& ra = fr.regs[static_cast<std::size_t>(dst)];
    if (a.type == RegType::kScalar && b.type == RegType::kScalar) {
      Bounds ba = a.b, bb = b.b;
      if (!refine(cond, ba, bb, jmp32)) return false;
      ra.b = ba;
      sync_linked_scalars(st, ra);
      if (x) {
        Reg& rb = fr.regs[insn.src];
        rb.b = bb;
        sync_linked_scalars(st, rb);
      }
    }
    return true;
  };
  const uint8_t neg = negate_condition(op);
  const bool other_ok = refine_side(other, op);
  const bool fall_ok = refine_side(fall, neg);
  if ((!other_ok || !fall_ok) && a.type == RegType::kScalar && b.type == RegType::kScalar) {
    // Decided by the values after all (refining found one side impossible): as above.
    mark_sensitive(pc, static_cast<uint16_t>((1U << dst) | (x ? 1U << insn.src : 0U)));
  }
  seen_[pc].jumped = seen_[pc].jumped || other_ok;
  seen_[pc].fell_through = seen_[pc].fell_through || fall_ok;

  // NULL checks: `if ptr == 0` / `if ptr != 0`.
  if ((op == kJeq || op == kJne) && !jmp32) {
    const bool a_null_ptr = a.is_pointer() && a.maybe_null && b.is_null_const();
    const bool b_null_ptr = b.is_pointer() && b.maybe_null && a.is_null_const();
    if (a_null_ptr || b_null_ptr) {
      const uint32_t id = a_null_ptr ? a.id : b.id;
      mark_null_check(other, id, op == kJeq);
      mark_null_check(fall, id, op == kJne);
    }
  }
  // Packet bounds: comparisons of a packet pointer with the packet's end (or data with meta).
  if (x && !jmp32) {
    auto pair_matches = [](const Reg& p, const Reg& end) {
      return (p.type == RegType::kPacket && end.type == RegType::kPacketEnd) ||
             (p.type == RegType::kPacketMeta && end.type == RegType::kPacket);
    };
    // find_good_pkt_pointers(branch, pkt, right_open)
    auto good = [&](State& st, const Reg& pkt, bool right_open) {
      if (pkt.off < 0 || (pkt.off == 0 && right_open)) return;
      mark_packet_range(st, pkt, pkt.off + (right_open ? 1 : 0));
    };
    if (pair_matches(a, b)) {  // pkt OP end
      switch (op) {
        case kJgt: good(fall, a, false); break;
        case kJlt: good(other, a, true); break;
        case kJge: good(fall, a, true); break;
        case kJle: good(other, a, false); break;
        default: break;
      }
    } else if (pair_matches(b, a)) {  // end OP pkt
      switch (op) {
        case kJgt: good(other, b, true); break;
        case kJlt: good(fall, b, false); break;
        case kJge: good(other, b, false); break;
        case kJle: good(fall, b, true); break;
        default: break;
      }
    }
  }
  if (other_ok) {
    if (stack_.size() >= kMaxPendingBranches) {
      return fail(E2BIG, fmt::format("The sequence of {} jumps is too complex.", stack_.size()));
    }
    push_branch(std::move(other), target, pc);
  }
  if (fall_ok) path_ = std::make_shared<const PathNode>(PathNode{PathStep{pc, pc + 1}, path_});
  if (!fall_ok) {
    // Only the jump can happen; continue there by popping it at once.
    next = static_cast<std::size_t>(-1);
    return std::nullopt;
  }
  next = pc + 1;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// helper calls

const char* arg_expected(ArgType t) {
  switch (t) {
    case ArgType::kConstMapPtr: return "map_ptr";
    case ArgType::kPtrToCtx: return "ctx";
    case ArgType::kPtrToMapKey:
    case ArgType::kPtrToMapValue:
    case ArgType::kPtrToUninitMapValue: return "fp, pkt, pkt_meta, map_key, map_value";
    case ArgType::kPtrToMem:
    case ArgType::kPtrToMemOrNull: return "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_";
    case ArgType::kPtrToUninitMem: return "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf";
    case ArgType::kPtrToLong: return "fp, pkt, pkt_meta, map_key, map_value";
    case ArgType::kPtrToConstStr: return "map_value";
    case ArgType::kPtrToFunc: return "func";
    case ArgType::kPtrToStackOrNull: return "fp";
    case ArgType::kPtrToSpinLock: return "map_value";
    case ArgType::kPtrToAllocMem: return "ringbuf_mem";
    default: return "scalar";
  }
}

// Linux's get_constant_map_key(): the key a stack pointer points to, when the stack holds a
// known constant there — zero bytes the kernel tracks as zero (not under a spill), or a
// spilled constant whose spilled bytes, counted from the key's first byte, are exactly
// key_size (Linux then takes the whole spilled value, whatever its width).
std::optional<uint64_t> Verifier::constant_map_key(const Reg& key, uint32_t key_size) const {
  if (key.type != RegType::kStack || !key.b.is_const()) return std::nullopt;
  const Frame& fr = cur_.frames[static_cast<std::size_t>(key.frameno)];
  const int64_t idx = -(key.off + static_cast<int64_t>(key.b.var.value)) - 1;
  if (idx < 0 || idx >= kStackSize) return std::nullopt;
  const StackSlot& slot = fr.stack[static_cast<std::size_t>(idx / 8)];
  const int first = static_cast<int>(7 - idx % 8);
  const int spilled = slot.bytes[0] == SlotType::kSpill ? 8 : slot.narrow_spill_size;
  uint32_t zeros = 0;
  for (int i = first; i < 8 && i >= spilled && slot.bytes[static_cast<std::size_t>(i)] == SlotType::kZero; ++i) ++zeros;
  if (zeros >= key_size) return 0;
  if (first >= spilled || static_cast<uint32_t>(spilled - first) != key_size) return std::nullopt;
  const Reg& value = slot.bytes[0] == SlotType::kSpill ? slot.spilled : slot.narrow_spill;
  if (value.type != RegType::kScalar || !value.b.is_const()) return std::nullopt;
  return value.b.var.value;
}

// The range of the u32 key of an array map a stack pointer points to, when the stack tells:
// four bytes tracked as zero, or a spilled scalar whose low 32 bits they are (the spill starts
// at the key's first byte and is at least 4 bytes wide). For facts only: Linux uses no range.
std::optional<std::pair<uint32_t, uint32_t>> Verifier::array_key_range(const Reg& key) const {
  if (key.type != RegType::kStack || !key.b.is_const()) return std::nullopt;
  const Frame& fr = cur_.frames[static_cast<std::size_t>(key.frameno)];
  const int64_t idx = -(key.off + static_cast<int64_t>(key.b.var.value)) - 1;
  if (idx < 0 || idx >= kStackSize) return std::nullopt;
  const StackSlot& slot = fr.stack[static_cast<std::size_t>(idx / 8)];
  const int first = static_cast<int>(7 - idx % 8);
  if (first > 4) return std::nullopt;  // the key does not fit in this slot
  const int spilled = slot.bytes[0] == SlotType::kSpill ? 8 : slot.narrow_spill_size;
  if (first >= spilled) {
    for (int i = first; i < first + 4; ++i) {
      if (slot.bytes[static_cast<std::size_t>(i)] != SlotType::kZero) return std::nullopt;
    }
    return std::pair<uint32_t, uint32_t>{0, 0};
  }
  if (first != 0 || spilled < 4) return std::nullopt;
  const Reg& value = slot.bytes[0] == SlotType::kSpill ? slot.spilled : slot.narrow_spill;
  if (value.type != RegType::kScalar) return std::nullopt;
  return std::pair<uint32_t, uint32_t>{value.b.u32min, value.b.u32max};
}

bool is_helper_allowed(uint32_t prog_type, int32_t id) {
  for (const auto& row : kHelperAvailability) {
    if (row.prog_type == prog_type) {
      return (row.words[static_cast<std::size_t>(id) / 64] >> (static_cast<unsigned>(id) % 64)) & 1;
    }
  }
  return true;
}

// check_map_func_compatibility(): which maps a helper takes, and which helpers a map type needs.
bool map_func_compatible(uint32_t map_type, int32_t func) {
  switch (map_type) {
    case BPF_MAP_TYPE_PROG_ARRAY: return func == BPF_FUNC_tail_call;
    case BPF_MAP_TYPE_PERF_EVENT_ARRAY:
      return func == BPF_FUNC_perf_event_read || func == BPF_FUNC_perf_event_output ||
             func == BPF_FUNC_skb_output || func == BPF_FUNC_perf_event_read_value || func == BPF_FUNC_xdp_output;
    case BPF_MAP_TYPE_RINGBUF:
      return func == BPF_FUNC_ringbuf_output || func == BPF_FUNC_ringbuf_reserve || func == BPF_FUNC_ringbuf_query ||
             func == BPF_FUNC_ringbuf_reserve_dynptr || func == BPF_FUNC_ringbuf_submit_dynptr ||
             func == BPF_FUNC_ringbuf_discard_dynptr;
    case BPF_MAP_TYPE_QUEUE:
    case BPF_MAP_TYPE_STACK:
      return func == BPF_FUNC_map_peek_elem || func == BPF_FUNC_map_pop_elem || func == BPF_FUNC_map_push_elem;
    case BPF_MAP_TYPE_BLOOM_FILTER:
      return func == BPF_FUNC_map_peek_elem || func == BPF_FUNC_map_push_elem;
    default: break;
  }
  switch (func) {
    case BPF_FUNC_tail_call: return map_type == BPF_MAP_TYPE_PROG_ARRAY;
    case BPF_FUNC_perf_event_output:
    case BPF_FUNC_perf_event_read:
    case BPF_FUNC_perf_event_read_value:
    case BPF_FUNC_skb_output:
    case BPF_FUNC_xdp_output: return map_type == BPF_MAP_TYPE_PERF_EVENT_ARRAY;
    case BPF_FUNC_ringbuf_output:
    case BPF_FUNC_ringbuf_reserve:
    case BPF_FUNC_ringbuf_query: return map_type == BPF_MAP_TYPE_RINGBUF;
    case BPF_FUNC_map_peek_elem:
    case BPF_FUNC_map_pop_elem:
    case BPF_FUNC_map_push_elem:
      return map_type == BPF_MAP_TYPE_QUEUE || map_type == BPF_MAP_TYPE_STACK ||
             map_type == BPF_MAP_TYPE_BLOOM_FILTER;
    case BPF_FUNC_for_each_map_elem:
      return map_type == BPF_MAP_TYPE_HASH || map_type == BPF_MAP_TYPE_LRU_HASH || map_type == BPF_MAP_TYPE_ARRAY ||
             map_type == BPF_MAP_TYPE_PERCPU_HASH || map_type == BPF_MAP_TYPE_LRU_PERCPU_HASH ||
             map_type == BPF_MAP_TYPE_PERCPU_ARRAY;
    default: return true;
  }
}

Check Verifier::check_helper_mem(int regno, const Reg& ptr, uint64_t size, bool write, bool zero_ok) {
  if (size == 0 && zero_ok) return std::nullopt;
  const int isize = static_cast<int>(std::min<uint64_t>(size, static_cast<uint64_t>(kMaxVarSize)));
  switch (ptr.type) {
    case RegType::kStack: {
      Frame& fr = cur_.frames[static_cast<std::size_t>(ptr.frameno)];
      int64_t min_off = 0, max_off = 0;
      if (auto e = check_stack_bounds(regno, ptr, ptr.off, isize, write ? " write to" : " read from",
                                      " indirect access to", min_off, max_off)) {
        return e;
      }
      if (write) {
        for (int64_t o = min_off; o < max_off; ++o) {
          const int64_t idx = -o - 1;
          StackSlot& slot = fr.stack[static_cast<std::size_t>(idx / 8)];
          slot.narrow_spill_size = 0;
          if (slot.bytes[0] == SlotType::kSpill) {
            for (auto& b : slot.bytes) b = SlotType::kMisc;
          }
          slot.bytes[static_cast<std::size_t>(7 - idx % 8)] = SlotType::kMisc;
          scratched_slots_ |= 1ULL << (idx / 8);
        }
      }
      return std::nullopt;
    }
    case RegType::kPacket:
    case RegType::kPacketMeta:
      if (write && !may_write_packet(opt_.prog_type)) return fail(EACCES, "cannot write into packet");
      return check_mem(regno, 0, isize, false, -1, false);
    case RegType::kMapValue: {
      const MapInfo& map = map_of(ptr);
      if (write && (map.map_flags & BPF_F_RDONLY_PROG)) {
        return fail(EACCES, fmt::format("write into map forbidden, value_size={} off={} size={}", map.value_size,
                                        ptr.off, isize));
      }
      return check_mem_region(regno, ptr, ptr.off, isize, map.value_size, zero_ok, "map value");
    }
    case RegType::kMapKey:
      return check_mem_region(regno, ptr, ptr.off, isize, map_of(ptr).key_size, zero_ok, "map key");
    case RegType::kMem:
      return check_mem_region(regno, ptr, ptr.off, isize, static_cast<uint64_t>(ptr.range), zero_ok, "mem");
    default:
      return fail(EACCES, fmt::format("R{} type={} expected=fp", regno, type_name(ptr)));
  }
}

Check Verifier::check_helper_call(const Insn& insn, std::size_t pc, std::size_t& next) {
  const int32_t id = insn.imm;
  const std::string kname = isa::kernel_helper_name(id).value_or("unknown");
  const Helper* helper = opt_.helpers ? opt_.helpers->find(id) : nullptr;
  // An embedder's own helpers live above the kernel's ids; every program type may call them.
  const bool embedder_helper = helper != nullptr && id > kMaxHelperId;
  if (!embedder_helper) {
    if (id <= 0 || id > kMaxHelperId) return fail(EINVAL, fmt::format("invalid func {}#{}", "unknown", id));
    if (!is_helper_allowed(opt_.prog_type, id)) {
      return fail(EINVAL, fmt::format("program of this type cannot use helper {}#{}", kname, id));
    }
  }
  if (!helper) {
    return fail(EINVAL, fmt::format("helper {}#{} is not implemented by bpfvm", kname, id));
  }
  const HelperProto& proto = helper->proto;
  for (int r = 0; r <= 5; ++r) saved_args_[static_cast<std::size_t>(r)] = reg(r);
  if (proto.gpl_only && !opt_.gpl_compatible) {
    return fail(EINVAL, "cannot call GPL-restricted function from non-GPL compatible program");
  }
  if (cur_.lock.map >= 0 && id != BPF_FUNC_spin_unlock) {
    return fail(EINVAL, "function calls are not allowed while holding a lock");
  }
  int map = -1;
  std::optional<uint64_t> const_map_key;  // an array map's key, when the verifier knows it
  uint64_t alloc_size = 0;
  int release_ref = -1;
  int callback = -1;
  uint32_t release_id = 0;
  for (int i = 0; i < 5; ++i) {
    const ArgType t = proto.args[static_cast<std::size_t>(i)];
    if (t == ArgType::kNone) break;
    const int regno = i + 1;
    if (auto e = read_reg(regno)) return e;
    const Reg& r = reg(regno);
    auto mismatch = [&] {
      return fail(EACCES, fmt::format("R{} type={} expected={}", regno, type_name(r), arg_expected(t)));
    };
    auto is_mem_ptr = [&](bool allow_mem) {
      return r.type == RegType::kStack || r.is_packet() || r.type == RegType::kMapKey ||
             r.type == RegType::kMapValue || (allow_mem && r.type == RegType::kMem);
    };
    switch (t) {
      case ArgType::kAnything:
        break;
      case ArgType::kConstMapPtr:
        if (r.type != RegType::kMapPtr) return mismatch();
        map = r.map;
        if (id == BPF_FUNC_tail_call && map_of(r).type != BPF_MAP_TYPE_PROG_ARRAY) {
          return fail(EINVAL, "expected prog array map for tail call");
        }
        if (!map_func_compatible(map_of(r).type, id)) {
          return fail(EINVAL, fmt::format("cannot pass map_type {} into func {}#{}", map_of(r).type, kname, id));
        }
        break;
      case ArgType::kPtrToCtx:
        if (r.type != RegType::kCtx) return mismatch();
        if (r.off != 0 || !r.b.is_const() || r.b.var.value != 0) {
          return fail(EACCES, fmt::format("dereference of modified ctx ptr R{} off={} disallowed", regno, r.off));
        }
        break;
      case ArgType::kPtrToMapKey:
      case ArgType::kPtrToMapValue:
      case ArgType::kPtrToUninitMapValue: {
        if (r.type == RegType::kScalar && r.maybe_null) return mismatch();
        if (!is_mem_ptr(false) || r.maybe_null) return mismatch();
        if (map < 0) return fail(EACCES, "invalid map_ptr to access map->key");
        const MapInfo& m = opt_.maps[static_cast<std::size_t>(map)];
        const uint64_t size = t == ArgType::kPtrToMapKey ? m.key_size : m.value_size;
        if (auto e = check_helper_mem(regno, r, size, t == ArgType::kPtrToUninitMapValue, false)) return e;
        if (t == ArgType::kPtrToMapKey && (m.type == BPF_MAP_TYPE_ARRAY || m.type == BPF_MAP_TYPE_PERCPU_ARRAY)) {
          const_map_key = constant_map_key(r, m.key_size);
        }
        break;
      }
      case ArgType::kPtrToMemOrNull:
        if (r.is_null_const()) break;
        [[fallthrough]];
      case ArgType::kPtrToMem:
      case ArgType::kPtrToUninitMem: {
        if (!is_mem_ptr(true) || r.maybe_null) return mismatch();
        // The size is the next argument.
        const int sreg = regno + 1;
        if (auto e = read_reg(sreg)) return e;
        const Reg& size = reg(sreg);
        const ArgType st = proto.args[static_cast<std::size_t>(i + 1)];
        const bool zero_ok = st == ArgType::kConstSizeOrZero;
        if (size.type != RegType::kScalar) {
          return fail(EACCES, fmt::format("R{} type={} expected=scalar", sreg, type_name(size)));
        }
        if (size.b.smin < 0) {
          return fail(EACCES,
                      fmt::format("R{} min value is negative, either use unsigned or 'var &= const'", sreg));
        }
        if (size.b.umin == 0 && !zero_ok) {
          return fail(EACCES, fmt::format("R{} invalid zero-sized read: u64=[{},{}]", sreg, size.b.umin, size.b.umax));
        }
        if (size.b.umax >= kMaxVarSize) {
          return fail(EACCES, fmt::format("R{} unbounded memory access, use 'var &= const' or 'if (var < const)'",
                                          sreg));
        }
        mark_sensitive(pc, static_cast<uint16_t>(1U << sreg));
        if (auto e = check_helper_mem(regno, r, size.b.umax, t == ArgType::kPtrToUninitMem, zero_ok)) return e;
        ++i;
        break;
      }
      case ArgType::kConstSize:
      case ArgType::kConstSizeOrZero:
        if (r.type != RegType::kScalar) return mismatch();
        break;
      case ArgType::kConstAllocSizeOrZero:
        if (r.type != RegType::kScalar) return mismatch();
        if (!r.b.is_const()) {
          return fail(EACCES, fmt::format("R{} is not a known constant'", regno));
        }
        alloc_size = r.b.var.value;
        mark_sensitive(pc, static_cast<uint16_t>(1U << regno));
        break;
      case ArgType::kPtrToLong:
        if (!is_mem_ptr(false) || r.maybe_null) return mismatch();
        if (auto e = check_helper_mem(regno, r, 8, true, false)) return e;
        break;
      case ArgType::kPtrToConstStr: {
        if (r.type != RegType::kMapValue) return mismatch();
        const MapInfo& m = map_of(r);
        if (!(m.map_flags & BPF_F_RDONLY_PROG) || m.frozen_value.empty()) {
          return fail(EACCES, fmt::format("R{} does not point to a readonly map'", regno));
        }
        if (!r.b.is_const()) return fail(EACCES, fmt::format("R{} is not a constant address'", regno));
        const uint64_t at = static_cast<uint64_t>(r.off) + r.b.var.value;
        if (at >= m.frozen_value.size() ||
            std::find(m.frozen_value.begin() + static_cast<std::ptrdiff_t>(at), m.frozen_value.end(), 0) ==
                m.frozen_value.end()) {
          return fail(EACCES, "string is not zero-terminated");
        }
        break;
      }
      case ArgType::kPtrToFunc:
        if (r.type != RegType::kFunc) return mismatch();
        callback = r.subprog;
        break;
      case ArgType::kPtrToStackOrNull:
        if (r.is_null_const()) break;
        if (r.type != RegType::kStack) return mismatch();
        break;
      case ArgType::kPtrToSpinLock: {
        // process_spin_lock()
        if (r.type != RegType::kMapValue || r.maybe_null) return mismatch();
        if (!r.b.is_const()) {
          return fail(EINVAL, fmt::format(
                                  "R{} doesn't have constant offset. bpf_spin_lock has to be at the constant offset",
                                  regno));
        }
        const MapInfo& m = map_of(r);
        if (m.spin_lock_off < 0) return fail(EINVAL, fmt::format("map '{}' has no valid bpf_spin_lock", m.name));
        const int64_t at = static_cast<int64_t>(r.b.var.value) + r.off;
        if (at != m.spin_lock_off) {
          return fail(EINVAL, fmt::format("off {} doesn't point to 'struct bpf_spin_lock' that is at {}", at,
                                          m.spin_lock_off));
        }
        const HeldLock lock{r.map, r.id};
        if (id == BPF_FUNC_spin_lock) {
          if (cur_.lock.map >= 0) return fail(EINVAL, "Locking two bpf_spin_locks are not allowed");
          cur_.lock = lock;
        } else {
          if (cur_.lock.map < 0) return fail(EINVAL, "bpf_spin_unlock without taking a lock");
          if (!(cur_.lock == lock)) return fail(EINVAL, "bpf_spin_unlock of different lock");
          cur_.lock = HeldLock{};
        }
        break;
      }
      case ArgType::kPtrToAllocMem:
        if (r.type != RegType::kMem || !r.ringbuf) return mismatch();
        if (r.maybe_null) return mismatch();
        if (r.off != 0 || !r.b.is_const() || r.b.var.value != 0) {
          return fail(EACCES, fmt::format("R{} must have zero offset when passed to release func", regno));
        }
        if (r.ref_obj_id == 0) return fail(EINVAL, fmt::format("R{} must be referenced when passed to release function", regno));
        release_ref = regno;
        release_id = r.ref_obj_id;
        break;
      case ArgType::kNone:
        break;
    }
  }
  if (release_ref >= 0) {
    auto it = std::find_if(cur_.refs.begin(), cur_.refs.end(), [&](const Reference& ref) { return ref.id == release_id; });
    if (it == cur_.refs.end()) return fail(EINVAL, fmt::format("release reference id={} not found", release_id));
    cur_.refs.erase(it);
    // Every copy of the released pointer becomes unusable.
    for_each_reg(cur_, [&](Reg& r) {
      if (r.ref_obj_id == release_id) r = Reg::unknown();
    });
  }
  // Caller-saved registers.
  for (int r = 1; r <= 5; ++r) {
    reg(r) = Reg{};
  }
  Reg ret = Reg::unknown();
  switch (proto.ret) {
    case RetType::kInteger:
      if (id == BPF_FUNC_get_smp_processor_id) {
        // As Linux (do_refine_retval_range): a CPU number, below nr_cpu_ids.
        const uint32_t last = cpu::possible() - 1;
        ret.b.umin = ret.b.u32min = 0;
        ret.b.smin = ret.b.s32min = 0;
        ret.b.umax = ret.b.u32max = last;
        ret.b.smax = ret.b.s32max = static_cast<int32_t>(last);
        ret.b.sync();
      }
      break;
    case RetType::kVoid:
      ret = Reg{};
      ret.type = RegType::kNotInit;
      break;
    case RetType::kPtrToMapValueOrNull:
      ret = Reg::pointer(RegType::kMapValue);
      ret.map = map;
      // As Linux (since 6.14): an array lookup with a known in-range key cannot fail.
      if (id == BPF_FUNC_map_lookup_elem && const_map_key && static_cast<int64_t>(*const_map_key) >= 0 &&
          *const_map_key < opt_.maps[static_cast<std::size_t>(map)].max_entries) {
        // The key's value decided it (Linux marks the key precise): what was stored there matters.
        mark_sensitive(pc, kStackNeeded);
        break;
      }
      ret.maybe_null = true;
      ret.id = ++next_id_;
      if (map_of(ret).type == BPF_MAP_TYPE_ARRAY_OF_MAPS || map_of(ret).type == BPF_MAP_TYPE_HASH_OF_MAPS) {
        // A map-in-map's value is the inner map.
        ret.type = RegType::kMapPtr;
        ret.map = map_of(ret).inner;
        if (ret.map < 0) return fail(EINVAL, "map-in-map without an inner map definition");
      }
      break;
    case RetType::kPtrToAllocMemOrNull:
      ret = Reg::pointer(RegType::kMem);
      ret.maybe_null = true;
      ret.ringbuf = true;
      ret.range = static_cast<int32_t>(alloc_size);
      ++next_id_;  // the NULL-check id, replaced by the reference's
      ret.id = ++next_id_;
      ret.ref_obj_id = ret.id;
      cur_.refs.push_back(Reference{ret.id, pc});
      break;
  }
  if (proto.ret != RetType::kVoid) {
    set_reg(0, ret);
  } else {
    reg(0) = Reg{};
  }
  scratch(0);
  next = pc + 1;
  if (callback >= 0) {
    // Verify the callback as a frame called from here, with the arguments the helper passes.
    if (static_cast<int>(cur_.frames.size()) >= kMaxCallFrames) {
      return fail(E2BIG, fmt::format("the call stack of {} frames is too deep !", cur_.frames.size() + 1));
    }
    Frame callee;
    callee.callsite = pc + 1;
    callee.subprog_start = static_cast<std::size_t>(callback);
    callee.callback = true;
    callee.regs[10] = Reg::pointer(RegType::kStack);
    callee.regs[10].frameno = static_cast<int32_t>(cur_.frames.size());
    if (id == BPF_FUNC_loop) {
      callee.regs[1] = Reg::unknown();
      callee.regs[1].b.truncate(4);
      callee.regs[2] = saved_args_[3];
    } else {  // for_each_map_elem
      callee.regs[1] = Reg::pointer(RegType::kMapPtr);
      callee.regs[1].map = map;
      callee.regs[2] = Reg::pointer(RegType::kMapKey);
      callee.regs[2].map = map;
      callee.regs[3] = Reg::pointer(RegType::kMapValue);
      callee.regs[3].map = map;
      callee.regs[4] = saved_args_[3];
    }
    cur_.frames.push_back(callee);
    next = static_cast<std::size_t>(callback);
  }
  return std::nullopt;
}


// ---------------------------------------------------------------------------------------------
// calls, exits, special loads

Check Verifier::check_local_call(const Insn& insn, std::size_t pc, std::size_t& next) {
  if (cur_.lock.map >= 0) return fail(EINVAL, "function calls are not allowed while holding a lock");
  if (static_cast<int>(cur_.frames.size()) >= kMaxCallFrames) {
    return fail(E2BIG, fmt::format("the call stack of {} frames is too deep !", cur_.frames.size() + 1));
  }
  const std::size_t target = pc + 1 + static_cast<std::size_t>(static_cast<int64_t>(insn.imm));
  Frame callee;
  callee.callsite = pc + 1;
  callee.subprog_start = target;
  for (int r = 1; r <= 5; ++r) callee.regs[static_cast<std::size_t>(r)] = reg(r);
  callee.regs[10] = Reg::pointer(RegType::kStack);
  callee.regs[10].frameno = static_cast<int32_t>(cur_.frames.size());
  for (int r = 0; r <= 5; ++r) reg(r) = Reg{};
  cur_.frames.push_back(std::move(callee));
  next = target;
  return std::nullopt;
}

// The range a program type's return value must be in, if it has one.
std::optional<std::pair<int64_t, int64_t>> return_range(uint32_t prog_type, uint32_t attach) {
  switch (prog_type) {
    case BPF_PROG_TYPE_CGROUP_SKB:
      if (attach == BPF_CGROUP_INET_EGRESS) return std::pair<int64_t, int64_t>{0, 3};
      return std::pair<int64_t, int64_t>{0, 1};
    case BPF_PROG_TYPE_CGROUP_SOCK:
    case BPF_PROG_TYPE_CGROUP_DEVICE:
    case BPF_PROG_TYPE_CGROUP_SYSCTL:
    case BPF_PROG_TYPE_CGROUP_SOCKOPT:
    case BPF_PROG_TYPE_SK_LOOKUP:
      return std::pair<int64_t, int64_t>{0, 1};
    default:
      return std::nullopt;
  }
}

Check Verifier::check_exit(std::size_t pc, std::size_t& next, bool& path_done) {
  if (auto e = read_reg(0)) return e;
  if (cur_.frames.back().callback || return_range(opt_.prog_type, opt_.expected_attach_type)) mark_sensitive(pc, 1);
  if (cur_.frames.size() > 1) {
    Frame callee = std::move(cur_.frames.back());
    cur_.frames.pop_back();
    const Reg r0 = callee.regs[0];
    if (r0.type == RegType::kStack && r0.frameno == static_cast<int32_t>(cur_.frames.size())) {
      return fail(EINVAL, "cannot return stack pointer to the caller");
    }
    if (callee.callback) {
      if (r0.type != RegType::kScalar) {
        return fail(EINVAL, fmt::format("At callback return the register R0 is not a known value ({})", type_name(r0)));
      }
      if (r0.b.smin < 0 || r0.b.smax > 1) {
        return fail(EINVAL, fmt::format("At callback return the register R0 has {} should have been in [0, 1]",
                                        format_range_words(r0.b)));
      }
    } else {
      reg(0) = r0;
    }
    next = callee.callsite;
    return std::nullopt;
  }
  if (cur_.lock.map >= 0) {
    return fail(EINVAL, "BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region");
  }
  if (!cur_.refs.empty()) {
    const Reference& ref = cur_.refs.front();
    return fail(EINVAL, fmt::format("Unreleased reference id={} alloc_insn={}", ref.id, ref.insn));
  }
  const Reg& r0 = reg(0);
  if (const auto range = return_range(opt_.prog_type, opt_.expected_attach_type)) {
    if (r0.type != RegType::kScalar) {
      return fail(EINVAL, fmt::format("At program exit the register R0 is not a known value ({})", type_name(r0)));
    }
    if (r0.b.smin < range->first || r0.b.smax > range->second) {
      return fail(EINVAL, fmt::format("At program exit the register R0 has {} should have been in [{}, {}]",
                                      format_range_words(r0.b), range->first, range->second));
    }
  }
  path_done = true;
  return std::nullopt;
}

Check Verifier::check_ld_imm64(const Insn& insn) {
  if (auto e = write_reg(insn.dst)) return e;
  switch (insn.op) {
    case Op::LdImm64:
      set_reg(insn.dst, Reg::constant(insn.imm64));
      return std::nullopt;
    case Op::LdMapFd:
    case Op::LdMapValue: {
      const auto idx = static_cast<uint32_t>(insn.imm);
      if (idx >= opt_.maps.size()) return fail(EBADF, fmt::format("fd {} is not pointing to valid bpf_map", insn.imm));
      const MapInfo& map = opt_.maps[idx];
      if (map.spin_lock_off >= 0) {
        const uint32_t t = opt_.prog_type;
        if (t == BPF_PROG_TYPE_SOCKET_FILTER) return fail(EINVAL, "socket filter progs cannot use bpf_spin_lock yet");
        if (t == BPF_PROG_TYPE_KPROBE || t == BPF_PROG_TYPE_TRACEPOINT || t == BPF_PROG_TYPE_PERF_EVENT ||
            t == BPF_PROG_TYPE_RAW_TRACEPOINT || t == BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE) {
          return fail(EINVAL, "tracing progs cannot use bpf_spin_lock yet");
        }
      }
      if (insn.op == Op::LdMapFd) {
        Reg r = Reg::pointer(RegType::kMapPtr);
        r.map = static_cast<int32_t>(idx);
        set_reg(insn.dst, r);
        return std::nullopt;
      }
      if (map.type != BPF_MAP_TYPE_ARRAY || map.max_entries != 1) {
        return fail(EINVAL, "no direct value access support for this map type");
      }
      if (insn.imm_hi() >= map.value_size) {
        return fail(EINVAL, fmt::format("direct value offset of {} is not allowed", insn.imm_hi()));
      }
      Reg r = Reg::pointer(RegType::kMapValue);
      r.map = static_cast<int32_t>(idx);
      r.off = static_cast<int32_t>(insn.imm_hi());
      set_reg(insn.dst, r);
      return std::nullopt;
    }
    case Op::LdFunc: {
      if (!opt_.btf_func_info) return fail(EINVAL, "missing btf func_info");
      Reg r = Reg::pointer(RegType::kFunc);
      r.subprog = static_cast<int32_t>(pc_ + 1 + static_cast<std::size_t>(static_cast<int64_t>(insn.imm)));
      set_reg(insn.dst, r);
      return std::nullopt;
    }
    default:
      return fail(EINVAL, "fd_idx without fd_array is invalid");
  }
}

Check Verifier::check_ld_abs(const Insn& insn) {
  const uint32_t t = opt_.prog_type;
  if (t != BPF_PROG_TYPE_SOCKET_FILTER && t != BPF_PROG_TYPE_SCHED_CLS && t != BPF_PROG_TYPE_SCHED_ACT) {
    return fail(EINVAL, "BPF_LD_[ABS|IND] instructions not allowed for this program type");
  }
  if (auto e = read_reg(6)) return e;
  if (!cur_.refs.empty()) {
    return fail(EINVAL, "BPF_LD_[ABS|IND] cannot be mixed with socket references");
  }
  if (reg(6).type != RegType::kCtx) return fail(EINVAL, "at the time of BPF_LD_ABS|IND R6 != pointer to skb");
  if (insn.info().kind == Kind::kLdInd) {
    if (auto e = read_reg(insn.src)) return e;
  }
  for (int r = 1; r <= 5; ++r) reg(r) = Reg{};
  Reg r0 = Reg::unknown();
  r0.b.truncate(insn.info().mem_size());
  set_reg(0, r0);
  scratch(0);
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// one instruction

Check Verifier::step(std::size_t pc, std::size_t& next, bool& path_done) {
  const Insn& insn = s_.insns[pc];
  const auto& info = insn.info();
  next = pc + 1;
  switch (info.kind) {
    case Kind::kAlu:
    case Kind::kMovSx:
    case Kind::kNeg:
    case Kind::kEnd:
    case Kind::kBswap:
      return check_alu(insn);
    case Kind::kLoad:
    case Kind::kLoadSx: {
      if (auto e = read_reg(insn.src)) return e;
      if (auto e = write_reg(insn.dst)) return e;
      const int size = static_cast<int>(info.mem_size());
      if (auto e = check_mem(insn.src, insn.off, size, false, insn.dst, false)) return e;
      if (info.kind == Kind::kLoadSx && reg(insn.dst).type == RegType::kScalar) {
        Reg r = reg(insn.dst);
        r.b.sign_extend(static_cast<unsigned>(size));
        reg(insn.dst) = r;
      }
      return std::nullopt;
    }
    case Kind::kStore:
      if (auto e = read_reg(insn.dst)) return e;
      return check_mem(insn.dst, insn.off, static_cast<int>(info.mem_size()), true, -1, false);
    case Kind::kStoreReg:
      if (auto e = read_reg(insn.src)) return e;
      if (auto e = read_reg(insn.dst)) return e;
      return check_mem(insn.dst, insn.off, static_cast<int>(info.mem_size()), true, insn.src, false);
    case Kind::kAtomic: {
      if (auto e = read_reg(insn.src)) return e;
      if (auto e = read_reg(insn.dst)) return e;
      const bool cmpxchg = insn.imm == isa::code::kCmpxchg;
      if (cmpxchg) {
        if (auto e = read_reg(0)) return e;
      }
      const int size = static_cast<int>(info.mem_size());
      if (auto e = check_mem(insn.dst, insn.off, size, false, -1, true)) return e;
      if (auto e = check_mem(insn.dst, insn.off, size, true, -1, true)) return e;
      const bool fetch = (insn.imm & isa::code::kFetch) != 0;
      if (cmpxchg) {
        Reg r = Reg::unknown();
        if (size == 4) r.b.truncate(4);
        set_reg(0, r);
      } else if (fetch) {
        Reg r = Reg::unknown();
        if (size == 4) r.b.truncate(4);
        set_reg(insn.src, r);
      }
      return std::nullopt;
    }
    case Kind::kJa:
      next = pc + 1 + static_cast<std::size_t>(static_cast<int64_t>(insn.off));
      return std::nullopt;
    case Kind::kGotol:
      next = pc + 1 + static_cast<std::size_t>(static_cast<int64_t>(insn.imm));
      return std::nullopt;
    case Kind::kMayGoto: {
      const std::size_t target = pc + 1 + static_cast<std::size_t>(static_cast<int64_t>(insn.off));
      push_branch(cur_, target, pc);
      return std::nullopt;
    }
    case Kind::kJmpCond:
      return check_cond_jump(insn, pc, next);
    case Kind::kCallHelper:
      return check_helper_call(insn, pc, next);
    case Kind::kCallLocal:
      return check_local_call(insn, pc, next);
    case Kind::kExit:
      return check_exit(pc, next, path_done);
    case Kind::kLdImm64:
      next = pc + 2;
      return check_ld_imm64(insn);
    case Kind::kLdAbs:
    case Kind::kLdInd:
      return check_ld_abs(insn);
    case Kind::kCallKfunc:
    case Kind::kCallx:
    case Kind::kTail:
      break;
  }
  return fail(EINVAL, fmt::format("unknown opcode {:02x}", info.code));
}

// ---------------------------------------------------------------------------------------------
// paths and pruning

void Verifier::push_branch(State state, std::size_t target, std::size_t from) {
  if (state.parent >= 0) ++explored_index_[static_cast<std::size_t>(state.parent)]->branches;
  Pending p;
  p.state = std::move(state);
  p.insn = target;
  p.prev_insn = from;
  p.log_pos = log_.size();
  p.path = std::make_shared<const PathNode>(PathNode{PathStep{from, target}, path_});
  stack_.push_back(std::move(p));
}

void Verifier::path_finished() {
  int p = cur_.parent;
  while (p >= 0) {
    Explored& e = *explored_index_[static_cast<std::size_t>(p)];
    if (--e.branches > 0) break;
    p = e.state.parent;
  }
}

bool Verifier::regs_equal(const Reg& old, const Reg& cur, bool exact,
                          IdMap& ids) const {
  auto same_id = [&](uint32_t a, uint32_t b) {
    if (a == 0 && b == 0) return true;
    if (a == 0 || b == 0) return false;
    return ids.map(a, b);
  };
  if (old.type == RegType::kNotInit) return !exact || cur.type == RegType::kNotInit;
  if (old.type != cur.type) return false;
  if (old.type == RegType::kScalar) {
    if (exact) return old.b == cur.b && same_id(old.id, cur.id);
    if (!cur.b.within(old.b)) return false;
    return old.id == 0 || same_id(old.id, cur.id);
  }
  if (old.maybe_null != cur.maybe_null || old.ringbuf != cur.ringbuf || old.off != cur.off || old.map != cur.map ||
      old.frameno != cur.frameno || old.subprog != cur.subprog) {
    return false;
  }
  if (exact ? !(old.b == cur.b) : !cur.b.within(old.b)) return false;
  if (old.is_packet()) {
    if (exact ? old.range != cur.range : old.range > cur.range) return false;
  } else if (old.type == RegType::kMem && old.range != cur.range) {
    return false;
  }
  return same_id(old.id, cur.id) && same_id(old.ref_obj_id | 0x80000000U, cur.ref_obj_id | 0x80000000U);
}

void Verifier::compute_needs() {
  needs_dirty_ = false;
  const std::size_t n = s_.insns.size();
  live_.assign(n, 0);
  needed_.assign(n, 0);
  if (whole_program_needed_) {
    live_.assign(n, 0x7ff);
    needed_.assign(n, 0x7ff);
    return;
  }
  auto bit = [](int r) { return static_cast<uint16_t>(1U << r); };
  auto successors = [&](std::size_t i, std::size_t out[2]) -> int {
    const Insn& insn = s_.insns[i];
    const Kind k = insn.info().kind;
    if (k == Kind::kExit) return 0;
    if (k == Kind::kLdImm64) { out[0] = i + 2; return 1; }
    if (k == Kind::kJa) { out[0] = i + 1 + static_cast<std::size_t>(static_cast<int64_t>(insn.off)); return 1; }
    if (k == Kind::kGotol) { out[0] = i + 1 + static_cast<std::size_t>(static_cast<int64_t>(insn.imm)); return 1; }
    if (k == Kind::kJmpCond || k == Kind::kMayGoto) {
      out[0] = i + 1;
      out[1] = i + 1 + static_cast<std::size_t>(static_cast<int64_t>(insn.off));
      return 2;
    }
    out[0] = i + 1;
    return 1;
  };
  // Backward dataflow to a fixed point: liveness, and needs traced through arithmetic.
  bool changed = true;
  while (changed) {
    changed = false;
    for (std::size_t j = n; j-- > 0;) {
      const Insn& insn = s_.insns[j];
      const auto& info = insn.info();
      if (info.kind == Kind::kTail) continue;
      std::size_t succ[2];
      const int ns = successors(j, succ);
      uint16_t live_out = 0, need_out = 0;
      for (int k = 0; k < ns; ++k) {
        if (succ[k] < n) {
          live_out |= live_[succ[k]];
          need_out |= needed_[succ[k]];
        }
      }
      uint16_t uses = 0, defs = 0, need = need_out;
      const int dst = insn.dst, src = insn.src;
      switch (info.kind) {
        case Kind::kAlu: case Kind::kMovSx: case Kind::kNeg: case Kind::kEnd: case Kind::kBswap: {
          const bool mov = info.op_bits() == kMov || info.kind == Kind::kMovSx;
          const bool x = info.reg_source() || info.kind == Kind::kMovSx;
          uses = static_cast<uint16_t>((mov ? 0 : bit(dst)) | (x ? bit(src) : 0));
          defs = bit(dst);
          need = static_cast<uint16_t>(need_out & ~defs);
          if (need_out & bit(dst)) need |= uses;
          break;
        }
        case Kind::kLoad: case Kind::kLoadSx:
          uses = bit(src); defs = bit(dst); need = static_cast<uint16_t>(need_out & ~defs);
          if (need_out & bit(dst)) need |= kStackNeeded;  // maybe a fill: what was spilled matters
          break;
        case Kind::kStore: uses = bit(dst); break;
        case Kind::kStoreReg: case Kind::kAtomic:
          uses = static_cast<uint16_t>(bit(dst) | bit(src) | (insn.imm == isa::code::kCmpxchg ? bit(0) : 0));
          defs = (info.kind == Kind::kAtomic && (insn.imm & isa::code::kFetch))
                     ? bit(insn.imm == isa::code::kCmpxchg ? 0 : src)
                     : 0;
          need = static_cast<uint16_t>(need_out & ~defs);
          if (need_out & defs) need |= kStackNeeded;
          if (need_out & kStackNeeded) need |= bit(src);  // maybe a spill of a value a fill needs
          break;
        case Kind::kJmpCond: uses = static_cast<uint16_t>(bit(dst) | (info.reg_source() ? bit(src) : 0)); break;
        case Kind::kCallHelper:
          uses = 0x3e; defs = 0x3f; need = static_cast<uint16_t>(need_out & ~defs); break;
        case Kind::kExit: uses = bit(0); break;
        case Kind::kLdImm64: defs = bit(dst); need = static_cast<uint16_t>(need_out & ~defs); break;
        case Kind::kLdAbs: case Kind::kLdInd:
          uses = static_cast<uint16_t>(bit(6) | (info.kind == Kind::kLdInd ? bit(src) : 0));
          defs = 0x3f;
          need = static_cast<uint16_t>(need_out & ~defs);
          break;
        default: break;
      }
      const uint16_t live_in = static_cast<uint16_t>((live_out & ~defs) | uses);
      need = static_cast<uint16_t>(need | sensitive_[j]);
      if (live_in != live_[j] || need != needed_[j]) {
        live_[j] = live_in;
        needed_[j] = need;
        changed = true;
      }
    }
  }
}

bool Verifier::states_equal(const State& old, const State& cur, bool exact, std::size_t pc) {
  if (old.frames.size() != cur.frames.size() || old.refs.size() != cur.refs.size()) return false;
  if (old.lock.map != cur.lock.map || (old.lock.id == 0) != (cur.lock.id == 0)) return false;
  if (needs_dirty_) compute_needs();
  IdMap& ids = ids_;
  ids.clear();
  for (std::size_t f = 0; f < old.frames.size(); ++f) {
    const Frame& fo = old.frames[f];
    const Frame& fc = cur.frames[f];
    if (fo.callsite != fc.callsite || fo.callback != fc.callback) return false;
    const bool innermost = f + 1 == old.frames.size();
    for (std::size_t r = 0; r < fo.regs.size(); ++r) {
      if (!exact && innermost && r < 10) {
        if (!(live_[pc] & (1U << r))) continue;  // dead here: its value cannot matter
        // Imprecise scalars: any scalar will do, as for the kernel's unmarked scalars.
        if (!(needed_[pc] & (1U << r)) && fo.regs[r].type == RegType::kScalar &&
            fc.regs[r].type == RegType::kScalar) {
          continue;
        }
      }
      if (!regs_equal(fo.regs[r], fc.regs[r], exact, ids)) return false;
    }
    // Slots below the deepest byte either state used are unused in both.
    const auto used = static_cast<std::size_t>((std::max(fo.stack_depth, fc.stack_depth) + 7) / 8);
    for (std::size_t i = 0; i < used && i < fo.stack.size(); ++i) {
      const StackSlot& so = fo.stack[i];
      const StackSlot& sc = fc.stack[i];
      // Narrow spills give fills and map keys their values: compared exactly.
      if (so.narrow_spill_size != sc.narrow_spill_size ||
          (so.narrow_spill_size != 0 && !(so.narrow_spill.b == sc.narrow_spill.b))) {
        return false;
      }
      if (so.bytes[0] == SlotType::kSpill) {
        if (sc.bytes[0] != SlotType::kSpill || !regs_equal(so.spilled, sc.spilled, exact, ids)) return false;
        continue;
      }
      for (std::size_t k = 0; k < 8; ++k) {
        const SlotType o = so.bytes[k], c = sc.bytes[k];
        if (o == c) continue;
        if (exact) return false;
        if (o == SlotType::kInvalid) continue;
        if (o == SlotType::kMisc && c == SlotType::kZero) continue;
        if (o == SlotType::kMisc && c == SlotType::kSpill && sc.spilled.type == RegType::kScalar) continue;
        return false;
      }
    }
  }
  for (std::size_t i = 0; i < old.refs.size(); ++i) {
    const uint32_t* mapped = ids.find(old.refs[i].id);
    if (mapped && *mapped != cur.refs[i].id) return false;
  }
  return true;
}

Check Verifier::visit_prune_point(std::size_t pc, bool& pruned) {
  pruned = false;
  auto& list = explored_[pc];
  for (auto it = list.begin(); it != list.end();) {
    Explored& e = *it;
    if (e.branches > 0) {
      if (states_equal(e.state, cur_, true, pc)) {
        return fail(EINVAL, fmt::format("infinite loop detected at insn {}", pc));
      }
      ++it;
      continue;
    }
    if (states_equal(e.state, cur_, false, pc)) {
      ++e.hits;
      pruned = true;
      return std::nullopt;
    }
    // A finished state that keeps failing to prune is dropped, as the kernel drops them
    // (nothing refers to a state whose paths are all done).
    if (++e.misses > e.hits * 3 + 3 && list.size() > kEvictAbove) {
      it = list.erase(it);
      continue;
    }
    ++it;
  }
  const bool add = jumps_since_state_ >= 2 && insns_since_state_ >= 8;
  if (!add) return std::nullopt;
  jumps_since_state_ = 0;
  insns_since_state_ = 0;
  Explored e;
  e.state = cur_;
  e.branches = 1;
  list.push_back(std::move(e));
  explored_index_.push_back(&list.back());
  cur_.parent = static_cast<int>(explored_index_.size() - 1);
  ++stats_.total_states;
  stats_.max_states_per_insn = std::max<uint32_t>(stats_.max_states_per_insn, static_cast<uint32_t>(list.size()));
  stats_.peak_states = std::max(stats_.peak_states, stats_.total_states);
  return std::nullopt;
}

// check_max_stack_depth(): the frames of one chain of bpf-to-bpf calls share 512 bytes, each
// frame rounded up to 16 bytes as for JIT-compiled programs.
std::optional<Failure> Verifier::check_combined_stack() const {
  const auto& subs = s_.subprograms;
  auto index_of = [&](std::size_t start) -> std::size_t {
    for (std::size_t i = 0; i < subs.size(); ++i) {
      if (subs[i].start == start) return i;
    }
    return 0;
  };
  std::vector<std::vector<std::size_t>> callees(subs.size());
  for (std::size_t i = 0; i < subs.size(); ++i) {
    for (std::size_t pc = subs[i].start; pc < subs[i].end; ++pc) {
      const Insn& insn = s_.insns[pc];
      if (insn.info().kind != Kind::kCallLocal) continue;
      callees[i].push_back(index_of(pc + 1 + static_cast<std::size_t>(static_cast<int64_t>(insn.imm))));
    }
  }
  auto frame_size = [&](std::size_t sub) { return (max_stack_depth_[subs[sub].start] + 15) / 16 * 16; };
  // Depth-first over call chains (recursion is impossible: the kernel refuses it as a loop,
  // and bpfvm's walk would not end either; cap the chain at the frame limit).
  std::optional<Failure> failure;
  std::function<void(std::size_t, int, int)> walk = [&](std::size_t sub, int depth, int frames) {
    if (failure || frames > kMaxCallFrames) return;
    depth += frame_size(sub);
    if (depth > kStackSize) {
      failure = fail(EACCES, fmt::format("combined stack size of {} calls is {}. Too large", frames, depth));
      return;
    }
    for (std::size_t callee : callees[sub]) walk(callee, depth, frames + 1);
  };
  walk(0, 0, 1);
  return failure;
}

// ---------------------------------------------------------------------------------------------
// facts for the JIT
//
// Each fact is the intersection over every state processed at the instruction. A path the
// walk prunes at instruction X against an explored state E is not processed past X; its facts
// are those of E's continuation, and they hold for it for the same reason its safety does:
// - E's paths were all finished before anything was pruned against E (branches == 0), so
//   every fact of E's continuation was already noted, and intersected, everywhere it applies.
// - The pruned state is within E in every register that is live and needed at X. A fact marks
//   the registers it relies on as sensitive where it is noted (note_facts(); branches decided
//   by values already did), and compute_needs() carries that back through the arithmetic and
//   the stack spills that computed them, so they are needed at X: the pruned path computes
//   values E's continuation allowed for, takes the branches E's continuation took (so reaches
//   no instruction it did not), and its divisors and upper halves are what the facts say.
//   Stack slots and pointers are always compared; what other loads give does not depend on
//   registers the comparison skipped.
// The needs only grow, and those E's continuation created were all there when it was pruned
// against. A fact wrong on some path is a bug in this argument: tests/verifier/soundness.hpp
// compares the JIT with facts against the interpreter to find one (it found two).
// A register is marked only while its fact still holds: once a fact is lost, precision for it
// would only cost pruning. The cost is real where a fact holds: precise loop counters for the
// zero-extensions of ilog2 (bench/progs) walk 330k instructions instead of 179k (Linux walks
// 712k). Marking nothing and reporting facts only for registers needed anyway would be free,
// but needs are found downstream, after the first visit has lost the fact.

void Verifier::note_facts(std::size_t pc) {
  FactsSeen& f = seen_[pc];
  f.reached = true;
  const Insn& insn = s_.insns[pc];
  const auto& info = insn.info();
  const auto bit = static_cast<uint16_t>(1U << insn.src);
  if (info.kind == Kind::kAlu && info.reg_source() && (info.op_bits() == kDiv || info.op_bits() == kMod)) {
    const Reg& d = reg(insn.src);
    const bool alu32 = !info.is64();
    const bool is_signed = info.match_value == 1;
    const bool scalar = d.type == RegType::kScalar;
    f.divisor_nonzero = f.divisor_nonzero && scalar && excludes_zero(d.b, alu32);
    f.divisor_not_minus_one = f.divisor_not_minus_one && is_signed && scalar && excludes_minus_one(d.b, alu32);
    // The value as an immediate gives it: low 32 bits, or a 64-bit value imm32 sign-extends to.
    const auto k = static_cast<int32_t>(static_cast<uint32_t>(d.b.var.value));
    const bool constant = scalar && (alu32 ? d.b.subreg_is_const()
                                           : d.b.is_const() && static_cast<int64_t>(d.b.var.value) == int64_t{k});
    f.divisor_known = f.divisor_known && constant && (!f.divisor_seen || f.divisor == k);
    f.divisor_seen = true;
    f.divisor = k;
    if (f.divisor_nonzero || f.divisor_not_minus_one || f.divisor_known) mark_sensitive(pc, bit);
  }
  if (insn.op == Op::CallHelper && insn.imm == BPF_FUNC_map_lookup_elem) {
    // The key an array lookup reads from the stack, as a range (what was stored there is
    // needed, as for a constant key's non-NULL result).
    const Reg& m = reg(1);
    std::optional<std::pair<uint32_t, uint32_t>> range;
    bool in_range = false;
    if (m.type == RegType::kMapPtr && m.map >= 0) {
      const MapInfo& info_of = opt_.maps[static_cast<std::size_t>(m.map)];
      if (info_of.type == BPF_MAP_TYPE_ARRAY || info_of.type == BPF_MAP_TYPE_PERCPU_ARRAY) {
        range = array_key_range(reg(2));
        in_range = range && range->second < info_of.max_entries;
      }
    }
    f.key_in_range = f.key_in_range && in_range;
    f.key_known = f.key_known && in_range && range->first == range->second && (!f.key_seen || f.key == range->first);
    f.key_seen = true;
    f.key = range ? range->first : 0;
    if (f.key_in_range) mark_sensitive(pc, kStackNeeded);
  }
  if (const int r = zero_extended_reg(s_.insns, pc); r >= 0) {
    const auto rbit = static_cast<uint16_t>(1U << r);
    const Reg& v = reg(r);
    if (v.type != RegType::kScalar || v.b.umax > 0xffffffffULL) f.upper32_zero &= static_cast<uint16_t>(~rbit);
    if (f.upper32_zero & rbit) mark_sensitive(pc, rbit);
  }
}

std::vector<InsnFacts> Verifier::facts() const {
  std::vector<InsnFacts> out(s_.insns.size());
  for (std::size_t pc = 0; pc < out.size(); ++pc) {
    const FactsSeen& f = seen_[pc];
    InsnFacts& o = out[pc];
    o.reached = f.reached;
    if (!f.reached) continue;
    const Insn& insn = s_.insns[pc];
    const auto& info = insn.info();
    if (info.kind == Kind::kJmpCond) {
      if (f.jumped && !f.fell_through) o.branch = BranchFact::kAlwaysTaken;
      if (f.fell_through && !f.jumped) o.branch = BranchFact::kNeverTaken;
    }
    if (info.kind == Kind::kAlu && info.reg_source() && (info.op_bits() == kDiv || info.op_bits() == kMod)) {
      o.divisor_nonzero = f.divisor_nonzero;
      o.divisor_not_minus_one = f.divisor_not_minus_one;
      o.divisor_known = f.divisor_known;
      o.divisor = f.divisor_known ? f.divisor : 0;
    }
    if (const int r = zero_extended_reg(s_.insns, pc); r >= 0) {
      o.upper32_zero = static_cast<uint16_t>(f.upper32_zero & (1U << r));
    }
    if (insn.op == Op::CallHelper && insn.imm == BPF_FUNC_map_lookup_elem) {
      o.key_in_range = f.key_in_range;
      o.key_known = f.key_in_range && f.key_known;
      o.key = o.key_known ? f.key : 0;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// the walk

Verdict Verifier::run() {
  Verdict verdict;
  const std::size_t n = s_.insns.size();
  prune_point_.assign(n, false);
  sensitive_.assign(n, 0);
  seen_.assign(n, FactsSeen{});
  max_stack_depth_.assign(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const Insn& insn = s_.insns[i];
    const Kind k = insn.info().kind;
    const auto target = [&](int64_t rel) { return static_cast<std::size_t>(static_cast<int64_t>(i) + 1 + rel); };
    if (k == Kind::kJmpCond || k == Kind::kMayGoto) {
      prune_point_[target(insn.off)] = true;
      if (i + 1 < n) prune_point_[i + 1] = true;
    } else if (k == Kind::kJa) {
      prune_point_[target(insn.off)] = true;
    } else if (k == Kind::kGotol) {
      prune_point_[target(insn.imm)] = true;
    }
    if (k == Kind::kCallLocal || insn.op == Op::LdFunc) whole_program_needed_ = true;
    if (insn.op == Op::LdFunc) callbacks_ = true;
    if (k == Kind::kCallLocal || k == Kind::kCallHelper) {
      if (i + 1 < n) prune_point_[i + 1] = true;
    }
  }
  // Explored entries must not move once indexed.
  explored_.reserve(n);

  Frame main;
  main.regs[1] = Reg::pointer(RegType::kCtx);
  main.regs[10] = Reg::pointer(RegType::kStack);
  cur_.frames.push_back(main);
  std::size_t pc = 0;
  scratched_regs_ = (1U << 1) | (1U << 10);
  log_full_state(0);

  auto pop = [&]() -> bool {
    if (stack_.empty()) return false;
    Pending p = std::move(stack_.back());
    stack_.pop_back();
    cur_ = std::move(p.state);
    pc = p.insn;
    path_ = std::move(p.path);
    if (opt_.log_level & 2) {
      log_ += fmt::format("\nfrom {} to {}:{}\n", p.prev_insn, p.insn, format_frame(frame(), opt_.maps));
    } else if (opt_.log_level & 1) {
      log_.resize(std::min(log_.size(), p.log_pos));
      if (!log_.empty() && log_.back() == '\n') log_.back() = ' ';
    }
    log_full_state(pc);
    return true;
  };

  for (;;) {
    if (++stats_.insns_processed > kComplexityLimit) {
      verdict.error = E2BIG;
      verdict.message = fmt::format("BPF program is too complex");
      verdict.insn = pc;
      break;
    }
    pc_ = pc;
    ++insns_since_state_;
    if (prune_point_[pc]) {
      bool pruned = false;
      if (auto e = visit_prune_point(pc, pruned)) {
        verdict.error = e->error;
        verdict.message = e->message;
        verdict.insn = pc;
        break;
      }
      if (pruned) {
        if (opt_.log_level & 2) log_ += fmt::format("{}: safe\n", pc);
        path_finished();
        if (!pop()) {
          verdict.accepted = true;
          break;
        }
        continue;
      }
    }
    log_insn_line(pc);
    note_facts(pc);
    std::size_t next = pc + 1;
    bool done = false;
    if (s_.insns[pc].info().cls() == isa::code::kJmp || s_.insns[pc].info().cls() == isa::code::kJmp32) ++jumps_since_state_;
    if (auto e = step(pc, next, done)) {
      verdict.error = e->error;
      verdict.message = e->message;
      verdict.insn = pc;
      break;
    }
    log_scratched_state();
    if (done || next == static_cast<std::size_t>(-1)) {
      // An exit, or a branch whose fall-through cannot happen: this path ends here.
      path_finished();
      if (!pop()) {
        verdict.accepted = true;
        break;
      }
      continue;
    }
    pc = next;
  }

  if (verdict.accepted) {
    if (auto e = check_combined_stack()) {
      verdict.accepted = false;
      verdict.error = e->error;
      verdict.message = e->message;
    }
  }
  if (!verdict.accepted) {
    log_ += verdict.message + "\n";
    for (const PathNode* node = path_.get(); node; node = node->prev.get()) verdict.path.push_back(node->step);
    std::reverse(verdict.path.begin(), verdict.path.end());
    for (const Reg& r : frame().regs) {
      verdict.registers.push_back(r.type == RegType::kNotInit ? std::string{} : reg_text(r));
      verdict.defined_at.push_back(r.defined_at);
    }
  } else if ((opt_.log_level & 3) == 1) {
    // A successful load at level 1 keeps only the statistics.
    log_.clear();
  }
  // Callbacks are walked once, as if called once: what they leave in the caller's stack after
  // several calls is not what the walk saw, so facts after them could be wrong. None then.
  if (verdict.accepted && !callbacks_) verdict.facts = facts();
  verdict.stats = stats_;
  if (opt_.log_level) log_ += stats_line(stats_) + "\n";
  verdict.log = std::move(log_);
  return verdict;
}

}  // namespace

std::string stats_line(const Stats& s) {
  return fmt::format("processed {} insns (limit {}) max_states_per_insn {} total_states {} peak_states {} mark_read {}",
                     s.insns_processed, kComplexityLimit, s.max_states_per_insn, s.total_states, s.peak_states,
                     s.mark_read);
}

Verdict verify(std::span<const isa::RawInsn> insns, const Options& options) {
  auto structure = check_structure(insns);
  if (const auto* r = std::get_if<Rejection>(&structure)) {
    Verdict v;
    v.error = r->error;
    v.message = r->message;
    v.insn = r->insn;
    if (options.log_level) v.log = r->message + "\n" + stats_line(Stats{}) + "\n";
    return v;
  }
  Verifier verifier(std::get<Structure>(structure), options);
  return verifier.run();
}

}  // namespace bpfvm::verifier
