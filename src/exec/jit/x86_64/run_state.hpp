// The per-run state the generated code works on: one JitState per run, on the calling thread's
// stack, its address pinned in r12. The generated code addresses its fields by offsetof, so
// this layout is the contract between the lowering (lowering.cpp) and JitProgram::run.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "exec/interpreter.hpp"
#include "helpers/helper_table.hpp"
#include "isa/insn.hpp"

namespace bpfvm::jit {

// Why the generated code stopped early (JitState::status).
enum class Status : uint32_t {
  kOk = 0,        // exit, a helper asking to stop, or an LD_ABS out of bounds: r0 is the result
  kBadAccess,     // load/store/atomic outside the stack and regions; value = address
  kMisaligned,    // atomic not aligned to its size; value = address
  kBranchLimit,   // RunOptions::branch_limit spent; pc = the jump's target
  kCallDepth,     // a ninth frame
  kKfunc,         // kernel function call
  kCallxBad,      // callx to neither a subprogram nor a helper; value = the register
  kTailCallJit,   // bpf_tail_call to a program without JIT code of the same mode
  kNotReadOk,     // read a register nobody wrote; value = the register
  kInternal,      // executed something that is never executed (an ld_imm64 tail)
};

// Where an access of 2^k bytes may go in one memory region: address - base < limit[write][k].
// A limit of 0 lets nothing through (region smaller than the access, or read-only for writes).
struct RegionCheck {
  uint64_t base = 0;
  std::array<std::array<uint64_t, 4>, 2> limit{};
};

inline constexpr std::size_t kJitStackBytes = kMaxCallFrames * kStackSize;
inline constexpr std::size_t kInlineRegions = 4;

class JitProgram;

struct JitState {
  HelperContext ctx;            // handed to helpers (r9); first, so a helper's ctx is the state
  uint64_t host_rsp = 0;        // rsp after the prologue: early exits restore it
  uint64_t exit_to = 0;         // ... and jump here: the epilogue of the entry or callback entry
  uint64_t budget = 0;          // taken-branch budget while r9 holds a helper's ctx
  uint64_t may_goto_left = kMayGotoBudget;
  uint64_t stack_lo = 0;        // address of stack[0]
  const RegionCheck* regions = nullptr;
  uint64_t region_count = 0;
  RegionCheck first;            // regions[0], checked inline before the stub walks them all
  const uint8_t* packet = nullptr;
  uint64_t packet_size = 0;
  uint32_t depth = 0;           // nested bpf-to-bpf calls
  Status status = Status::kOk;
  uint32_t init = 0;            // registers written (bit n: rn), when the code tracks them
  uint64_t error_pc = 0;
  uint64_t error_value = 0;
  const isa::Insn* error_program = nullptr;  // the instructions error_pc indexes (tail calls)
  uint64_t callx_value = 0;     // the register callx found to be no subprogram
  const HelperTable* helpers = nullptr;
  std::array<uint64_t, 5> args{};  // r1-r5 at entry, and for each callback
  const isa::Insn* program = nullptr;  // the program of the last helper call (callbacks are its)
  uint64_t tail_target = 0;       // set by bpf_tail_call: the body of the program to continue as
  uint64_t tail_ctx = 0;          // ... with r1 = this
  uint32_t tail_calls = 0;        // in this run, at most kMaxTailCalls
  uint32_t entered_count = 0;
  // Programs this run entered (itself, then tail call targets), to find a callback's code.
  std::array<const JitProgram*, kMaxTailCalls + 1> entered{};
  std::array<RegionCheck, kInlineRegions> inline_regions{};
  alignas(16) std::array<uint8_t, kJitStackBytes> stack;
};

static_assert(std::is_standard_layout_v<JitState>, "the generated code uses offsetof");
static_assert(offsetof(JitState, ctx) == 0, "a helper's HelperContext& is the JitState");
static_assert(offsetof(JitState, stack) % 16 == 0);

using JitEntry = uint64_t (*)(JitState* state);
// Re-enters the code for a callback: a new frame at `target` (native code of instruction
// `target_pc`), r1-r5 from state.args.
using JitCallbackEntry = uint64_t (*)(JitState* state, uint64_t target, uint64_t target_pc);

}  // namespace bpfvm::jit
