// `bpfvm object show OBJ.o [--json]`: what the object loader reads from a BPF object — its
// programs (name, section, type, instructions) and maps (name, type, sizes, entries).
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace bpfvm::cli {

struct ObjectCommands {
  CLI::App* show = nullptr;
  std::string path;
  bool json = false;
};

// Adds the `object` sub-command (with `show`); its options write into `commands`, which must
// outlive parsing.
void add_object_commands(CLI::App& app, ObjectCommands& commands);
// Runs the command if it was parsed; returns its exit code, or nullopt when it was not given.
std::optional<int> run_object_commands(const ObjectCommands& commands);

}  // namespace bpfvm::cli
