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
#include "object/object.hpp"
#include "progtypes/progtypes.hpp"
#include "runtime/events.hpp"
#include "runtime/loader.hpp"
#include "runtime/map_dump.hpp"

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

using Json = OrderedJson;

// Records the program sent through perf event arrays and ring buffers: one line each, the
// bytes in hex (what was sent has no type user space can know), and what was lost.
void print_events(const std::vector<SentRecord>& records, const std::vector<LostRecords>& lost) {
  for (const SentRecord& r : records) {
    if (r.cpu) std::cout << fmt::format("perf_event_output: {} cpu {}: {}\n", r.map, *r.cpu, hex_bytes(r.data));
    else std::cout << fmt::format("ringbuf: {}: {}\n", r.map, hex_bytes(r.data));
  }
  for (const LostRecords& l : lost) {
    std::cout << fmt::format("perf_event_output: {} cpu {}: lost {} sample{} (perf buffer full)\n", l.map, l.cpu,
                             l.count, l.count == 1 ? "" : "s");
  }
}

Json events_json(const std::vector<SentRecord>& records) {
  Json list = Json::array();
  for (const SentRecord& r : records) {
    Json e{{"map", r.map}};
    if (r.cpu) e["cpu"] = *r.cpu;
    e["data"] = r.data;
    list.push_back(std::move(e));
  }
  return list;
}

std::string verdict_suffix(uint32_t type, uint32_t retval) {
  auto name = verdict_name(type, retval);
  return name ? fmt::format(" ({})", *name) : "";
}

}  // namespace

RunCommand::RunCommand(CLI::App& app) {
  command_ = app.add_subcommand("run", "Run a program on a packet, a pcap file or a context (like bpftool prog run)");
  command_->add_option("PROGRAM", program_,
                       "an ELF object (clang -target bpf), or raw bytecode, hex, assembly or a .data file")
      ->required();
  command_->add_option("--prog", prog_name_, "the object's program to run (needed when it has several)");
  command_->add_flag("--dump-maps", dump_maps_, "print the object's maps after the run (like bpftool map dump)");
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
  command_->add_flag("--json", json_, "JSON output (retval, duration, data_out, trace, events, verdicts, maps)");
  command_->add_flag("--jit", jit_, "run JIT-compiled code (the default where the JIT is available)");
  command_->add_flag("--interpret", interpret_, "run in the interpreter");
  command_->add_flag("--unverified", unverified_,
                     "skip the verifier (objects): run in the interpreter, with its run-time checks only");
}

int RunCommand::execute() const {
  // The program: one of an object's, or a lone program in one of the raw formats.
  if (jit_ && interpret_) die("--jit and --interpret exclude each other");
  if (jit_ && unverified_) die("--unverified runs in the interpreter only; drop --jit");
  if (jit_ && !jit::jit_available()) die("the JIT needs an x86-64 host; use --interpret");
  const Engine engine = interpret_ || unverified_ ? Engine::kInterpreter : default_engine();
  std::optional<LoadedObject> object;
  const LoadedProgram* loaded = nullptr;
  std::optional<Interpreter> interpreter;
  std::optional<jit::JitProgram> jitted;
  uint32_t spec_type = 0;
  if (is_elf(program_)) {
    auto spec = object::open_object(program_);
    if (!spec) die(fmt::format("{}: {}", program_, spec.error().to_string()));
    auto result = LoadedObject::load(*spec, nullptr, LoadOptions{.engine = engine, .verify = !unverified_});
    if (!result) die(fmt::format("{}: {}", program_, result.error().to_string()));
    object = std::move(*result);
    if (object->programs().empty()) die(fmt::format("{}: the object has no programs", program_));
    std::string names;
    for (const auto& p : object->programs()) names += (names.empty() ? "" : ", ") + p->name();
    // An object with several programs (tail-call chains, several hooks) says which one runs.
    if (prog_name_.empty() && object->programs().size() > 1) {
      die(fmt::format("{}: the object has {} programs ({}); choose one with --prog", program_,
                      object->programs().size(), names));
    }
    loaded = prog_name_.empty() ? object->programs().front().get() : object->program(prog_name_);
    if (loaded == nullptr) die(fmt::format("{}: no program named '{}' (the object has: {})", program_, prog_name_, names));
    spec_type = loaded->prog_type();
  } else {
    if (!prog_name_.empty()) die("--prog selects a program of an ELF object; " + program_ + " is not one");
    if (dump_maps_) die("--dump-maps needs an ELF object with maps");
    auto insns = isa::decode_program(load_program(program_, format_));
    if (!insns) die(where(program_, insns.error()));
    if (engine == Engine::kJit) {
      auto compiled = jit::JitProgram::compile(std::move(*insns), linux_helpers());
      if (!compiled) die(where(program_, compiled.error()));
      jitted.emplace(std::move(*compiled));
    } else {
      auto created = Interpreter::create(std::move(*insns), linux_helpers());
      if (!created) die(where(program_, created.error()));
      interpreter.emplace(std::move(*created));
    }
  }
  std::string type_name = type_;
  const ProgTypeInfo* type = nullptr;
  if (type_name.empty() && spec_type != 0) {
    type = prog_type_info(spec_type);
  } else {
    if (type_name.empty()) type_name = pcap_in_.empty() ? "unspec" : "xdp";
    type = prog_type_by_name(type_name);
    if (type == nullptr) die(fmt::format("unknown program type '{}'", type_name));
  }

  // User space reads what the program sends after each run (untimed), as a consumer polling
  // its perf and ring buffers keeps up with the events.
  std::optional<EventReader> events;
  if (object) {
    auto reader = EventReader::open(*object);
    if (!reader) die(fmt::format("{}: {}", program_, reader.error().message));
    events.emplace(std::move(*reader));
  }
  std::vector<SentRecord> records;

  TraceLines trace;
  const ProgramRunner runner = [&](const RunOptions& options) {
    RunOptions o = options;
    o.trace = &trace;
    return loaded ? loaded->run(std::move(o)) : (jitted ? jitted->run(o) : interpreter->run(o));
  };
  std::function<void()> read_events;
  if (events) read_events = [&] { events->read(records); };

  Json out;
  std::vector<LostRecords> lost;  // known once the runs are done
  if (!pcap_in_.empty()) {
    PcapRunOptions options{type->type, pcap_in_, std::nullopt, repeat_, read_events};
    if (!pcap_out_.empty()) options.output = pcap_out_;
    auto result = run_pcap(runner, options);
    if (!result) die(where(program_, result.error()));
    if (events) lost = events->lost();
    const uint64_t average = result->packets ? result->total_duration_ns / result->packets : 0;
    if (json_) {
      out["packets"] = result->packets;
      out["written"] = result->written;
      out["verdicts"] = result->verdicts;
      out["duration"] = average;
    } else {
      for (const std::string& line : trace.lines) std::cout << "bpf_trace_printk: " << line << "\n";
      print_events(records, lost);
      std::cout << fmt::format("Packets: {}, written: {}, duration (average): {}ns\n", result->packets,
                               result->written, average);
      for (const auto& [verdict, count] : result->verdicts) std::cout << fmt::format("  {}: {}\n", verdict, count);
    }
  } else {
    TestRunRequest request{type->type, {}, {}, repeat_, read_events};
    if (!data_in_.empty()) request.data_in = read_bytes(data_in_);
    if (!ctx_in_.empty()) request.ctx_in = read_bytes(ctx_in_);
    auto result = test_run(runner, request);
    if (!result) die(where(program_, result.error()));
    if (events) lost = events->lost();
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
      print_events(records, lost);
      std::cout << fmt::format("Return value: {}{}, duration (average): {}ns\n", result->retval,
                               verdict_suffix(type->type, result->retval), result->duration_ns);
    }
  }
  if (dump_maps_) {
    for (const NamedMap& m : object->maps()) {
      if (!json_) {
        std::cout << dump_map_text(*object, m);
      } else if (auto entries = dump_map_json(*object, m)) {
        out["maps"][m.name] = std::move(*entries);
      }
    }
  }
  if (json_) {
    out["trace"] = trace.lines;
    out["events"] = events_json(records);
    if (!lost.empty()) {
      out["events_lost"] = Json::array();
      for (const LostRecords& l : lost) out["events_lost"].push_back({{"map", l.map}, {"cpu", l.cpu}, {"count", l.count}});
    }
    std::cout << out.dump() << "\n";
  }
  return 0;
}

}  // namespace bpfvm::cli
