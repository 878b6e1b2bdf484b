// What a program loaded from an object may use at run time: its maps (helpers check that a
// map argument is one of them), the memory those maps hold (the interpreter lets the program
// read and write it), and how tail calls find their target.
#pragma once

#include <algorithm>
#include <memory>
#include <vector>

#include "exec/interpreter.hpp"

namespace bpfvm {

namespace maps {
class Map;
}

class LoadedProgram;

struct ProgramEnvironment {
  std::vector<std::shared_ptr<maps::Map>> maps;  // every map of the object (inner maps included)
  std::vector<MemoryRegion> regions;             // the memory holding their values
  std::shared_ptr<const HelperTable> helpers;    // the helpers the programs were linked against

  // The map a program passed as a helper argument, or nullptr when it is not one of ours.
  [[nodiscard]] maps::Map* find_map(uint64_t address) const {
    for (const auto& m : maps) {
      if (reinterpret_cast<uint64_t>(m.get()) == address) return m.get();
    }
    return nullptr;
  }
};

}  // namespace bpfvm
