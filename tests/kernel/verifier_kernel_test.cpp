// The verifier against the running kernel: every hand-written case loaded into both (the
// kernel with real maps in place of the case's map indices), verdicts and first messages
// compared, and the agreement rate reported.
#include <gtest/gtest.h>
#include <unistd.h>

#include "../verifier/cases.hpp"
#include "differential.hpp"
#include "object/object.hpp"
#include "verifier/object_input.hpp"
#include "verifier/verifier.hpp"

namespace bpfvm::kernel {
namespace {

// Loads a case into the kernel at log level 1, with real maps for the case's map indices.
LoadResult load_case(const verifier::ProgramCase& c, const std::string& license) {
  std::vector<int> fds;
  for (const auto& m : c.options.maps) {
    // The kernel refuses BPF_F_RDONLY_PROG only where the map type has no such flag.
    fds.push_back(create_map(m.type, m.key_size, m.value_size, m.max_entries, m.map_flags));
    EXPECT_GE(fds.back(), 0) << "map create failed: " << m.name;
  }
  auto insns = c.insns;
  for (auto& insn : insns) {
    if (insn.code == 0x18 && (insn.src() == 1 || insn.src() == 2)) insn.imm = fds.at(static_cast<std::size_t>(insn.imm));
  }
  LoadResult kernel = load_program(c.options.prog_type, insns, 1, license.c_str(), c.options.expected_attach_type);
  if (kernel.fd >= 0) close(kernel.fd);
  for (int fd : fds) close(fd);
  return kernel;
}

TEST(VerifierVsKernel, AgreesOnVerdictsAndMessages) {
  SKIP_WITHOUT_BPF();
  const HelperTable helpers = linux_helpers();
  const auto cases = test::verifier_cases();
  std::size_t verdicts = 0, rejections = 0, messages = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.program.name);
    const LoadResult kernel = load_case(c.program, c.license);

    verifier::Options options = c.program.options;
    options.helpers = &helpers;
    const verifier::Verdict ours = verifier::verify(c.program.insns, options);
    const bool kernel_accepted = kernel.fd >= 0;
    EXPECT_EQ(ours.accepted, kernel_accepted) << "bpfvm: " << ours.message << "\nkernel log:\n" << kernel.log;
    if (ours.accepted == kernel_accepted) ++verdicts;
    if (!kernel_accepted) {
      ++rejections;
      // Some kernel messages lack their newline; the statistics line follows at once.
      const bool same = ours.error == kernel.error &&
                        (kernel.log.find(ours.message + "\n") != std::string::npos ||
                         kernel.log.find(ours.message + "processed ") != std::string::npos);
      if (same) ++messages;
      EXPECT_TRUE(same) << "bpfvm: [" << ours.error << "] " << ours.message << "\nkernel [" << kernel.error
                        << "]:\n" << kernel.log;
    }
  }
  std::cout << "verifier agreement: verdicts " << verdicts << "/" << cases.size() << ", first messages " << messages
            << "/" << rejections << " rejections\n";
}

// The verifier examples ("Learning eBPF" chapter 6 mistakes) as objects: same verdict and
// first message as the kernel.
TEST(VerifierVsKernel, VerifierExamplesGiveTheKernelsMessages) {
  SKIP_WITHOUT_BPF();
  const HelperTable helpers = linux_helpers();
  for (const char* name : {"hello-verifier", "no-license", "wrong-map", "null-deref", "past-end"}) {
    SCOPED_TRACE(name);
    auto spec = object::open_object(std::string(BPFVM_EXAMPLES_DIR) + "/verifier/" + name + ".bpf.o");
    ASSERT_TRUE(spec.ok()) << spec.error().to_string();
    ASSERT_EQ(spec->programs.size(), 1U);
    auto c = verifier::program_case(*spec, spec->programs[0]);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    const LoadResult kernel = load_case(*c, spec->license);
    verifier::Options options = c->options;
    options.helpers = &helpers;
    const verifier::Verdict ours = verifier::verify(c->insns, options);
    EXPECT_EQ(ours.accepted, kernel.fd >= 0) << ours.message << "\nkernel log:\n" << kernel.log;
    if (!ours.accepted) {
      EXPECT_EQ(ours.error, kernel.error);
      EXPECT_NE(kernel.log.find(ours.message + "\n"), std::string::npos) << ours.message << "\nkernel log:\n" << kernel.log;
    }
  }
}

}  // namespace
}  // namespace bpfvm::kernel
