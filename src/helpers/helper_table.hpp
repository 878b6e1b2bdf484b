// Helpers a program can call: one table of rows holding the uapi id, name, prototype (read by
// the verifier), gpl_only, and the implementation (called by the interpreter and the JIT).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/result.hpp"

namespace bpfvm {

struct RunOptions;
class Interpreter;
namespace jit {
class JitProgram;
}

// A program bpf_tail_call can switch to, in each engine that has it (a loaded program always
// has its interpreter, and its JIT code when it was compiled).
struct TailCallTarget {
  const Interpreter* interpreter = nullptr;
  const jit::JitProgram* jit = nullptr;
};

// Argument kinds, as Linux's enum bpf_arg_type describes them.
enum class ArgType : uint8_t {
  kNone,              // the helper takes fewer arguments
  kAnything,          // any initialised value
  kConstMapPtr,       // a map (ld_imm64 map reference)
  kPtrToMapKey,       // key_size readable bytes
  kPtrToMapValue,     // value_size readable bytes
  kPtrToUninitMapValue,
  kPtrToMem,          // readable memory, size in the next argument
  kPtrToMemOrNull,
  kPtrToUninitMem,    // writable memory, size in the next argument
  kConstSize,         // size of the previous memory argument, > 0
  kConstSizeOrZero,
  kPtrToCtx,
  kPtrToLong,         // 8 writable bytes
  kPtrToConstStr,     // a NUL-terminated string in read-only map memory
  kPtrToFunc,         // a subprogram (callback)
  kPtrToStackOrNull,
  kPtrToSpinLock,
  kPtrToAllocMem,     // memory returned by a helper (ringbuf records), released by this call
  kConstAllocSizeOrZero,
};

enum class RetType : uint8_t {
  kInteger,
  kVoid,
  kPtrToMapValueOrNull,
  kPtrToAllocMemOrNull,  // ringbuf_reserve
};

struct HelperProto {
  RetType ret = RetType::kInteger;
  std::array<ArgType, 5> args{};
  bool gpl_only = false;
};

// What helpers may touch and call back into; implemented by the interpreter and the JIT.
class HelperHost {
 public:
  // Host address of `size` bytes at `address` the program may read (or write), else nullptr.
  [[nodiscard]] virtual uint8_t* translate(uint64_t address, std::size_t size, bool write) const = 0;
  // Calls a subprogram of the running program (a value made by ld_imm64 src=BPF_PSEUDO_FUNC)
  // with r1..r5; returns its r0. bpf_loop and bpf_for_each_map_elem callbacks use it.
  [[nodiscard]] virtual Result<uint64_t> call(uint64_t function, std::array<uint64_t, 5> args) = 0;
  // bpf_tail_call: when the helper returns, the current frame continues as `target` from its
  // first instruction (r1 = ctx). False when the chain is already MAX_TAIL_CALL_CNT (33) long.
  [[nodiscard]] virtual bool tail_call(const TailCallTarget& target, uint64_t ctx) = 0;

 protected:
  ~HelperHost() = default;
};

// What a helper sees of the run that called it.
struct HelperContext {
  const RunOptions* options = nullptr;
  std::size_t pc = 0;                 // index of the calling instruction
  bool stop = false;                  // set to end the program now; r0 = the helper's return value
  HelperHost* host = nullptr;         // the engine: memory checks, callbacks, tail calls
  // The program was verified: its pointer and map arguments are used as they are. Otherwise
  // (or without a host) each one is checked.
  bool trusted = false;

  // The host address of a pointer argument, or nullptr when the program may not access it.
  [[nodiscard]] uint8_t* access(uint64_t address, std::size_t size, bool write) const {
    if (!trusted && host) return host->translate(address, size, write);
    return reinterpret_cast<uint8_t*>(address);
  }
};

using HelperFn = uint64_t (*)(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, HelperContext& ctx);

struct Helper {
  int32_t id = 0;
  std::string name;
  HelperFn fn = nullptr;
  HelperProto proto{};
  // fn reads nothing of its HelperContext, never asks to stop and never calls back into the
  // program (clocks, ids, random numbers): verified code calls it directly, with none of the
  // run's state saved for it or looked at after it.
  bool context_free = false;
};

class HelperTable {
 public:
  // Adds or replaces the helper with this id.
  void add(Helper helper);
  [[nodiscard]] const Helper* find(int32_t id) const;
  [[nodiscard]] const std::vector<Helper>& helpers() const { return helpers_; }

 private:
  std::vector<Helper> helpers_;  // sorted by id
};

// Where bpf_trace_printk / bpf_trace_vprintk output goes (the trace pipe).
class TraceSink {
 public:
  virtual void write(std::string_view message) = 0;

 protected:
  ~TraceSink() = default;
};

}  // namespace bpfvm
