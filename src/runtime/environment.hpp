// What a program loaded from an object keeps with it at run time: its maps (owned here), the
// memory those maps hold (the interpreter lets the program read and write it) and the helper
// table it was linked against.
#pragma once

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
};

}  // namespace bpfvm
