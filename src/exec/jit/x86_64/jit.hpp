// bpfvm's x86-64 JIT: translates a decoded program into native code with the interpreter's
// semantics (src/exec/interpreter.hpp is the reference), through asmjit.
//
// There is no verifier yet, so by default the generated code runs in checked mode: every load,
// store and atomic is bounds-checked against the stack and RunOptions::regions, and taken
// backward jumps and calls spend RunOptions::branch_limit, exactly as the interpreter does.
//
// Helpers get a HelperHost that checks their pointer arguments the same way (checked mode
// only), calls back into the program (bpf_loop, bpf_for_each_map_elem) and switches programs
// (bpf_tail_call, to a target's JIT code compiled in the same mode).
//
// Reads of registers nobody wrote end the run with the interpreter's "R%d !read_ok", in
// checked mode: an analysis when compiling (exec/register_use.hpp) decides each read that is
// written on every path or on none; a program with a read written on some paths only (or with
// callx) tracks writes at run time instead (tracks_registers()). Registers a helper call or a
// tail call leaves unwritten hold zero, in both engines.
//
// Differences from the interpreter, for unverified programs only: the analysis assumes r1 is
// written at entry (RunOptions::initialized_args >= 1, as every caller passes), and a callback
// into an instruction no ld_imm64 names (a forged subprogram address) is refused unless the
// code tracks registers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "exec/interpreter.hpp"
#include "helpers/helper_table.hpp"
#include "isa/insn.hpp"
#include "support/result.hpp"
#include "verifier/facts.hpp"

namespace bpfvm::jit {

struct JitState;

// Maps whose lookups unchecked code does without the helper, as the interpreter does.
using MapLookup = bpfvm::MapLookup;

struct JitOptions {
  // Bounds-check memory accesses and spend the branch budget at run time. Only a verifier
  // that proved every access safe and every loop bounded may turn this off.
  bool checked = true;
  // Use BMI2 (shlx/shrx/sarx) for shifts by a register when the host has it. Off: the
  // portable sequence through cl (tests turn it off to cover that path).
  bool use_bmi2 = true;
  // Known constants: within a basic block, registers whose value is known at compile time
  // (set by an immediate, or computed from such) are folded into the operations that use
  // them: an operation on known values becomes a mov of its result, a register operand
  // becomes an immediate, a comparison of known values a jump or nothing. Upper bounds of
  // registers are kept the same way (after loads, `&=`, `>>=`, 32-bit operations): an
  // inline array lookup with a key register below max_entries has no range check. Off: each
  // instruction as it is (tests turn it off to compare the two).
  bool propagate_constants = true;
  // ld_imm64 map references were resolved by a loader (Interpreter::create's `relocated`).
  bool relocated = false;
  // Unchecked mode only: maps whose lookups run without the helper (ARRAY maps inline, the
  // others by a direct call) where the map reference feeding r1 of the call is an ld_imm64 in
  // the same basic block.
  std::vector<MapLookup> map_lookups{};
  // What the verifier proved per instruction (by pc; ignored unless one per instruction):
  // dead code is left out, decided branches become a jump or nothing, divisions skip the
  // cases their divisor cannot take (or divide by the constant it holds), redundant
  // zero-extensions vanish. The loader passes them for verified programs (unchecked code);
  // tests pass them to checked code too, where a wrong fact shows as a difference from the
  // interpreter.
  std::vector<verifier::InsnFacts> facts{};
};

// Whether this build and host can run JIT-compiled code (x86-64 only).
[[nodiscard]] bool jit_available();

class JitProgram {
 public:
  // Checks the program as Interpreter::create does (control flow, helpers, ld_imm64 sources),
  // then translates it. The helper table must outlive the JitProgram (callx looks helpers up).
  [[nodiscard]] static Result<JitProgram> compile(std::vector<isa::Insn> program, const HelperTable& helpers,
                                                  JitOptions options = {});

  // Runs the program; same results and errors as Interpreter::run. Safe to call from many
  // threads at once: each run keeps its state (BPF stack included) on the calling thread's stack.
  [[nodiscard]] Result<uint64_t> run(const RunOptions& options) const;

  // The generated code, disassembled (capstone), interleaved with the BPF instruction each
  // block comes from, like `bpftool prog dump jited`.
  [[nodiscard]] std::string dump() const;

  [[nodiscard]] const std::vector<isa::Insn>& insns() const { return insns_; }
  [[nodiscard]] bool checked() const { return checked_; }
  // Checked code whose register reads the compile-time analysis could not all decide: it
  // tracks register writes at run time (slower). Programs clang writes never need it.
  [[nodiscard]] bool tracks_registers() const { return tracking_; }
  [[nodiscard]] const uint8_t* code() const { return code_; }
  [[nodiscard]] std::size_t code_size() const { return code_size_; }

  JitProgram(JitProgram&& other) noexcept;
  JitProgram& operator=(JitProgram&& other) noexcept;
  JitProgram(const JitProgram&) = delete;
  JitProgram& operator=(const JitProgram&) = delete;
  ~JitProgram();

  // Where each part of the code starts (byte offsets into code()), for dump().
  struct Layout {
    std::size_t body = 0;                 // first BPF instruction
    std::vector<std::size_t> insn_start;  // by pc; ld_imm64 tails repeat the head's end
    std::size_t out_of_line = 0;          // failure paths and shared stubs
    std::size_t callback_entry = 0;       // where helpers re-enter the code for callbacks (0: none)
    std::size_t data = 0;                 // jump table for callx (== code size if none)
  };

 private:
  JitProgram() = default;
  void release();
  [[nodiscard]] Result<uint64_t> run_on(JitState& st, const RunOptions& options) const;
  // The error a run that stopped with st.status reports (as Interpreter::run words it).
  [[nodiscard]] Error failure(const JitState& st) const;
  friend class JitHost;

  std::vector<isa::Insn> insns_;
  const HelperTable* helpers_ = nullptr;
  bool checked_ = true;
  uint64_t serial_ = 0;                 // unique per compile: who last used a thread's stack
  bool tracking_ = false;               // checked code tracks register writes at run time
  std::vector<uint8_t> callback_entry_;  // checked, not tracking: where callbacks may start
  uint8_t* code_ = nullptr;     // mapped read+exec
  std::size_t code_size_ = 0;   // bytes of code and data
  std::size_t mapped_size_ = 0; // bytes mapped (page-rounded)
  Layout layout_;
};

}  // namespace bpfvm::jit
