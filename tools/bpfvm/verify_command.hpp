// `bpfvm verify OBJ.o [--prog NAME] [--log-level N] [--json] [--facts]` and
// `bpfvm verify --insns CASE.json [--log-level N] [--json]`: the verifier's verdict and log,
// as BPF_PROG_LOAD would give them. Exit 0 when everything verified is accepted.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace bpfvm::cli {

class VerifyCommand {
 public:
  explicit VerifyCommand(CLI::App& app);
  VerifyCommand(const VerifyCommand&) = delete;
  VerifyCommand& operator=(const VerifyCommand&) = delete;
  [[nodiscard]] std::optional<int> execute() const;

 private:
  CLI::App* cmd_ = nullptr;
  std::string object_;
  std::string insns_;
  std::string prog_;
  int log_level_ = -1;
  bool json_ = false;
  bool explain_ = true;
  bool facts_ = false;
};

}  // namespace bpfvm::cli
