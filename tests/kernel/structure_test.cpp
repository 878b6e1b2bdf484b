// The verifier's structural pass against Linux: same verdict, same message, same errno.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include "../unit/structure_cases.hpp"
#include "differential.hpp"
#include "verifier/structure.hpp"

namespace bpfvm::kernel {
namespace {

TEST(StructureVsKernel, SameVerdictsAndMessages) {
  SKIP_WITHOUT_BPF();
  for (const test::StructureCase& c : test::structure_cases()) {
    SCOPED_TRACE(c.name);
    auto insns = isa::assemble(c.source);
    ASSERT_TRUE(insns.ok());
    const auto raw = isa::encode(*insns);
    LoadResult kernel = load_program(BPF_PROG_TYPE_SOCKET_FILTER, raw, 1);
    if (kernel.fd >= 0) close(kernel.fd);
    auto ours = verifier::check_structure(raw);
    if (const auto* r = std::get_if<verifier::Rejection>(&ours)) {
      EXPECT_LT(kernel.fd, 0) << "the kernel accepted what bpfvm rejects: " << r->message;
      EXPECT_EQ(kernel.error, r->error);
      EXPECT_NE(kernel.log.find(r->message + "\n"), std::string::npos) << "kernel log:\n" << kernel.log;
    } else {
      // Structurally fine: the kernel must not reject it for a structural reason either.
      EXPECT_GE(kernel.fd, 0) << "kernel log:\n" << kernel.log;
    }
  }
}

}  // namespace
}  // namespace bpfvm::kernel
