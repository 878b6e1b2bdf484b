// The verifier against the running kernel: every hand-written case loaded into both (the
// kernel with real maps in place of the case's map indices), verdicts and first messages
// compared, and the agreement rate reported.
#include <gtest/gtest.h>
#include <unistd.h>

#include "../verifier/cases.hpp"
#include "differential.hpp"
#include "verifier/verifier.hpp"

namespace bpfvm::kernel {
namespace {

TEST(VerifierVsKernel, AgreesOnVerdictsAndMessages) {
  SKIP_WITHOUT_BPF();
  const HelperTable helpers = linux_helpers();
  const auto cases = test::verifier_cases();
  std::size_t verdicts = 0, rejections = 0, messages = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.program.name);
    std::vector<int> fds;
    for (const auto& m : c.program.options.maps) {
      fds.push_back(create_map(m.type, m.key_size, m.value_size, m.max_entries, m.map_flags));
      ASSERT_GE(fds.back(), 0) << "map create failed";
    }
    auto insns = c.program.insns;
    for (auto& insn : insns) {
      if (insn.code == 0x18 && (insn.src() == 1 || insn.src() == 2)) insn.imm = fds.at(static_cast<std::size_t>(insn.imm));
    }
    const LoadResult kernel = load_program(c.program.options.prog_type, insns, 1, c.license.c_str(),
                                           c.program.options.expected_attach_type);
    if (kernel.fd >= 0) close(kernel.fd);
    for (int fd : fds) close(fd);

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

}  // namespace
}  // namespace bpfvm::kernel
