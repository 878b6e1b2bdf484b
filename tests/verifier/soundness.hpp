// The verifier's soundness, tested: a program the verifier accepts is run by the interpreter
// over random inputs (packet sizes and bytes, map contents, context bytes) with its memory
// narrowed to what the verifier promised — the stack, the context, the packet between data
// (or data_meta) and data_end, each array element on its own (an access straddling two
// elements is caught, one wholly inside the neighbour is not), the other maps' value memory —
// and every helper's pointer arguments checked against the same memory. Any run-time error
// (a bad access, a read of an unwritten register, an unknown callback...) is a violation: a
// program the verifier should have rejected, or a bug in bpfvm.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/loader.hpp"
#include "verifier/case_file.hpp"
#include "verifier/facts.hpp"

namespace bpfvm::test {

struct SoundnessReport {
  bool accepted = false;            // the verifier accepted the program (else nothing ran)
  std::size_t runs = 0;             // runs completed without an error
  std::size_t skipped = 0;          // inputs the test run refused (not the program's fault)
  std::vector<std::string> violations;
};

// Verifies `program` (maps created from its Options::maps) and, if accepted, runs it `runs`
// times on inputs drawn from `seed`.
[[nodiscard]] SoundnessReport check_case(const verifier::ProgramCase& program, uint64_t seed, int runs);

// The program as bpfvm loads objects: its maps created, map references resolved; not verified.
[[nodiscard]] Result<LoadedObject> load_case(const verifier::ProgramCase& program);

// Runs a loaded program of an object (which the caller had verified) `runs` times. With the
// verifier's facts, each input also runs in the JIT's checked code with the facts applied,
// which must give what the interpreter gave (check_case passes them).
[[nodiscard]] SoundnessReport check_loaded(const LoadedObject& object, const LoadedProgram& program, uint64_t seed,
                                           int runs, const std::vector<verifier::InsnFacts>* facts = nullptr);

}  // namespace bpfvm::test
