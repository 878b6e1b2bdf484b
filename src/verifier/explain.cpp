#include "verifier/explain.hpp"

#include <fmt/format.h>

#include <optional>
#include <regex>

#include "isa/disasm.hpp"

namespace bpfvm::verifier {
namespace {

// The source line covering instruction `insn`, if the program has line info.
const SourceLine* line_of(const ProgramCase& program, std::size_t insn) {
  const SourceLine* best = nullptr;
  for (const SourceLine& l : program.lines) {
    if (l.insn > insn) break;
    best = &l;
  }
  return best;
}

std::string where(const ProgramCase& program, std::size_t insn) {
  const SourceLine* l = line_of(program, insn);
  if (!l || l->line == 0) return "";
  std::string file = l->file;
  if (const auto slash = file.rfind('/'); slash != std::string::npos) file = file.substr(slash + 1);
  std::string text = l->text;
  const auto first = text.find_first_not_of(" \t");
  text = first == std::string::npos ? "" : text.substr(first);
  return fmt::format("{}:{}: {}", file, l->line, text);
}

std::string line_ref(const ProgramCase& program, std::size_t insn) {
  const SourceLine* l = line_of(program, insn);
  return l && l->line ? fmt::format("line {}", l->line) : fmt::format("insn {}", insn);
}

std::optional<int> number_after(const std::string& text, const std::string& key) {
  const std::regex re(key + "=(-?[0-9]+)");
  std::smatch m;
  if (!std::regex_search(text, m, re)) return std::nullopt;
  return std::stoi(m[1]);
}

// The register the message is about: the first "R<n>" it names, else the memory operand.
std::optional<int> offending_register(const std::string& message, const isa::Insn* insn) {
  static const std::regex re("\\bR([0-9]+)\\b");
  std::smatch m;
  if (std::regex_search(message, m, re)) return std::stoi(m[1]);
  if (insn && insn->info().is_mem()) {
    const auto kind = insn->info().kind;
    return kind == isa::Kind::kLoad || kind == isa::Kind::kLoadSx ? insn->src : insn->dst;
  }
  return std::nullopt;
}

std::string helper_name(const isa::Insn* insn) {
  if (!insn || insn->info().kind != isa::Kind::kCallHelper) return "the helper";
  return isa::kernel_helper_name(insn->imm).value_or(fmt::format("helper #{}", insn->imm)) + "()";
}

// What to change, by the kind of rejection.
std::string suggestion(const Verdict& v, const ProgramCase& program, const isa::Insn* insn,
                       std::optional<int> regno, const std::vector<isa::Insn>& insns) {
  const std::string& msg = v.message;
  const std::size_t at = v.insn.value_or(0);
  const std::string here = line_ref(program, at);
  auto defined_by_call = [&](int r) -> std::string {
    if (r < 0 || static_cast<std::size_t>(r) >= v.defined_at.size()) return "";
    const int64_t d = v.defined_at[static_cast<std::size_t>(r)];
    if (d < 0 || static_cast<std::size_t>(d) >= insns.size()) return "";
    return helper_name(&insns[static_cast<std::size_t>(d)]);
  };
  if (msg.find("_or_null'") != std::string::npos || msg.find("null-check it first") != std::string::npos) {
    std::string from = regno ? defined_by_call(*regno) : "";
    if (from.empty() || from == "the helper") from = "the helper that returned it";
    return fmt::format("{} returns NULL when it finds nothing: check the pointer before {}, e.g. "
                       "`if (!p) return 0;`, and use it only where it is not NULL.",
                       from, here);
  }
  if (msg.find("expected=map_ptr") != std::string::npos) {
    return fmt::format("argument R{} of {} must be a map defined in SEC(\".maps\") (pass &my_map), not {}.",
                       regno.value_or(1), helper_name(insn),
                       msg.find("type=fp") != std::string::npos ? "a pointer to a variable on the stack" : "this value");
  }
  if (msg.find("type=") != std::string::npos && msg.find("expected=") != std::string::npos) {
    return fmt::format("argument R{} of {} has the wrong kind of value; see the helper's prototype in bpf-helpers(7).",
                       regno.value_or(1), helper_name(insn));
  }
  if (msg.find("GPL-restricted") != std::string::npos) {
    return fmt::format("{} is only for GPL-compatible programs: declare the license, e.g. "
                       "`char LICENSE[] SEC(\"license\") = \"Dual BSD/GPL\";`.",
                       helper_name(insn));
  }
  if (msg.starts_with("invalid access to map value")) {
    const int size = number_after(msg, "value_size").value_or(0);
    const int off = number_after(msg, "off").value_or(0);
    const int len = number_after(msg, " size").value_or(0);
    return fmt::format("the value is {} bytes long and {} accesses {} byte(s) at offset {}, outside it; keep every "
                       "access inside the value (check an index against the array's length before indexing).",
                       size, here, len, off);
  }
  if (msg.starts_with("invalid access to packet")) {
    const int off = number_after(msg, "off").value_or(0);
    const int size = number_after(msg, "size").value_or(1);
    return fmt::format("compare with the end of the packet before {}: the access needs {} bytes from the start "
                       "of its pointer, e.g. `if (data + {} > data_end) return XDP_DROP;` (for a header struct: "
                       "`if ((void *)(hdr + 1) > data_end)`).",
                       here, off + size, off + size);
  }
  if (msg.find("min value is negative") != std::string::npos || msg.find("max value is outside") != std::string::npos ||
      msg.find("min value is outside") != std::string::npos || msg.find("unbounded memory access") != std::string::npos) {
    return fmt::format("bound the index before using it at {}: an unsigned type and `if (i >= LEN) return 0;` "
                       "(or `i &= LEN - 1` for a power of two).",
                       here);
  }
  if (msg.find("!read_ok") != std::string::npos) {
    return fmt::format("R{} is read at {} before anything was written to it on this path: an uninitialised "
                       "variable, or a value kept in R1-R5 across a helper call (calls overwrite R1-R5).",
                       regno.value_or(0), here);
  }
  if (msg.starts_with("invalid bpf_context access")) {
    return "this program type's context has no field there (or not of that size, or not writable): use the "
           "fields of the context struct the section's program type gets.";
  }
  if (msg.starts_with("Unreleased reference")) {
    return "every bpf_ringbuf_reserve() needs a bpf_ringbuf_submit() or bpf_ringbuf_discard() on every path "
           "after the NULL check.";
  }
  if (msg.starts_with("program of this type cannot use helper")) {
    return fmt::format("{} is not available to this program type; pick another section (SEC) type or another "
                       "helper.",
                       helper_name(insn));
  }
  if (msg.starts_with("infinite loop") || msg == "BPF program is too complex") {
    return "give the loop a bound the verifier can see (a constant trip count, or bpf_loop()).";
  }
  if (msg == "div by zero") return "the divisor is the constant 0.";
  if (msg.find("pointer arithmetic") != std::string::npos || msg.find("on pointer prohibited") != std::string::npos) {
    return "only add or subtract scalars to pointers, and only after a NULL check.";
  }
  return "";
}

}  // namespace

std::string explain(const Verdict& v, const ProgramCase& program) {
  if (v.accepted) return "";
  auto decoded = isa::decode(program.insns, isa::DecodeOptions{.linux_compatible = true});
  std::vector<isa::Insn> insns = decoded ? std::move(*decoded) : std::vector<isa::Insn>{};
  const isa::Insn* insn = v.insn && *v.insn < insns.size() ? &insns[*v.insn] : nullptr;

  std::string out;
  if (v.insn) {
    out += fmt::format("insn {}: {}\n", *v.insn, insn ? isa::kernel_text(*insn) : "");
    if (const std::string w = where(program, *v.insn); !w.empty()) out += fmt::format("  {}\n", w);
  }
  out += fmt::format("why: {}\n", v.message);
  const auto regno = offending_register(v.message, insn);
  if (regno && static_cast<std::size_t>(*regno) < v.registers.size()) {
    const auto r = static_cast<std::size_t>(*regno);
    const std::string& state = v.registers[r];
    const int64_t d = v.defined_at[r];
    if (state.empty()) {
      out += fmt::format("  R{} holds nothing here\n", r);
    } else if (d >= 0 && static_cast<std::size_t>(d) < insns.size()) {
      const std::string w = where(program, static_cast<std::size_t>(d));
      out += fmt::format("  R{} is {}: set by insn {}: {}{}\n", r, state, d, isa::kernel_text(insns[static_cast<std::size_t>(d)]),
                         w.empty() ? "" : " (" + w + ")");
    } else if (r == 1 || r == 10) {
      out += fmt::format("  R{} is {}: {} on entry\n", r, state, r == 1 ? "the context" : "the frame pointer");
    } else {
      out += fmt::format("  R{} is {}\n", r, state);
    }
  }
  if (!v.path.empty()) {
    out += "  path:";
    const char* sep = " ";
    // The last decisions matter most; a loop can make thousands.
    constexpr std::size_t kShown = 12;
    std::size_t first = 0;
    if (v.path.size() > kShown) {
      first = v.path.size() - kShown;
      out += fmt::format(" ({} earlier decisions)", first);
      sep = ", ";
    }
    for (const PathStep& step : std::span(v.path).subspan(first)) {
      out += fmt::format("{}{} -> {} ({})", sep, step.insn, step.target,
                         step.target == step.insn + 1 ? "fall through" : "jump");
      sep = ", ";
    }
    out += "\n";
  }
  if (const std::string s = suggestion(v, program, insn, regno, insns); !s.empty()) out += fmt::format("fix: {}\n", s);
  return out;
}

std::vector<FactNote> fact_notes(std::span<const isa::Insn> insns, std::span<const InsnFacts> facts) {
  std::vector<FactNote> notes;
  for (std::size_t pc = 0; pc < insns.size() && pc < facts.size(); ++pc) {
    const isa::Insn& i = insns[pc];
    if (i.op == isa::Op::LdImm64Tail) continue;  // data of the ld_imm64 before it
    const InsnFacts& f = facts[pc];
    if (!f.reached) {
      if (!notes.empty() && !facts[notes.back().first].reached &&
          (notes.back().last + 1 == pc || (notes.back().last + 2 == pc && insns[pc - 1].op == isa::Op::LdImm64Tail))) {
        notes.back().last = pc;
      } else {
        notes.push_back(FactNote{pc, pc, isa::kernel_text(i), {"dead: no path reaches it"}});
      }
      continue;
    }
    std::vector<std::string> said;
    if (f.branch == BranchFact::kAlwaysTaken) said.emplace_back("always taken");
    if (f.branch == BranchFact::kNeverTaken) said.emplace_back("never taken");
    if (f.divisor_known) {
      said.push_back(fmt::format("divisor is always {}", f.divisor));
    } else {
      if (f.divisor_nonzero) said.emplace_back("divisor is never 0");
      if (f.divisor_not_minus_one) said.emplace_back("divisor is never -1");
    }
    if (f.key_known) {
      said.push_back(fmt::format("array key is always {}: the lookup is an address, never NULL", f.key));
    } else if (f.key_in_range) {
      said.emplace_back("array key is always below max_entries: the lookup is never NULL");
    }
    if (f.upper32_zero & (1U << i.dst)) {
      said.push_back(fmt::format("upper half of r{} already zero: the zero-extension is free", i.dst));
    }
    if (!said.empty()) notes.push_back(FactNote{pc, pc, isa::kernel_text(i), std::move(said)});
  }
  return notes;
}

}  // namespace bpfvm::verifier
