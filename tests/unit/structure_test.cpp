#include <gtest/gtest.h>

#include "isa/assembler.hpp"
#include "structure_cases.hpp"
#include "verifier/structure.hpp"

namespace bpfvm::verifier {
namespace {

std::vector<isa::RawInsn> assemble(const char* source) {
  auto insns = isa::assemble(source);
  EXPECT_TRUE(insns.ok()) << insns.error().to_string();
  return insns.ok() ? isa::encode(*insns) : std::vector<isa::RawInsn>{};
}

TEST(Structure, CasesGetTheirVerdicts) {
  for (const test::StructureCase& c : test::structure_cases()) {
    SCOPED_TRACE(c.name);
    auto result = check_structure(assemble(c.source));
    if (!c.message) {
      EXPECT_TRUE(std::holds_alternative<Structure>(result)) << std::get<Rejection>(result).message;
      continue;
    }
    ASSERT_TRUE(std::holds_alternative<Rejection>(result));
    const Rejection& r = std::get<Rejection>(result);
    EXPECT_EQ(r.message, *c.message);
    EXPECT_EQ(r.error, EINVAL);
    EXPECT_EQ(r.insn, c.insn);
  }
}

TEST(Structure, FindsSubprogramsFromCallsAndCallbacks) {
  auto result = check_structure(assemble("lddw_func %r2, cb\ncall local f\nexit\nf:\nmov %r0, 0\nexit\ncb:\nmov %r0, 1\nexit\n"));
  ASSERT_TRUE(std::holds_alternative<Structure>(result)) << std::get<Rejection>(result).message;
  const auto& subs = std::get<Structure>(result).subprograms;
  ASSERT_EQ(subs.size(), 3u);
  EXPECT_EQ(subs[0].start, 0u);
  EXPECT_EQ(subs[0].end, 4u);
  EXPECT_EQ(subs[1].start, 4u);
  EXPECT_EQ(subs[2].start, 6u);
  EXPECT_EQ(subs[2].end, 8u);
}

TEST(Structure, EmptyAndOversizedPrograms) {
  auto empty = check_structure({});
  ASSERT_TRUE(std::holds_alternative<Rejection>(empty));
  EXPECT_EQ(std::get<Rejection>(empty).error, EINVAL);
  std::vector<isa::RawInsn> huge(kMaxInsns + 1, isa::RawInsn::make(0x95, 0, 0, 0, 0));
  auto big = check_structure(huge);
  ASSERT_TRUE(std::holds_alternative<Rejection>(big));
  EXPECT_EQ(std::get<Rejection>(big).error, E2BIG);
}

}  // namespace
}  // namespace bpfvm::verifier
