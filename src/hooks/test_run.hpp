// Test runs, as BPF_PROG_TEST_RUN does them: build the context a program type sees from
// data_in / ctx_in, run the program `repeat` times, report the return value, the packet and
// context afterwards and the average duration.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "exec/interpreter.hpp"
#include "support/result.hpp"

namespace bpfvm {

struct TestRunRequest {
  uint32_t prog_type = 0;           // BPF_PROG_TYPE_*
  std::vector<uint8_t> data_in;     // the packet (packet types) or memory (unspec)
  std::vector<uint8_t> ctx_in;      // optional context (xdp_md, __sk_buff, pt_regs, raw bytes)
  uint32_t repeat = 1;
  // Called after each of the `repeat` runs, outside the timed part: where user space reads
  // what the run sent (perf and ring buffers) as a consumer that keeps up would.
  std::function<void()> after_each_run = nullptr;
};

struct TestRunResult {
  uint64_t r0 = 0;
  uint32_t retval = 0;              // what the kernel reports: the low 32 bits of r0
  std::vector<uint8_t> data_out;    // the packet after the program (as the kernel returns it)
  std::vector<uint8_t> ctx_out;     // the context after the program (fields the kernel copies back)
  uint64_t duration_ns = 0;         // average over the repeats
};

// Runs a program once with the given options (an Interpreter, later the JIT).
using ProgramRunner = std::function<Result<uint64_t>(const RunOptions&)>;

[[nodiscard]] Result<TestRunResult> test_run(const ProgramRunner& run, const TestRunRequest& request);

}  // namespace bpfvm
