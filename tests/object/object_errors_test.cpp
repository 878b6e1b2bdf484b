// Bad objects: each gives one clear error naming the section and offset, never a crash.
#include <gtest/gtest.h>

#include "object/object.hpp"

namespace bpfvm::object {
namespace {

TEST(ObjectErrors, NotElf) {
  const uint8_t bytes[] = {1, 2, 3};
  auto spec = open_object(bytes, "x");
  ASSERT_FALSE(spec.ok());
}

}  // namespace
}  // namespace bpfvm::object
