#include "run_command.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>

#include "cli_common.hpp"
#include "exec/interpreter.hpp"
#include "helpers/linux_helpers.hpp"
#include "hooks/pcap_run.hpp"
#include "hooks/test_run.hpp"
#include "progtypes/progtypes.hpp"

namespace bpfvm::cli {
namespace {

struct TraceLines final : TraceSink {
  std::vector<std::string> lines;
  void write(std::string_view message) override { lines.emplace_back(message); }
};

std::vector<uint8_t> read_bytes(const std::string& path) {
  const std::string text = read_file(path);
  return {text.begin(), text.end()};
}

std::string verdict_suffix(uint32_t type, uint32_t retval) {
  auto name = verdict_name(type, retval);
  return name ? fmt::format(" ({})", *name) : "";
}

}  // namespace

RunCommand::RunCommand(CLI::App& app) {
  command_ = app.add_subcommand("run", "Run a program on a packet, a pcap file or a context (like bpftool prog run)");
  command_->add_option("PROGRAM", program_, "program file: raw bytecode, hex, assembly or a .data file")->required();
  command_->add_option("--type", type_, "program type: xdp, sched_cls, socket_filter, raw_tracepoint, unspec, ...");
  command_->add_option("--format", format_, "input format of PROGRAM: auto, raw, hex, asm, data")
      ->check(CLI::IsMember({"auto", "raw", "hex", "asm", "data"}));
  auto* pcap = command_->add_option("--pcap", pcap_in_, "run on every packet of this pcap file");
  command_->add_option("--pcap-out", pcap_out_, "write the packets the program passes or transmits here")
      ->needs(pcap);
  auto* data_in = command_->add_option("--data-in", data_in_, "the packet (or memory) to run on, raw bytes");
  command_->add_option("--ctx-in", ctx_in_, "the context (xdp_md, __sk_buff, tracepoint arguments), raw bytes");
  command_->add_option("--data-out", data_out_, "write the packet as the program left it here")->excludes(pcap);
  pcap->excludes(data_in);
  command_->add_option("--repeat", repeat_, "run this many times and report the average duration")
      ->check(CLI::PositiveNumber);
  command_->add_flag("--json", json_, "JSON output (retval, duration, data_out, trace, verdicts)");
}

int RunCommand::execute() const {
  if (is_elf(program_)) {
    die(fmt::format("{}: ELF objects are loaded by the object loader, which this build does not have yet; "
                    "give a raw program (bpfvm asm) and --type",
                    program_));
  }
  std::string type_name = type_;
  if (type_name.empty()) type_name = pcap_in_.empty() ? "unspec" : "xdp";
  const ProgTypeInfo* type = prog_type_by_name(type_name);
  if (type == nullptr) die(fmt::format("unknown program type '{}'", type_name));

  auto insns = isa::decode_program(load_program(program_, format_));
  if (!insns) die(where(program_, insns.error()));
  auto interpreter = Interpreter::create(std::move(*insns), linux_helpers());
  if (!interpreter) die(where(program_, interpreter.error()));

  TraceLines trace;
  const ProgramRunner runner = [&](const RunOptions& options) {
    RunOptions o = options;
    o.trace = &trace;
    return interpreter->run(o);
  };

  nlohmann::json out;
  if (!pcap_in_.empty()) {
    PcapRunOptions options{type->type, pcap_in_, std::nullopt, repeat_};
    if (!pcap_out_.empty()) options.output = pcap_out_;
    auto result = run_pcap(runner, options);
    if (!result) die(where(program_, result.error()));
    const uint64_t average = result->packets ? result->total_duration_ns / result->packets : 0;
    if (json_) {
      out["packets"] = result->packets;
      out["written"] = result->written;
      out["verdicts"] = result->verdicts;
      out["duration"] = average;
    } else {
      for (const std::string& line : trace.lines) std::cout << "bpf_trace_printk: " << line << "\n";
      std::cout << fmt::format("Packets: {}, written: {}, duration (average): {}ns\n", result->packets,
                               result->written, average);
      for (const auto& [verdict, count] : result->verdicts) std::cout << fmt::format("  {}: {}\n", verdict, count);
    }
  } else {
    TestRunRequest request{type->type, {}, {}, repeat_};
    if (!data_in_.empty()) request.data_in = read_bytes(data_in_);
    if (!ctx_in_.empty()) request.ctx_in = read_bytes(ctx_in_);
    auto result = test_run(runner, request);
    if (!result) die(where(program_, result.error()));
    if (!data_out_.empty()) {
      std::ofstream file(data_out_, std::ios::binary);
      file.write(reinterpret_cast<const char*>(result->data_out.data()),
                 static_cast<std::streamsize>(result->data_out.size()));
      if (!file) die(fmt::format("cannot write {}", data_out_));
    }
    if (json_) {
      out["retval"] = result->retval;
      out["duration"] = result->duration_ns;
      out["data_out"] = result->data_out;
      if (!request.ctx_in.empty()) out["ctx_out"] = result->ctx_out;
    } else {
      for (const std::string& line : trace.lines) std::cout << "bpf_trace_printk: " << line << "\n";
      std::cout << fmt::format("Return value: {}{}, duration (average): {}ns\n", result->retval,
                               verdict_suffix(type->type, result->retval), result->duration_ns);
    }
  }
  if (json_) {
    out["trace"] = trace.lines;
    std::cout << out.dump() << "\n";
  }
  return 0;
}

}  // namespace bpfvm::cli
