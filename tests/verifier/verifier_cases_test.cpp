// bpfvm's verifier against what Linux answered for every hand-written case: same verdict,
// same errno, same first message.
#include <gtest/gtest.h>

#include "cases.hpp"
#include "helpers/linux_helpers.hpp"
#include "verifier/case_file.hpp"
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

// An embedder's own helpers (ids above the kernel's) may be called from any program type;
// unknown ids stay "invalid func".
TEST(VerifierHelpers, EmbedderHelpersAreCallableUnknownIdsAreNot) {
  auto program = parse_case(R"({"prog_type": "xdp", "asm": "mov %r1, 7\ncall 1000\nmov %r0, 2\nexit"})");
  ASSERT_TRUE(program.ok()) << program.error().message;
  HelperTable helpers = linux_helpers();
  Options options = program->options;
  options.helpers = &helpers;
  Verdict v = verify(program->insns, options);
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.message, "invalid func unknown#1000");
  helpers.add(Helper{1000, "app_log", [](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext&) -> uint64_t {
                       return 0;
                     },
                     HelperProto{RetType::kInteger, {ArgType::kAnything}, false}});
  v = verify(program->insns, options);
  EXPECT_TRUE(v.accepted) << v.message;
}

}  // namespace
}  // namespace bpfvm::verifier
