// Helpers a program can call: one table of id, name and implementation. Later issues extend
// the rows with prototypes (read by the verifier) and gpl_only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bpfvm {

struct RunOptions;

// What a helper sees of the run that called it.
struct HelperContext {
  const RunOptions* options = nullptr;
  std::size_t pc = 0;        // index of the calling instruction
  bool stop = false;         // set to end the program now; r0 = the helper's return value
};

using HelperFn = uint64_t (*)(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, HelperContext& ctx);

struct Helper {
  int32_t id = 0;
  std::string name;
  HelperFn fn = nullptr;
};

class HelperTable {
 public:
  // Adds or replaces the helper with this id.
  void add(Helper helper);
  [[nodiscard]] const Helper* find(int32_t id) const;
  [[nodiscard]] const std::vector<Helper>& helpers() const { return helpers_; }

 private:
  std::vector<Helper> helpers_;  // sorted by id
};

}  // namespace bpfvm
