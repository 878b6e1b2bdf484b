// Explanations of rejections, beyond the kernel's one line: the instruction and the C source
// line it comes from, the branch decisions that led there, where the offending register got
// its value, and what to change in the source.
#pragma once

#include <span>
#include <string>

#include "isa/insn.hpp"
#include "verifier/case_file.hpp"
#include "verifier/verifier.hpp"

namespace bpfvm::verifier {

// Plain text, several lines, ending in a newline; "" for an accepted program.
[[nodiscard]] std::string explain(const Verdict& verdict, const ProgramCase& program);

}  // namespace bpfvm::verifier
