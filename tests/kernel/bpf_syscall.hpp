// A minimal bpf() wrapper for differential tests against the running kernel: load a program
// with a verifier log, read back what the kernel keeps. No attaching, ever.
#pragma once

#include <linux/bpf.h>

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
                        const char* license = "GPL", uint32_t expected_attach_type = 0, uint32_t prog_flags = 0);

struct ProgInfo {
  uint32_t id = 0;
  std::vector<isa::RawInsn> xlated;
};
std::optional<ProgInfo> prog_info(int fd);

struct TestRunOutput {
  int error = 0;  // errno when BPF_PROG_TEST_RUN failed
  uint32_t retval = 0;
  std::vector<uint8_t> data_out;
  std::vector<uint8_t> ctx_out;
  uint32_t duration = 0;
};

// BPF_PROG_TEST_RUN: runs a loaded program on data_in / ctx_in (no attaching).
TestRunOutput test_run(int prog_fd, const std::vector<uint8_t>& data_in, const std::vector<uint8_t>& ctx_in,
                       uint32_t repeat = 1, std::size_t ctx_out_size = 0);

// The bpf() syscall itself, for what the functions here do not cover.
long sys_bpf(int cmd, union bpf_attr* attr);

// What BPF_MAP_CREATE takes.
struct MapAttributes {
  uint32_t type = 0;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t map_flags = 0;
  uint64_t map_extra = 0;
  int inner_map_fd = -1;  // map-in-map: the inner map's template
  std::string name{};     // its first BPF_OBJ_NAME_LEN bytes are passed (the kernel wants a NUL among them)
};
// Creates a map; returns the fd, or -1 with errno set.
int create_map(const MapAttributes& attributes);
// An array map (for ld_imm64 map references); returns the fd or -1.
int create_array_map(uint32_t value_size, uint32_t max_entries);
// Any map; returns the fd or -1.
int create_map(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, uint32_t flags = 0);

}  // namespace bpfvm::kernel
