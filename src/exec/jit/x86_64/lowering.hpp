// Lowering of a checked program to x86-64 through asmjit's assembler. Internal to the JIT.
#pragma once

#include <asmjit/x86.h>

#include <span>
#include <vector>

#include "exec/jit/x86_64/jit.hpp"
#include "exec/register_use.hpp"
#include "helpers/helper_table.hpp"
#include "isa/insn.hpp"
#include "support/result.hpp"

namespace bpfvm::jit::detail {

struct LowerInput {
  std::span<const isa::Insn> insns;   // ld_imm64 of maps: the value to load is in the tail's imm64
  std::span<const Helper* const> helper_at;  // by pc: the helper a CallHelper calls
  JitOptions options;
  bool bmi2 = false;                    // host has BMI2 and the options allow it
  // Checked mode: which reads of unwritten registers to report ("R%d !read_ok"), and whether
  // run time tracks writes (JitState::init) to decide the rest. Null: no such checks.
  const regs::InitAnalysis* init = nullptr;
};

// Labels of the parts of the code, for JitProgram's layout and dump.
struct LoweredLabels {
  asmjit::Label entry;                 // the function JitEntry points to
  asmjit::Label callback_entry;        // the function JitCallbackEntry points to
  asmjit::Label body;
  std::vector<asmjit::Label> insn;     // by pc, where something jumps or calls to
  std::vector<std::size_t> insn_offset;  // by pc: where its code starts
  asmjit::Label out_of_line;
  asmjit::Label data;                  // jump table (bound at the very end if there is none)
};

// Emits the whole program into `code` (initialised for the host). Errors are internal: the
// input was checked before.
[[nodiscard]] Result<LoweredLabels> lower(asmjit::CodeHolder& code, const LowerInput& input);

}  // namespace bpfvm::jit::detail
