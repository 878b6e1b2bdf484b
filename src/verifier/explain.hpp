// Explanations of rejections, beyond the kernel's one line: the instruction and the C source
// line it comes from, the branch decisions that led there, where the offending register got
// its value, and what to change in the source.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "isa/insn.hpp"
#include "verifier/case_file.hpp"
#include "verifier/verifier.hpp"

namespace bpfvm::verifier {

// Plain text, several lines, ending in a newline; "" for an accepted program.
[[nodiscard]] std::string explain(const Verdict& verdict, const ProgramCase& program);

// What the verifier proved about an accepted program that changes its code (the facts the
// JIT uses, facts.hpp), instruction by instruction: a run of dead instructions is one entry.
struct FactNote {
  std::size_t first = 0;  // instruction index
  std::size_t last = 0;   // == first, but for a run of dead instructions
  std::string insn;       // the first instruction, kernel syntax
  std::vector<std::string> facts;  // "never taken", "divisor is never 0", ...
};
[[nodiscard]] std::vector<FactNote> fact_notes(std::span<const isa::Insn> insns, std::span<const InsnFacts> facts);

}  // namespace bpfvm::verifier
