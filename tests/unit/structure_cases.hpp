// Programs for the verifier's structural pass with bpfvm's expected verdict; the unit test
// checks bpfvm gives it, the kernel test checks Linux gives the same.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace bpfvm::test {

struct StructureCase {
  const char* name;
  const char* source;                  // conformance-dialect assembly
  std::optional<std::string> message;  // the rejection, or nullopt when the structure is fine
  std::size_t insn = 0;                // the instruction the rejection names
};

inline const std::vector<StructureCase>& structure_cases() {
  static const std::vector<StructureCase> cases = {
      {"straight line", "mov %r0, 0\nexit\n", std::nullopt},
      {"bounded loop", "mov %r0, 0\nloop:\nadd %r0, 1\njlt %r0, 10, loop\nexit\n", std::nullopt},
      {"may_goto loop", "mov %r0, 0\nloop:\nmay_goto done\nadd %r0, 1\nja loop\ndone:\nexit\n", std::nullopt},
      {"bpf-to-bpf call", "mov %r1, 1\ncall local f\nexit\nf:\nmov %r0, %r1\nexit\n", std::nullopt},
      {"unreachable code", "mov %r0, 0\nexit\nmov %r0, 1\nexit\n", "unreachable insn 2", 2},
      {"unreachable after a jump", "mov %r0, 0\nja +1\nmov %r0, 1\nexit\n", "unreachable insn 2", 2},
      {"call to nowhere", "call local +5\nmov %r0, 0\nexit\n", "call to invalid destination", 0},
      {"jump from a subprogram into main",
       "call local f\nmain_tail:\nmov %r0, 0\nexit\nf:\nja main_tail\n", "jump out of range from insn 3 to 1", 3},
      {"subprogram falls into the next", "call local f\nmov %r0, 0\nexit\nf:\nmov %r0, 1\ncall local g\n"
                                         "mov %r0, 2\ng:\nmov %r0, 3\nexit\n",
       "last insn is not an exit or jmp", 5},
      {"program falls off its end", "mov %r0, 0\n", "last insn is not an exit or jmp", 0},
      {"jump into an ld_imm64", "mov %r0, 0\njeq %r0, 0, +1\nlddw %r1, 5\nexit\n",
       "jump into the middle of ldimm64 insn 2", 2},
      {"unknown opcode before unreachable code", "mov %r0, 0\nexit\ncall %r1\nexit\n", "unknown opcode 8d", 2},
  };
  return cases;
}

}  // namespace bpfvm::test
