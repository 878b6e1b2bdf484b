// Assembler for the conformance suite's %r0 dialect (uBPF style):
//
//   mov %r0, 42            add32 %r1, %r2         lddw %r0, 0x1122334455667788
//   ldxw %r0, [%r1+4]      stxdw [%r10-8], %r1    stw [%r1+2], 7
//   jne %r0, 3, label      ja +2                  ja32 label          call 5
//   call local func        call %r2               lock fetch add32 [%r10-4], %r1
//   be16 %r0  le32 %r0  bswap64 %r0  movsx832 %r0, %r1  ldxsh %r0, [%r1]  exit
//   label:                 # comments run to the end of the line
//
// Extensions beyond the suite (so every operation in the table has a spelling):
//   lddw_map_fd %r1, FD; lddw_map_value %r1, FD, OFF (also _map_idx, _map_idx_value,
//   _btf_id); lddw_func %r1, label; call kfunc ID[, BTF_FD_IDX]; may_goto label;
//   ldabs{b,h,w} IMM; ldind{b,h,w} %rN, IMM. `exit` as a jump target names the first exit.
#pragma once

#include <string_view>
#include <vector>

#include "isa/insn.hpp"

namespace bpfvm::isa {

// Errors carry the 1-based source line.
[[nodiscard]] Result<std::vector<Insn>> assemble(std::string_view source);

}  // namespace bpfvm::isa
