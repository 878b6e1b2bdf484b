// The "CPU" a thread runs on, as per-CPU maps and bpf_get_smp_processor_id() see it.
//
// The kernel runs a program with preemption (or migration) disabled, so a per-CPU slot is
// exclusive to it. bpfvm runs programs on arbitrary host threads; each thread leases a slot
// id in [0, possible()) on first use and returns it when the thread exits, so threads that
// run at the same time get different slots as long as there are no more of them than
// possible CPUs. When there are more, slots are shared round-robin (per-CPU values then race
// the way a plain shared value would). A test run that asks for a given CPU pins it with
// ScopedCpu.
#pragma once

#include <cstdint>

namespace bpfvm::cpu {

// Number of possible CPUs: the host's (/sys/devices/system/cpu/possible, as libbpf counts
// them, else std::thread::hardware_concurrency) unless set_possible() said otherwise. Per-CPU maps size their values with the count at creation.
[[nodiscard]] unsigned possible();

// Changes the count for maps created from now on (n >= 1). Threads keep slots they hold;
// current() stays below the new count.
void set_possible(unsigned n);

// This thread's slot, leased on first use.
[[nodiscard]] unsigned current();

// current() as an index into n slots, n > 0 (a per-CPU structure made when possible() was n):
// the same slot while it is below n, without a division.
[[nodiscard]] inline unsigned current_of(unsigned n) {
  const unsigned c = current();
  return c < n ? c : c % n;
}

// Runs the enclosing scope as if on CPU `id` (like BPF_F_TEST_RUN_ON_CPU); nests.
class ScopedCpu {
 public:
  explicit ScopedCpu(unsigned id);
  ~ScopedCpu();
  ScopedCpu(const ScopedCpu&) = delete;
  ScopedCpu& operator=(const ScopedCpu&) = delete;

 private:
  int previous_;
};

}  // namespace bpfvm::cpu
