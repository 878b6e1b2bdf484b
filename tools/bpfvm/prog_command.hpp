// `bpfvm prog dump xlated OBJ.o [--prog NAME] [--json]`: a loaded program's instructions as
// `bpftool prog dump xlated` prints them (map references as map[id:N], C source lines from
// BTF line info as "; ..." comments).
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace bpfvm::cli {

class ProgCommand {
 public:
  explicit ProgCommand(CLI::App& app);
  ProgCommand(const ProgCommand&) = delete;
  ProgCommand& operator=(const ProgCommand&) = delete;
  // The exit code when `prog ...` was given, else nullopt.
  [[nodiscard]] std::optional<int> execute() const;

 private:
  CLI::App* xlated_ = nullptr;
  std::string object_;
  std::string prog_;
  bool json_ = false;
};

}  // namespace bpfvm::cli
