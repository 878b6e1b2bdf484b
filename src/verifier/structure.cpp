#include "verifier/structure.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <set>

namespace bpfvm::verifier {
namespace {

using isa::RawInsn;

constexpr uint8_t kClassLdx = 0x01, kClassJmp = 0x05, kClassJmp32 = 0x06;
constexpr uint8_t kCall = 0x80, kExit = 0x90, kJa = 0x00;
constexpr uint8_t kPseudoCall = 1, kPseudoKfuncCall = 2, kPseudoFunc = 4;

uint8_t cls(const RawInsn& i) { return i.code & 0x07; }
uint8_t op(const RawInsn& i) { return i.code & 0xf0; }
bool is_ldimm64(const RawInsn& i) { return i.code == 0x18; }
bool is_pseudo_call(const RawInsn& i) { return i.code == (kClassJmp | kCall) && i.src() == kPseudoCall; }
bool is_pseudo_func(const RawInsn& i) { return is_ldimm64(i) && i.src() == kPseudoFunc; }

Rejection reject(int error, std::string message, std::optional<std::size_t> insn = std::nullopt) {
  return Rejection{error, std::move(message), insn};
}

// add_subprog_and_kfunc(): every call or callback target starts a subprogram.
std::variant<std::vector<Subprogram>, Rejection> find_subprograms(std::span<const RawInsn> insns) {
  std::set<std::size_t> starts = {0};
  const auto n = static_cast<int64_t>(insns.size());
  for (std::size_t i = 0; i < insns.size(); ++i) {
    const RawInsn& insn = insns[i];
    if (insn.code == (kClassJmp | kCall) && insn.src() == kPseudoKfuncCall) {
      return reject(EINVAL, "calls to kernel functions (kfuncs) are not supported by bpfvm", i);
    }
    if (!is_pseudo_call(insn) && !is_pseudo_func(insn)) continue;
    const int64_t target = static_cast<int64_t>(i) + insn.imm + 1;
    if (target < 0 || target >= n) return reject(EINVAL, "call to invalid destination", i);
    starts.insert(static_cast<std::size_t>(target));
  }
  std::vector<Subprogram> subprograms;
  for (auto it = starts.begin(); it != starts.end(); ++it) {
    auto next = std::next(it);
    subprograms.push_back(Subprogram{*it, next == starts.end() ? insns.size() : *next});
  }
  return subprograms;
}

// check_subprogs(): jumps stay inside their subprogram, which must not fall into the next.
std::optional<Rejection> check_subprograms(std::span<const RawInsn> insns, const std::vector<Subprogram>& subprograms) {
  std::size_t current = 0;
  for (std::size_t i = 0; i < insns.size(); ++i) {
    const RawInsn& insn = insns[i];
    const Subprogram& sub = subprograms[current];
    if ((cls(insn) == kClassJmp || cls(insn) == kClassJmp32) && op(insn) != kExit && op(insn) != kCall) {
      const int64_t target = static_cast<int64_t>(i) + 1 + (insn.code == (kClassJmp32 | kJa) ? insn.imm : insn.off);
      if (target < static_cast<int64_t>(sub.start) || target >= static_cast<int64_t>(sub.end)) {
        return reject(EINVAL, fmt::format("jump out of range from insn {} to {}", i, target), i);
      }
    }
    if (i == sub.end - 1) {
      if (insn.code != (kClassJmp | kExit) && insn.code != (kClassJmp32 | kJa) && insn.code != (kClassJmp | kJa)) {
        return reject(EINVAL, "last insn is not an exit or jmp", i);
      }
      ++current;
    }
  }
  return std::nullopt;
}

// resolve_pseudo_ldimm64(): LDX fields, complete ld_imm64, known opcodes.
std::optional<Rejection> check_opcodes(std::span<const RawInsn> insns) {
  for (std::size_t i = 0; i < insns.size(); ++i) {
    const RawInsn& insn = insns[i];
    if (cls(insn) == kClassLdx && (((insn.code & 0xe0) != 0x60 && (insn.code & 0xe0) != 0x80) || insn.imm != 0)) {
      return reject(EINVAL, "BPF_LDX uses reserved fields", i);
    }
    if (is_ldimm64(insn)) {
      const bool complete = i + 1 < insns.size() && insns[i + 1].code == 0 && insns[i + 1].regs == 0 &&
                            insns[i + 1].off == 0;
      if (!complete) return reject(EINVAL, "invalid bpf_ld_imm64 insn", i);
      const uint8_t src = insn.src();
      if (src == 3 || src > 6 || ((src == 1 || src == 5) && insns[i + 1].imm != 0)) {
        // BTF ids need kernel BTF, which bpfvm has none of.
        return reject(EINVAL, "unrecognized bpf_ld_imm64 insn", i);
      }
      ++i;
      continue;
    }
    if (!isa::kernel_knows_code(insn.code)) return reject(EINVAL, fmt::format("unknown opcode {:02x}", insn.code), i);
  }
  return std::nullopt;
}

// check_cfg(): a depth-first walk from the first instruction; back-edges (loops) are allowed,
// as for privileged programs; every instruction must be reached.
std::optional<Rejection> check_cfg(std::span<const RawInsn> insns) {
  enum State : uint8_t { kUnseen, kDiscovered, kExplored };
  const auto n = static_cast<int64_t>(insns.size());
  std::vector<State> state(insns.size(), kUnseen);
  std::vector<std::pair<std::size_t, std::vector<int64_t>>> stack;
  auto successors = [&](std::size_t t) {
    const RawInsn& insn = insns[t];
    const auto next = static_cast<int64_t>(t) + 1;
    std::vector<int64_t> out;
    if (is_ldimm64(insn)) {
      out.push_back(next + 1);
      if (is_pseudo_func(insn)) out.push_back(next + insn.imm);
      return out;
    }
    if (cls(insn) != kClassJmp && cls(insn) != kClassJmp32) {
      out.push_back(next);
      return out;
    }
    switch (op(insn)) {
      case kExit: return out;
      case kCall:
        out.push_back(next);
        if (is_pseudo_call(insn)) out.push_back(next + insn.imm);
        return out;
      case kJa: out.push_back(next + (cls(insn) == kClassJmp32 ? insn.imm : insn.off)); return out;
      default:
        out.push_back(next);
        out.push_back(next + insn.off);
        return out;
    }
  };
  state[0] = kDiscovered;
  stack.emplace_back(0, successors(0));
  while (!stack.empty()) {
    auto& [t, todo] = stack.back();
    if (todo.empty()) {
      state[t] = kExplored;
      stack.pop_back();
      continue;
    }
    const int64_t w = todo.front();
    todo.erase(todo.begin());
    if (w < 0 || w >= n) return reject(EINVAL, fmt::format("jump out of range from insn {} to {}", t, w), t);
    if (state[static_cast<std::size_t>(w)] == kUnseen) {
      state[static_cast<std::size_t>(w)] = kDiscovered;
      stack.emplace_back(static_cast<std::size_t>(w), successors(static_cast<std::size_t>(w)));
    }
  }
  for (std::size_t i = 0; i < insns.size(); ++i) {
    if (state[i] != kExplored) return reject(EINVAL, fmt::format("unreachable insn {}", i), i);
    if (is_ldimm64(insns[i])) {
      if (state[i + 1] != kUnseen) return reject(EINVAL, fmt::format("jump into the middle of ldimm64 insn {}", i), i);
      ++i;
    }
  }
  return std::nullopt;
}

}  // namespace

std::variant<Structure, Rejection> check_structure(std::span<const RawInsn> insns) {
  if (insns.empty()) return reject(EINVAL, "a program needs at least one instruction (BPF_PROG_LOAD insn_cnt 0)");
  if (insns.size() > kMaxInsns) {
    return reject(E2BIG, fmt::format("the program has {} instructions, more than the {} a program may have",
                                     insns.size(), kMaxInsns));
  }
  auto subprograms = find_subprograms(insns);
  if (auto* r = std::get_if<Rejection>(&subprograms)) return *r;
  auto& subs = std::get<std::vector<Subprogram>>(subprograms);
  if (auto r = check_subprograms(insns, subs)) return *r;
  if (auto r = check_opcodes(insns)) return *r;
  if (auto r = check_cfg(insns)) return *r;
  // The kernel checks the rest of each instruction when its path analysis reaches it; every
  // instruction is reachable now, so checking them in order finds the same faults.
  auto decoded = isa::decode(insns, isa::DecodeOptions{.linux_compatible = true});
  if (!decoded) {
    // The kernel finds a write to r10 in check_reg_arg(), which answers EACCES.
    const int error = decoded.error().message == "frame pointer is read only" ? EACCES : EINVAL;
    return reject(error, decoded.error().message, decoded.error().insn);
  }
  return Structure{std::move(*decoded), std::move(subs)};
}

}  // namespace bpfvm::verifier
