// bpfvm's verifier against what Linux answered for every hand-written case: same verdict,
// same errno, same first message.
#include <gtest/gtest.h>

#include "cases.hpp"
#include "helpers/linux_helpers.hpp"
#include "verifier/verifier.hpp"

namespace bpfvm::verifier {
namespace {

TEST(VerifierCases, SameVerdictErrnoAndMessageAsLinux) {
  const HelperTable helpers = linux_helpers();
  const auto cases = test::verifier_cases();
  ASSERT_GE(cases.size(), 100U);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.program.name);
    Options options = c.program.options;
    options.helpers = &helpers;
    const Verdict v = verify(c.program.insns, options);
    EXPECT_EQ(v.accepted, c.kernel_accepted) << v.message << "\n" << v.log;
    if (!c.kernel_accepted && !v.accepted) {
      EXPECT_EQ(v.message, c.kernel_message);
      EXPECT_EQ(v.error, c.kernel_errno);
      // The log ends with the message and the statistics line, as the kernel's does.
      EXPECT_NE(v.log.find(v.message + "\nprocessed "), std::string::npos) << v.log;
    }
  }
}

}  // namespace
}  // namespace bpfvm::verifier
