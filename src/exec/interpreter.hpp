// The reference interpreter: RFC 9669 / Linux semantics for every operation in the opcode
// table. Memory accesses are checked against the regions the caller allows and the stack;
// a bad access ends the run with an error naming the instruction, never a host crash.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "helpers/helper_table.hpp"
#include "isa/insn.hpp"
#include "support/result.hpp"

namespace bpfvm {

inline constexpr std::size_t kStackSize = 512;       // bytes per frame (MAX_BPF_STACK)
inline constexpr std::size_t kMaxCallFrames = 8;     // MAX_CALL_FRAMES: main + 7 nested calls
inline constexpr uint64_t kMayGotoBudget = 8u << 20; // BPF_MAX_LOOPS: may_goto falls through this often

struct MemoryRegion {
  uint8_t* data = nullptr;
  std::size_t size = 0;
  bool writable = true;
};

struct RunOptions {
  std::array<uint64_t, 5> args{};   // initial r1..r5
  unsigned initialized_args = 1;    // r1..rN count as written at entry (the kernel passes r1 only)
  std::vector<MemoryRegion> regions; // memory the program may access besides its stack
  std::span<const uint8_t> packet;  // what LD_ABS / LD_IND read
  // Taken jumps and calls before the run is stopped with an error (0: no limit). Only
  // unverified programs can loop forever; this keeps them from hanging the host.
  uint64_t branch_limit = uint64_t{1} << 32;
  uint32_t prog_type = 0;            // BPF_PROG_TYPE_*: helpers such as bpf_redirect differ by type
  void* context = nullptr;           // the context r1 points to (helpers taking ctx check it)
  TraceSink* trace = nullptr;        // bpf_printk output; dropped when null
  void* user = nullptr;              // for embedders' helpers
};

class Interpreter {
 public:
  // Checks the program can be run: decoded, control flow valid (isa::check_control_flow), every
  // helper call names a helper in the table, ld_imm64 pseudo sources resolved.
  [[nodiscard]] static Result<Interpreter> create(std::vector<isa::Insn> program, const HelperTable& helpers);

  [[nodiscard]] Result<uint64_t> run(const RunOptions& options) const;
  [[nodiscard]] const std::vector<isa::Insn>& insns() const { return insns_; }

 private:
  Interpreter() = default;
  std::vector<isa::Insn> insns_;
  std::vector<HelperFn> helper_at_;   // by pc: the resolved helper for CallHelper
  const HelperTable* helpers_ = nullptr;  // for callx
};

}  // namespace bpfvm
