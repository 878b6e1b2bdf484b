// A minimal bpf() wrapper for differential tests against the running kernel: load a program
// with a verifier log, read back what the kernel keeps. No attaching, ever.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "isa/insn.hpp"

namespace bpfvm::kernel {

struct LoadResult {
  int fd = -1;         // >= 0 when accepted
  int error = 0;       // errno when rejected
  std::string log;     // the verifier log
};

// Why bpf() cannot be used here, or nullopt when it can (root, syscall present).
std::optional<std::string> unavailable_reason();

LoadResult load_program(uint32_t prog_type, const std::vector<isa::RawInsn>& insns, uint32_t log_level,
                        const char* license = "GPL");

struct ProgInfo {
  uint32_t id = 0;
  std::vector<isa::RawInsn> xlated;
};
std::optional<ProgInfo> prog_info(int fd);

// An array map (for ld_imm64 map references); returns the fd or -1.
int create_array_map(uint32_t value_size, uint32_t max_entries);

}  // namespace bpfvm::kernel
