// `bpfvm run`: run a program on a packet, a pcap file or a context, as `bpftool prog run`
// does in the kernel (BPF_PROG_TEST_RUN), printing the return value, the average duration,
// the trace lines the program printed and, for pcaps, the verdicts.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace bpfvm::cli {

class RunCommand {
 public:
  explicit RunCommand(CLI::App& app);
  RunCommand(const RunCommand&) = delete;
  RunCommand& operator=(const RunCommand&) = delete;

  [[nodiscard]] bool parsed() const { return command_->parsed(); }
  [[nodiscard]] int execute() const;

 private:
  CLI::App* command_;
  std::string program_;
  std::string prog_name_;
  std::string format_ = "auto";
  std::string type_;
  std::string pcap_in_, pcap_out_, data_in_, ctx_in_, data_out_;
  uint32_t repeat_ = 1;
  bool json_ = false;
  bool dump_maps_ = false;
  bool jit_ = false;
  bool interpret_ = false;
};

[[nodiscard]] inline RunCommand add_run_command(CLI::App& app) { return RunCommand(app); }

}  // namespace bpfvm::cli
