#include "random_programs.hpp"

#include "test_rng.hpp"

#include <fmt/format.h>
#include <linux/bpf.h>

#include <array>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

namespace bpfvm::test {
namespace {

// What the generator knows about a register, to emit mostly valid code (and to plant
// mistakes on purpose). kMixed: different on the paths that meet here — never used.
enum class Kind { kUninit, kMixed, kScalar, kCtx };

struct RegInfo {
  Kind kind = Kind::kUninit;
  // The kernel knows the value is in [0, 2^31): the only operands AND/OR/XOR may have.
  bool small = false;
};

struct GenState {
  std::array<RegInfo, 11> regs{};
  std::array<bool, 512> stack_init{};  // byte fp-512+i written
};

GenState merge(const GenState& a, const GenState& b) {
  GenState out;
  for (std::size_t r = 0; r < a.regs.size(); ++r) {
    const RegInfo& x = a.regs[r];
    const RegInfo& y = b.regs[r];
    if (x.kind == y.kind) out.regs[r] = RegInfo{x.kind, x.small && y.small};
    else out.regs[r] = RegInfo{Kind::kMixed, false};
  }
  for (std::size_t i = 0; i < out.stack_init.size(); ++i) out.stack_init[i] = a.stack_init[i] && b.stack_init[i];
  return out;
}

constexpr int kMaxInsns = 40;
constexpr int kMaxBranches = 8;

// Long-lived scalars live in r7-r9; r6 holds the context; r0-r5 are scratch in blocks.
constexpr std::array<int, 3> kVars = {7, 8, 9};

struct PendingLabel {
  std::string name;
  int blocks_left;   // emitted after this many more blocks
  GenState at_jump;  // the state on the taken edge
};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed), seed_(seed) {}

  GeneratedProgram run();

 private:
  void emit(const std::string& line) {
    lines_.push_back(line);
    // ld_imm64 takes two slots.
    insns_ += line.starts_with("lddw") ? 2 : 1;
  }
  std::string label() { return fmt::format("l{}", labels_++); }
  RegInfo& reg(int r) { return st_.regs[static_cast<std::size_t>(r)]; }
  void set_scalar(int r, bool small) { reg(r) = RegInfo{Kind::kScalar, small}; }
  void clobber_call() {
    for (int r = 1; r <= 5; ++r) reg(r) = RegInfo{};
    set_scalar(0, false);
  }
  // A scalar variable to read; -1 when none is initialised.
  int init_var() {
    std::vector<int> ok;
    for (int r : kVars) if (reg(r).kind == Kind::kScalar) ok.push_back(r);
    return ok.empty() ? -1 : ok[static_cast<std::size_t>(rng_.below(static_cast<int>(ok.size())))];
  }
  int small_var() {
    std::vector<int> ok;
    for (int r : kVars) if (reg(r).kind == Kind::kScalar && reg(r).small) ok.push_back(r);
    return ok.empty() ? -1 : ok[static_cast<std::size_t>(rng_.below(static_cast<int>(ok.size())))];
  }
  bool mistake(int percent) {
    if (rng_.chance(percent)) {
      mistakes_ = true;
      return true;
    }
    return false;
  }
  void mark_stack(int off, int size) {
    for (int i = 0; i < size; ++i) {
      const int idx = 512 + off + i;
      if (idx >= 0 && idx < 512) st_.stack_init[static_cast<std::size_t>(idx)] = true;
    }
  }
  bool stack_ready(int off, int size) const {
    for (int i = 0; i < size; ++i) {
      const int idx = 512 + off + i;
      if (idx < 0 || idx >= 512 || !st_.stack_init[static_cast<std::size_t>(idx)]) return false;
    }
    return true;
  }

  void block();
  void alu();
  void stack_store();
  void stack_load();
  void ctx_load();
  void packet_access();
  void map_access();
  void helper_call();
  void branch();
  void loop();
  void finish();

  TestRng rng_;
  uint64_t seed_;
  std::vector<std::string> lines_;
  int insns_ = 0;
  int labels_ = 0;
  int branches_ = 0;
  bool loop_done_ = false;
  bool mistakes_ = false;
  GenState st_;
  std::vector<PendingLabel> pending_;
  uint32_t prog_type_ = BPF_PROG_TYPE_XDP;
  std::array<int, 2> value_size_{};  // map 0: hash (key 8), map 1: array (key 4, 4 entries)
};

constexpr std::array<const char*, 8> kAluOps = {"add", "sub", "mul", "div", "mod", "lsh", "rsh", "mov"};
constexpr std::array<const char*, 3> kMaskOps = {"and", "or", "xor"};

void Generator::alu() {
  int dst = kVars[static_cast<std::size_t>(rng_.below(3))];
  const bool alu32 = rng_.chance(30);
  const char* suffix = alu32 ? "32" : "";
  const int width = alu32 ? 32 : 64;
  // Mask operations only on operands known to be small (see the header).
  if (rng_.chance(25)) {
    const int src_small = small_var();
    if (src_small >= 0) {
      const std::string op = rng_.pick(kMaskOps);
      dst = src_small;
      if (rng_.chance(70)) {
        emit(fmt::format("{}{} %r{}, {}", op, suffix, dst, rng_.range(0, 0xffff)));
      } else {
        const int other = small_var();
        emit(fmt::format("{}{} %r{}, %r{}", op, suffix, dst, other));
      }
      set_scalar(dst, true);
      return;
    }
  }
  const std::string op = rng_.pick(kAluOps);
  const bool dst_ready = reg(dst).kind == Kind::kScalar;
  if (op != "mov" && !dst_ready) {
    if (reg(dst).kind == Kind::kUninit && mistake(10)) {
      emit(fmt::format("{}{} %r{}, 1", op, suffix, dst));  // reads an uninitialised register
      set_scalar(dst, false);
      return;
    }
    emit(fmt::format("mov{} %r{}, {}", suffix, dst, rng_.range(0, 1000)));
    set_scalar(dst, true);
    return;
  }
  const int src = init_var();
  if (src >= 0 && rng_.chance(40) && op != "lsh" && op != "rsh") {
    emit(fmt::format("{}{} %r{}, %r{}", op, suffix, dst, src));
    set_scalar(dst, op == "mov" ? reg(src).small : false);
    return;
  }
  if ((op == "lsh" || op == "rsh") && src >= 0 && rng_.chance(20)) {
    emit(fmt::format("{}{} %r{}, %r{}", op, suffix, dst, src));  // unknown shift: unknown value
    set_scalar(dst, false);
    return;
  }
  int imm = 0;
  if (op == "lsh" || op == "rsh") {
    imm = mistake(3) ? width : rng_.range(0, width - 1);  // "invalid shift"
  } else if (op == "div" || op == "mod") {
    imm = mistake(5) ? 0 : rng_.range(1, 100);  // "div by zero"
  } else if (op == "mov") {
    imm = rng_.chance(80) ? rng_.range(0, 0x7fff) : static_cast<int>(static_cast<int32_t>(rng_.next()));
  } else {
    imm = rng_.chance(80) ? rng_.range(0, 255) : static_cast<int>(static_cast<int32_t>(rng_.next()));
  }
  emit(fmt::format("{}{} %r{}, {}", op, suffix, dst, imm));
  bool small = false;
  if (op == "mov") small = imm >= 0;
  if (op == "rsh") small = alu32 ? imm >= 1 : imm >= 33;
  set_scalar(dst, small);
}

void Generator::stack_store() {
  constexpr std::array<int, 4> sizes = {1, 2, 4, 8};
  const int size = rng_.pick(sizes);
  int off = -8 * rng_.range(1, 16) + (size < 8 ? size * rng_.below(8 / size) : 0);
  if (mistake(4)) off = rng_.chance(50) ? -520 : 0;  // outside the frame
  const char* sfx = size == 1 ? "b" : size == 2 ? "h" : size == 4 ? "w" : "dw";
  const int src = init_var();
  if (src >= 0 && rng_.chance(60)) {
    emit(fmt::format("stx{} [%r10{:+d}], %r{}", sfx, off, src));
  } else {
    emit(fmt::format("st{} [%r10{:+d}], {}", sfx, off, rng_.range(0, 1000)));
  }
  mark_stack(off, size);
}

void Generator::stack_load() {
  constexpr std::array<int, 4> sizes = {1, 2, 4, 8};
  const int size = rng_.pick(sizes);
  const int dst = kVars[static_cast<std::size_t>(rng_.below(3))];
  const char* sfx = size == 1 ? "b" : size == 2 ? "h" : size == 4 ? "w" : "dw";
  std::vector<int> ready;
  for (int off = -512; off <= -size; off += size) {
    if (stack_ready(off, size)) ready.push_back(off);
  }
  int off = 0;
  if (mistake(5)) {
    off = -size * rng_.range(1, 512 / size);  // probably never written
  } else if (ready.empty()) {
    stack_store();
    return;
  } else {
    off = ready[static_cast<std::size_t>(rng_.below(static_cast<int>(ready.size())))];
  }
  emit(fmt::format("ldx{} %r{}, [%r10{:+d}]", sfx, dst, off));
  set_scalar(dst, size <= 2);
}

void Generator::ctx_load() {
  const int dst = kVars[static_cast<std::size_t>(rng_.below(3))];
  int off = 0;
  int size = 4;
  if (prog_type_ == BPF_PROG_TYPE_XDP) {
    constexpr std::array<int, 2> fields = {12, 16};  // ingress_ifindex, rx_queue_index
    off = rng_.pick(fields);
  } else {
    // __sk_buff fields a socket filter reads: len .. cb[4], hash.
    off = 4 * rng_.range(0, 17);
    if (rng_.chance(20)) {
      size = rng_.chance(50) ? 1 : 2;  // narrow loads of a field's low bytes
    }
  }
  if (mistake(8)) {
    off = rng_.chance(70) ? 4 * rng_.range(0, 50) : rng_.range(0, 200);  // any offset, may be invalid
    if (prog_type_ == BPF_PROG_TYPE_XDP && off <= 8 && off % 4 == 0) off = 20;  // data pointers are not scalars
  }
  const char* sfx = size == 1 ? "b" : size == 2 ? "h" : "w";
  if (reg(6).kind != Kind::kCtx) {
    emit(fmt::format("ldx{} %r{}, [%r1{:+d}]", sfx, dst, off));  // r1 may be gone: a mistake
    mistakes_ = true;
  } else {
    emit(fmt::format("ldx{} %r{}, [%r6{:+d}]", sfx, dst, off));
  }
  set_scalar(dst, size <= 2);
}

void Generator::packet_access() {
  if (prog_type_ != BPF_PROG_TYPE_XDP || reg(6).kind != Kind::kCtx) {
    ctx_load();
    return;
  }
  emit("ldxw %r2, [%r6+0]");
  emit("ldxw %r3, [%r6+4]");
  const int small = small_var();
  if (small >= 0 && rng_.chance(30)) {
    emit(fmt::format("mov %r4, %r{}", small));
    emit(fmt::format("and %r4, {}", rng_.pick(std::array<int, 3>{7, 15, 63})));
    emit("add %r2, %r4");
  } else if (small < 0 && mistake(4)) {
    const int any = init_var();
    if (any >= 0) emit(fmt::format("add %r2, %r{}", any));  // unbounded offset
  }
  const int checked = rng_.range(1, 64);
  constexpr std::array<int, 3> sizes = {1, 2, 4};
  int size = rng_.pick(sizes);
  int off = rng_.range(0, std::max(0, checked - size));
  if (off + size > checked && size > 1) size = 1;
  if (mistake(8)) off = checked - size + rng_.range(1, 4);  // past the checked range
  const bool check = !mistake(6);
  const std::string skip = label();
  if (check) {
    emit("mov %r4, %r2");
    emit(fmt::format("add %r4, {}", checked));
    switch (rng_.below(4)) {
      case 0: emit(fmt::format("jgt %r4, %r3, {}", skip)); break;
      case 1: emit(fmt::format("jlt %r3, %r4, {}", skip)); break;
      case 2: emit(fmt::format("jge %r3, %r4, +1\nja {}", skip)); ++insns_; break;
      default: emit(fmt::format("jle %r4, %r3, +1\nja {}", skip)); ++insns_; break;
    }
    ++branches_;
  }
  const int dst = kVars[static_cast<std::size_t>(rng_.below(3))];
  const char* sfx = size == 1 ? "b" : size == 2 ? "h" : "w";
  const GenState before = st_;
  if (rng_.chance(20)) {
    emit(fmt::format("st{} [%r2{:+d}], {}", sfx, off, rng_.range(0, 255)));
  } else {
    emit(fmt::format("ldx{} %r{}, [%r2{:+d}]", sfx, dst, off));
    set_scalar(dst, size <= 2);
  }
  if (check) {
    lines_.push_back(skip + ":");
    st_ = merge(before, st_);
  }
  for (int r = 2; r <= 4; ++r) reg(r) = RegInfo{Kind::kMixed, false};
}

void Generator::map_access() {
  const int map = rng_.below(2);
  const int key_size = map == 0 ? 8 : 4;
  const int value_size = value_size_[static_cast<std::size_t>(map)];
  const int key_off = -8 * rng_.range(1, 8);
  if (!mistake(4)) {
    if (key_size == 8) emit(fmt::format("stdw [%r10{:+d}], {}", key_off, rng_.range(0, 3)));
    else emit(fmt::format("stw [%r10{:+d}], {}", key_off, rng_.range(0, 5)));  // index 4, 5: out of range
    mark_stack(key_off, key_size);
  }
  emit("mov %r2, %r10");
  emit(fmt::format("add %r2, {}", key_off));
  const int helper = rng_.chance(75) ? 1 : rng_.chance(50) ? 3 : 2;
  if (helper == 2) {  // update: the value comes from the stack too
    const int value_off = -8 * rng_.range(9, 16) - ((value_size + 7) / 8 - 1) * 8;
    if (!mistake(4)) {
      for (int i = 0; i < value_size; i += 8) emit(fmt::format("stdw [%r10{:+d}], {}", value_off + i, rng_.range(0, 9)));
      mark_stack(value_off, value_size);
    }
    emit("mov %r3, %r10");
    emit(fmt::format("add %r3, {}", value_off));
    emit("mov %r4, 0");
  }
  if (mistake(3)) {
    emit("mov %r1, %r10");  // "R1 type=fp expected=map_ptr"
  } else {
    emit(fmt::format("lddw_map_fd %r1, {}", map));
  }
  emit(fmt::format("call {}", helper));
  clobber_call();
  if (helper != 1) return;
  // r0: a map value or NULL.
  const bool null_check = !mistake(8);
  const std::string skip = label();
  const GenState before = st_;
  if (null_check) {
    emit(rng_.chance(70) ? fmt::format("jeq %r0, 0, {}", skip) : fmt::format("jne %r0, 0, +1\nja {}", skip));
    if (lines_.back().find('\n') != std::string::npos) ++insns_;
    ++branches_;
  }
  constexpr std::array<int, 4> sizes = {1, 2, 4, 8};
  const int accesses = rng_.range(1, 2);
  for (int k = 0; k < accesses; ++k) {
    int size = rng_.pick(sizes);
    if (size > value_size) size = 1;
    int off = rng_.range(0, (value_size - size) / size) * size;
    if (mistake(6)) off = rng_.chance(70) ? value_size - size + rng_.range(1, 8) : -rng_.range(1, 8);
    const char* sfx = size == 1 ? "b" : size == 2 ? "h" : size == 4 ? "w" : "dw";
    const int dst = kVars[static_cast<std::size_t>(rng_.below(3))];
    const int src = init_var();
    if (src >= 0 && rng_.chance(30)) {
      emit(fmt::format("stx{} [%r0{:+d}], %r{}", sfx, off, src));
    } else if (rng_.chance(25) && small_var() >= 0 && k == 0) {
      // A variable offset: a masked index added to the value pointer.
      const int idx = small_var();
      const int mask = rng_.pick(std::array<int, 3>{3, 7, 15});
      emit(fmt::format("mov %r1, %r{}", idx));
      emit(fmt::format("and %r1, {}", mask));
      emit("add %r0, %r1");
      emit(fmt::format("ldxb %r{}, [%r0+0]", dst));  // may pass the end when mask >= value_size
      set_scalar(dst, true);
      reg(1) = RegInfo{Kind::kScalar, true};
      break;
    } else {
      emit(fmt::format("ldx{} %r{}, [%r0{:+d}]", sfx, dst, off));
      set_scalar(dst, size <= 2);
    }
  }
  if (null_check) {
    lines_.push_back(skip + ":");
    st_ = merge(before, st_);
  }
  reg(0) = RegInfo{Kind::kMixed, false};
}

void Generator::helper_call() {
  constexpr std::array<int, 3> helpers = {5, 7, 8};  // ktime_get_ns, get_prandom_u32, get_smp_processor_id
  emit(fmt::format("call {}", rng_.pick(helpers)));
  clobber_call();
  const int dst = kVars[static_cast<std::size_t>(rng_.below(3))];
  if (mistake(5)) {
    emit(fmt::format("mov %r{}, %r{}", dst, rng_.range(1, 5)));  // "R1 !read_ok": calls scratch r1-r5
  } else {
    emit(fmt::format("mov %r{}, %r0", dst));
  }
  set_scalar(dst, false);
}

void Generator::branch() {
  const int a = init_var();
  if (a < 0 || branches_ >= kMaxBranches) {
    alu();
    return;
  }
  constexpr std::array<const char*, 10> ops = {"jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jslt", "jset", "jsle"};
  const char* op = rng_.pick(ops);
  const char* suffix = rng_.chance(25) ? "32" : "";
  const std::string target = label();
  const int b = init_var();
  // Never a register with itself: Linux 6.18 refines `if rX < rX` to impossible bounds and
  // WARNs (reg_bounds_sanity_check, "REG INVARIANTS VIOLATION"), tainting the machine.
  if (b >= 0 && b != a && rng_.chance(40)) emit(fmt::format("{}{} %r{}, %r{}, {}", op, suffix, a, b, target));
  else emit(fmt::format("{}{} %r{}, {}, {}", op, suffix, a, rng_.range(0, 300), target));
  ++branches_;
  // Counted down after this block too: the target lands after 1 to 3 more blocks.
  pending_.push_back(PendingLabel{target, rng_.range(2, 4), st_});
}

void Generator::loop() {
  // A counted loop: r5 counts to a small bound; the body changes the variables.
  loop_done_ = true;
  const std::string head = label();
  emit("mov %r5, 0");
  lines_.push_back(head + ":");
  set_scalar(5, true);
  const bool forever = mistake(5);  // no increment: "infinite loop detected"
  if (!forever) {
    const int body = rng_.range(1, 2);
    for (int i = 0; i < body; ++i) {
      const int dst = init_var();
      if (dst < 0) break;
      emit(fmt::format("add %r{}, {}", dst, rng_.range(1, 9)));
      set_scalar(dst, false);
    }
    emit("add %r5, 1");
  }
  emit(fmt::format("jlt %r5, {}, {}", rng_.range(2, 6), head));
  ++branches_;
  reg(5) = RegInfo{Kind::kScalar, false};
}

void Generator::block() {
  // Map blocks take up to 16 instructions: near the end only small blocks fit.
  const int roll = kMaxInsns - 4 - insns_ < 18 ? rng_.below(62) % 50 : rng_.below(100);
  if (roll < 22) alu();
  else if (roll < 32) stack_store();
  else if (roll < 40) stack_load();
  else if (roll < 50) ctx_load();
  else if (roll < 62) packet_access();
  else if (roll < 76) map_access();
  else if (roll < 82) helper_call();
  else if (roll < 96) branch();
  else if (!loop_done_ && branches_ < kMaxBranches) loop();
  else alu();
}

void Generator::finish() {
  // Pending forward jumps land here, before the return value is set.
  for (const PendingLabel& p : pending_) {
    lines_.push_back(p.name + ":");
    st_ = merge(st_, p.at_jump);
  }
  pending_.clear();
  const int var = init_var();
  if (mistake(4)) {
    // r0 as the blocks left it, possibly uninitialised or a pointer: "R0 !read_ok" and friends.
  } else if (var >= 0 && rng_.chance(40)) {
    emit(fmt::format("mov %r0, %r{}", var));
  } else {
    emit(fmt::format("mov %r0, {}", rng_.range(0, 3)));
  }
  emit("exit");
}

GeneratedProgram Generator::run() {
  prog_type_ = rng_.chance(60) ? BPF_PROG_TYPE_XDP : BPF_PROG_TYPE_SOCKET_FILTER;
  constexpr std::array<int, 6> value_sizes = {8, 16, 24, 32, 48, 64};
  value_size_ = {rng_.pick(value_sizes), rng_.pick(value_sizes)};
  reg(1) = RegInfo{Kind::kCtx, false};
  reg(10) = RegInfo{Kind::kScalar, false};  // never chosen: not in kVars
  if (!mistake(3)) {
    emit("mov %r6, %r1");
    reg(6) = RegInfo{Kind::kCtx, false};
  }
  // Most programs start with some variables set; the rest are uninitialised until written.
  for (int r : kVars) {
    if (rng_.chance(60)) {
      emit(fmt::format("mov %r{}, {}", r, rng_.range(0, 100)));
      set_scalar(r, true);
    }
  }
  const int target = rng_.range(6, kMaxInsns - 10);
  while (insns_ < target) {
    block();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (--it->blocks_left <= 0) {
        lines_.push_back(it->name + ":");
        st_ = merge(st_, it->at_jump);
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  finish();

  GeneratedProgram out;
  for (const std::string& line : lines_) out.asm_text += line + "\n";
  out.has_mistake = mistakes_;
  nlohmann::json j;
  j["name"] = fmt::format("random {}", seed_);
  j["prog_type"] = prog_type_ == BPF_PROG_TYPE_XDP ? "xdp" : "socket_filter";
  j["asm"] = out.asm_text;
  j["maps"] = nlohmann::json::array({
      {{"type", "hash"}, {"key_size", 8}, {"value_size", value_size_[0]}, {"max_entries", 4}},
      {{"type", "array"}, {"key_size", 4}, {"value_size", value_size_[1]}, {"max_entries", 4}},
  });
  out.case_json = j.dump();
  auto parsed = verifier::parse_case(out.case_json);
  if (!parsed) throw std::logic_error("generated program does not assemble: " + parsed.error().to_string() + "\n" + out.asm_text);
  out.program = std::move(*parsed);
  return out;
}

}  // namespace

GeneratedProgram generate_program(uint64_t seed) { return Generator(seed).run(); }

}  // namespace bpfvm::test
