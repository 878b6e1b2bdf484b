// The verifier's soundness: every program it accepts — random bounded programs, the accepted
// hand-written cases, the examples — runs in the interpreter over random inputs without a
// single run-time violation, and gives the same results in the JIT with the verifier's facts
// applied (tests/verifier/soundness.hpp says what is checked).
#include <gtest/gtest.h>

#include <linux/bpf.h>

#include <algorithm>
#include <filesystem>

#include "cases.hpp"
#include "helpers/linux_helpers.hpp"
#include "object/object.hpp"
#include "random_programs.hpp"
#include "soundness.hpp"
#include "verifier/case_file.hpp"
#include "verifier/object_input.hpp"

namespace bpfvm::test {
namespace {

std::string describe(const SoundnessReport& report) {
  std::string out;
  for (const std::string& v : report.violations) out += v + "\n";
  return out;
}

// The harness itself: unverified programs that break the rules are caught at run time.
SoundnessReport run_unverified(const std::string& case_json) {
  auto program = verifier::parse_case(case_json);
  EXPECT_TRUE(program.ok());
  auto loaded = load_case(*program);
  EXPECT_TRUE(loaded.ok()) << loaded.error().to_string();
  return check_loaded(*loaded, *loaded->programs().front(), 3, 20);
}

TEST(VerifierSoundness, HarnessCatchesPacketReadsPastDataEnd) {
  // The packet buffer has room past data_end; the harness allows only data..data_end.
  const auto report = run_unverified(R"({"prog_type": "xdp", "asm": "ldxw %r2, [%r1+0]\nldxb %r0, [%r2+100]\nexit"})");
  ASSERT_FALSE(report.violations.empty());
  EXPECT_NE(report.violations[0].find("invalid memory read of 1 bytes"), std::string::npos) << report.violations[0];
}

TEST(VerifierSoundness, HarnessCatchesAccessesPastAnArrayElement) {
  // Element 1 follows element 0 in memory; each element is a region of its own, so a read
  // across the two is caught (one wholly inside the next element would not be).
  const auto report = run_unverified(R"({"prog_type": "xdp", "asm":
      "stw [%r10-8], 0\nmov %r2, %r10\nadd %r2, -8\nlddw_map_fd %r1, 0\ncall 1\nldxdw %r0, [%r0+4]\nexit",
      "maps": [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 4}]})");
  ASSERT_FALSE(report.violations.empty());
  EXPECT_NE(report.violations[0].find("invalid memory read of 8 bytes"), std::string::npos) << report.violations[0];
}

TEST(VerifierSoundness, HarnessCatchesBadHelperArguments) {
  // An 8-byte key at fp-4 runs past the top of the stack.
  const auto report = run_unverified(R"({"prog_type": "socket_filter", "asm":
      "mov %r2, %r10\nadd %r2, -4\nlddw_map_fd %r1, 0\ncall 1\nmov %r0, 0\nexit",
      "maps": [{"type": "hash", "key_size": 8, "value_size": 8, "max_entries": 4}]})");
  ASSERT_FALSE(report.violations.empty());
  EXPECT_NE(report.violations[0].find("map_lookup_elem#1 argument R2: read of 8 bytes"), std::string::npos)
      << report.violations[0];
}

TEST(VerifierSoundness, GeneratedProgramsRunWithoutViolations) {
  std::size_t accepted = 0, runs = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    const GeneratedProgram generated = generate_program(seed);
    const SoundnessReport report = check_case(generated.program, seed, 20);
    EXPECT_TRUE(report.violations.empty()) << generated.case_json << "\n" << describe(report);
    accepted += report.accepted;
    runs += report.runs;
  }
  std::cout << "generated programs: " << accepted << "/300 accepted, " << runs << " checked runs\n";
  EXPECT_GE(accepted, 100U);  // the generator keeps producing mostly valid programs
}

TEST(VerifierSoundness, AcceptedCasesRunWithoutViolations) {
  std::size_t accepted = 0;
  for (const VerifierCase& c : verifier_cases()) {
    const SoundnessReport report = check_case(c.program, 7, 30);
    EXPECT_TRUE(report.violations.empty()) << c.program.name << "\n" << describe(report);
    accepted += report.accepted;
  }
  EXPECT_GE(accepted, 40U);
}

TEST(VerifierSoundness, ExamplesRunWithoutViolations) {
  std::size_t checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(BPFVM_EXAMPLES_DIR)) {
    if (!entry.path().string().ends_with(".bpf.o")) continue;
    SCOPED_TRACE(entry.path().filename().string());
    auto spec = object::open_object(entry.path());
    ASSERT_TRUE(spec.ok()) << spec.error().to_string();
    auto loaded = LoadedObject::load(*spec, nullptr, LoadOptions{Engine::kInterpreter});
    ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
    for (const object::ProgramSpec& ps : spec->programs) {
      auto program_case = verifier::program_case(*spec, ps);
      ASSERT_TRUE(program_case.ok());
      verifier::Options options = program_case->options;
      options.helpers = &linux_helpers();
      const verifier::Verdict verdict = verifier::verify(program_case->insns, options);
      ASSERT_TRUE(verdict.accepted) << ps.name;
      const LoadedProgram* program = loaded->program(ps.name);
      ASSERT_NE(program, nullptr);
      // The JIT comparison runs one program alone: not tail-call chains (their targets have
      // no checked JIT code here).
      const bool tail_calls = std::any_of(program->insns().begin(), program->insns().end(), [](const isa::Insn& i) {
        return i.op == isa::Op::CallHelper && i.imm == BPF_FUNC_tail_call;
      });
      const SoundnessReport report = check_loaded(*loaded, *program, 11, 50, tail_calls ? nullptr : &verdict.facts);
      EXPECT_TRUE(report.violations.empty()) << ps.name << "\n" << describe(report);
      checked += report.runs > 0;
    }
  }
  EXPECT_GE(checked, 4U);
}

}  // namespace
}  // namespace bpfvm::test
