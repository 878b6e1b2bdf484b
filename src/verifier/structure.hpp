// The verifier's structural pass, in the order and words of Linux's bpf_check(): subprograms
// from call and callback targets, jumps that stay inside their subprogram, a last instruction
// that cannot fall through, known opcodes and well-formed ld_imm64, then a depth-first walk of
// the control-flow graph that finds unreachable instructions and jumps into an ld_imm64.
// Path-sensitive safety analysis comes after this pass.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <span>
#include <string>
#include <vector>

#include "isa/insn.hpp"
#include "support/result.hpp"

namespace bpfvm::verifier {

// A rejection as the kernel reports it: the errno of BPF_PROG_LOAD, the message it logs, the
// instruction it is about.
struct Rejection {
  int error = 0;            // EINVAL, EACCES, E2BIG, ...
  std::string message;      // the kernel's log line, without its newline
  std::optional<std::size_t> insn;
};

struct Subprogram {
  std::size_t start = 0;    // first instruction
  std::size_t end = 0;      // one past the last
};

struct Structure {
  std::vector<isa::Insn> insns;        // decoded (ld_imm64 tails included)
  std::vector<Subprogram> subprograms; // sorted by start; [0] is the main program
};


// The most instructions a privileged program may have (BPF_COMPLEXITY_LIMIT_INSNS).
inline constexpr std::size_t kMaxInsns = 1'000'000;

[[nodiscard]] std::variant<Structure, Rejection> check_structure(std::span<const isa::RawInsn> insns);

}  // namespace bpfvm::verifier
