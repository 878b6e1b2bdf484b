// Loading a verifier case (src/verifier/case_file.hpp) into the running kernel: its maps are
// created, their fds put where the case's ld_imm64 map references hold map indices, and the
// program loaded with a log. Only loads: nothing is attached or run. Shared by the kernel
// differential tests and the verification-time benchmark.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "bpf_syscall.hpp"
#include "verifier/case_file.hpp"

namespace bpfvm::kernel {

struct CaseLoad {
  LoadResult result;      // result.fd is open when the kernel accepted the program
  std::string map_error;  // set when a map could not be created (nothing was loaded then)
};

inline CaseLoad load_case(const verifier::ProgramCase& program, const std::string& license, uint32_t log_level) {
  CaseLoad out;
  std::vector<int> fds;
  for (const auto& m : program.options.maps) {
    const int fd = create_map(m.type, m.key_size, m.value_size, m.max_entries, m.map_flags);
    if (fd < 0) {
      out.map_error = "creating map " + std::to_string(fds.size()) + " failed: " + std::strerror(errno);
      out.result.fd = -1;
      for (int f : fds) close(f);
      return out;
    }
    fds.push_back(fd);
  }
  auto insns = program.insns;
  for (auto& insn : insns) {
    if (insn.code == 0x18 && (insn.src() == 1 || insn.src() == 2)) insn.imm = fds.at(static_cast<std::size_t>(insn.imm));
  }
  out.result = load_program(program.options.prog_type, insns, log_level, license.c_str(),
                            program.options.expected_attach_type, program.options.prog_flags);
  for (int fd : fds) close(fd);  // a loaded program keeps its own references to the maps
  return out;
}

}  // namespace bpfvm::kernel
