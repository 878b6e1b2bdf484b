// The reference interpreter: RFC 9669 / Linux semantics for every operation in the opcode
// table. Memory accesses are checked against the regions the caller allows and the stack;
// a bad access ends the run with an error naming the instruction, never a host crash.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "helpers/helper_table.hpp"
#include "isa/insn.hpp"
#include "support/result.hpp"

namespace bpfvm {

inline constexpr std::size_t kStackSize = 512;       // bytes per frame (MAX_BPF_STACK)
inline constexpr std::size_t kMaxCallFrames = 8;     // MAX_CALL_FRAMES: main + 7 nested calls
inline constexpr uint64_t kMayGotoBudget = 8u << 20; // BPF_MAX_LOOPS: may_goto falls through this often
inline constexpr unsigned kMaxTailCalls = 33;        // MAX_TAIL_CALL_CNT

struct MemoryRegion {
  uint8_t* data = nullptr;
  std::size_t size = 0;
  bool writable = true;
};

// The host address of `size` bytes at `address` when they lie in the stack (`stack_size`
// bytes from `stack_lo`) or in one of `regions` (a write needs a writable one), else nullptr:
// the interpreter's and checked JIT code's rule for memory. Unsigned wrap-around makes each
// test a single compare.
inline uint8_t* accessible(uint64_t address, std::size_t size, bool write, uint64_t stack_lo, std::size_t stack_size,
                           std::span<const MemoryRegion> regions) {
  if (size <= stack_size && address - stack_lo <= stack_size - size) return reinterpret_cast<uint8_t*>(address);
  for (const MemoryRegion& r : regions) {
    if (r.size >= size && address - reinterpret_cast<uint64_t>(r.data) <= r.size - size && (r.writable || !write)) {
      return reinterpret_cast<uint8_t*>(address);
    }
  }
  return nullptr;
}

struct ProgramEnvironment;  // runtime/environment.hpp: the maps and programs a loaded program may use

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
  const ProgramEnvironment* env = nullptr;  // set by the runtime for programs loaded from objects
  void* user = nullptr;              // for embedders' helpers
};

// Options for the memory calling convention (embedders, the conformance suite, prog type
// unspec): r1 = the memory, r2 = its size, the program may read and write it.
[[nodiscard]] inline RunOptions memory_run_options(std::span<uint8_t> memory) {
  RunOptions options;
  options.args = {reinterpret_cast<uint64_t>(memory.data()), memory.size()};
  options.initialized_args = 2;
  options.regions.push_back(MemoryRegion{memory.data(), memory.size(), true});
  options.packet = memory;
  options.context = memory.data();
  return options;
}

// bpf_map_lookup_elem(map, key) on one of a verified program's maps, done without the helper
// and its argument checks, with the same result. ARRAY maps compute it inline, as the kernel
// does (array_map_gen_lookup): the value of key k is at data + k * stride when
// k < max_entries, else there is none (NULL). Other maps are called directly, with the map
// and the key where the program put them (r1, r2), as the kernel's JIT calls a map's lookup.
using DirectLookup = void* (*)(void* map, const void* key);
struct MapLookup {
  uint64_t ref = 0;  // what the ld_imm64 map reference loads (its second slot's imm64): the map
  // ARRAY maps (call == nullptr):
  uint64_t data = 0;
  uint32_t stride = 0;
  uint32_t max_entries = 0;
  // The others: ref's lookup.
  DirectLookup call = nullptr;
  // HASH maps with 4- or 8-byte keys (buckets != 0) also have the layout of maps::Map::
  // DirectHash, for a lookup of a bucket's first element inline (call does the rest): values
  // at `data`, `stride` apart.
  uint64_t buckets = 0;
  uint64_t multiplier = 0;
  uint64_t keys = 0;
  uint32_t shift = 0;
  uint32_t key_size = 0;

  [[nodiscard]] bool is_inline() const { return call == nullptr; }
  [[nodiscard]] bool is_hash() const { return buckets != 0; }
};

struct InterpreterOptions {
  // ld_imm64 map references were resolved by a loader (see Interpreter::create).
  bool relocated = false;
  // Check at run time what a verifier would have proved: every memory access against the
  // stack and RunOptions::regions, every register read, the taken-branch budget, helper
  // pointer arguments. Only a verifier that proved the program safe may turn this off; the
  // program then runs as the kernel's interpreter runs verified programs, from pre-decoded
  // instructions (docs/design.md).
  bool checked = true;
  // Unchecked mode only: maps whose lookups run without the helper.
  std::vector<MapLookup> map_lookups{};
};

// One pre-decoded instruction of unchecked mode: the address of the code that executes it
// and its operands. Slot n is instruction n; the second slot of an ld_imm64 holds the value to
// load instead of a handler.
struct InterpreterSlot {
  const void* handler = nullptr;
  uint8_t dst = 0;
  uint8_t src = 0;
  int16_t off = 0;
  int32_t imm = 0;
};

class Interpreter {
 public:
  // Checks the program can be run: decoded, control flow valid (isa::check_control_flow), every
  // helper call names a helper in the table. ld_imm64 with a map or BTF source is refused unless
  // `relocated`: then a loader has put the value to load (a map, a map value's address) in the
  // imm64 of the instruction's second slot (Op::LdImm64Tail).
  [[nodiscard]] static Result<Interpreter> create(std::vector<isa::Insn> program, const HelperTable& helpers,
                                                  InterpreterOptions options);
  [[nodiscard]] static Result<Interpreter> create(std::vector<isa::Insn> program, const HelperTable& helpers,
                                                  bool relocated = false) {
    return create(std::move(program), helpers, InterpreterOptions{.relocated = relocated});
  }

  [[nodiscard]] Result<uint64_t> run(const RunOptions& options) const;
  [[nodiscard]] const std::vector<isa::Insn>& insns() const { return insns_; }
  // The resolved helper of each instruction (for a run that tail-calls into this program).
  [[nodiscard]] const std::vector<HelperFn>& helper_at_for_tail_calls() const { return helper_at_; }
  [[nodiscard]] bool checked() const { return slots_.empty(); }
  // Unchecked mode: the pre-decoded program and the maps looked up without the helper.
  [[nodiscard]] const std::vector<InterpreterSlot>& slots() const { return slots_; }
  [[nodiscard]] const std::vector<MapLookup>& map_lookups() const { return map_lookups_; }

 private:
  Interpreter() = default;
  std::vector<isa::Insn> insns_;
  std::vector<HelperFn> helper_at_;   // by pc: the resolved helper for CallHelper
  std::vector<InterpreterSlot> slots_;  // unchecked mode only
  std::vector<MapLookup> map_lookups_;
  uint64_t serial_ = 0;  // unchecked mode: unique in the process, for reusing stacks
  const HelperTable* helpers_ = nullptr;  // for callx
};

}  // namespace bpfvm
