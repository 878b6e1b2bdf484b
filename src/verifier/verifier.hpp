// The verifier: Linux's bpf_check() for privileged loaders, in user space. After the
// structural pass (structure.hpp) it walks every path of the program with abstract register
// and stack state — types, tnums and ranges, packet ranges, null checks, references — and
// accepts the program or rejects it with the kernel's message, errno and instruction, writing
// a log in the kernel's format (levels 1 and 2).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "isa/insn.hpp"
#include "verifier/facts.hpp"

namespace bpfvm {
class HelperTable;
}

namespace bpfvm::verifier {

// A map the program references: ld_imm64 with src 1 (map) or 2 (map value) carries the
// map's index in this list in its imm.
struct MapInfo {
  uint32_t type = 0;  // BPF_MAP_TYPE_*
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t map_flags = 0;
  std::string name;
  int32_t inner = -1;  // map-in-map: index (in Options::maps) of the inner map's definition
  int32_t spin_lock_off = -1;  // where the value's struct bpf_spin_lock is (BTF), or -1
  // Frozen read-only maps (.rodata): the value, so constant-offset loads give known values.
  std::vector<uint8_t> frozen_value;
};

struct Options {
  uint32_t prog_type = 0;           // BPF_PROG_TYPE_*
  uint32_t expected_attach_type = 0;
  bool gpl_compatible = true;       // the license section names a GPL-compatible license
  std::vector<MapInfo> maps;
  // Helpers the program may call and their prototypes (the runtime's table).
  const HelperTable* helpers = nullptr;
  uint32_t log_level = 0;           // 0, 1 or 2 (bit 2, stats, is always honoured)
  uint32_t prog_flags = 0;          // BPF_F_STRICT_ALIGNMENT, ...
  // The program comes with BTF func_info (objects from clang -g do); the kernel refuses
  // callbacks (ld_imm64 of a function) without it.
  bool btf_func_info = false;
};

struct Stats {
  uint64_t insns_processed = 0;
  uint32_t max_states_per_insn = 0;
  uint32_t total_states = 0;
  uint32_t peak_states = 0;
  uint32_t mark_read = 0;
};

// One decision on the path to a rejection: the conditional jump at `insn` went to `target`.
struct PathStep {
  std::size_t insn = 0;
  std::size_t target = 0;
};

struct Verdict {
  bool accepted = false;
  int error = 0;                    // errno of BPF_PROG_LOAD when rejected
  std::string message;              // the first line the kernel logs about the rejection
  std::optional<std::size_t> insn;  // the instruction rejected
  std::string log;                  // the whole log, kernel format, at Options::log_level
  Stats stats;
  std::vector<PathStep> path;       // branch decisions that led to the rejected instruction
  // The registers when the instruction was rejected (index = register number): their state
  // as the log prints it ("" when not initialised) and the instruction that wrote them (-1:
  // on entry or unknown).
  std::vector<std::string> registers;
  std::vector<int64_t> defined_at;
  // Accepted programs: what holds on every path at each instruction (index = pc), for the
  // JIT (facts.hpp). Empty when rejected, and for programs with callbacks (bpf_loop...).
  std::vector<InsnFacts> facts;
};

[[nodiscard]] Verdict verify(std::span<const isa::RawInsn> insns, const Options& options);

// "processed N insns (limit 1000000) max_states_per_insn M total_states T peak_states P mark_read R"
[[nodiscard]] std::string stats_line(const Stats& stats);

}  // namespace bpfvm::verifier
