// Soundness fuzzing of the verifier: generates random bounded programs
// (tests/verifier/random_programs.hpp), and runs every one the verifier accepts in the
// interpreter over random inputs with its memory narrowed to what the verifier promised
// (tests/verifier/soundness.hpp). Any run-time violation is printed with the program as a
// case file (ready for tests/verifier/cases.json) and makes the exit status 1.
//
//   verifier_soundness_fuzz [ITERATIONS=10000] [SEED=1] [RUNS_PER_PROGRAM=50]
#include <cstdint>
#include <cstdlib>
#include <iostream>

#include "../verifier/random_programs.hpp"
#include "../verifier/soundness.hpp"

int main(int argc, char** argv) {
  const uint64_t iterations = argc > 1 ? std::strtoull(argv[1], nullptr, 0) : 10000;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 0) : 1;
  const int runs = argc > 3 ? std::atoi(argv[3]) : 50;
  uint64_t accepted = 0, checked_runs = 0, failures = 0;
  for (uint64_t i = 0; i < iterations; ++i) {
    const auto generated = bpfvm::test::generate_program(seed + i);
    const auto report = bpfvm::test::check_case(generated.program, seed + i, runs);
    accepted += report.accepted;
    checked_runs += report.runs;
    if (!report.violations.empty()) {
      ++failures;
      std::cout << "VIOLATION (seed " << seed + i << "): " << generated.case_json << "\n";
      for (const auto& v : report.violations) std::cout << "  " << v << "\n";
    }
  }
  std::cout << iterations << " programs from seed " << seed << ": " << accepted << " accepted, " << checked_runs
            << " checked runs, " << failures << " with violations\n";
  return failures == 0 ? 0 : 1;
}
