// Raw-program input for the verifier: what BPF_PROG_LOAD takes, as JSON —
//   {"prog_type": "xdp" | 6, "expected_attach_type": 0, "license": "GPL",
//    "insns": ["b7000000 2a000000", ...]  (or "asm": "mov %r0, 42\nexit"),
//    "maps": [{"type": "hash", "key_size": 8, "value_size": 8, "max_entries": 1, "map_flags": 0}],
//    "map_fixups": [{"map": 0, "insns": [3]}], "log_level": 1, "flags": 0}
// A fixup puts the map into the imm of each listed ld_imm64 and keeps its src_reg (1 map,
// 2 map value), as the kernel's own test harness patches map fds.
#pragma once

#include <string>
#include <vector>

#include "isa/insn.hpp"
#include "support/result.hpp"
#include "verifier/verifier.hpp"

namespace bpfvm::verifier {

// A C source line a run of instructions comes from (BTF line_info).
struct SourceLine {
  std::size_t insn = 0;  // first instruction of the line
  std::string file;
  uint32_t line = 0;
  std::string text;
};

struct ProgramCase {
  std::string name;                 // "name" if given
  std::vector<isa::RawInsn> insns;  // map references hold map indices
  Options options;                  // helpers left unset
  std::vector<SourceLine> lines;    // sorted by insn; empty without BTF
};

[[nodiscard]] Result<ProgramCase> parse_case(std::string_view json_text);
// A JSON array of cases (or one case).
[[nodiscard]] Result<std::vector<ProgramCase>> parse_cases(std::string_view json_text);

}  // namespace bpfvm::verifier
