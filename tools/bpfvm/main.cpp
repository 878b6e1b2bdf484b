// bpfvm: the command line. Sub-commands follow bpftool's spirit: one clear line on stderr and
// a non-zero exit on error, machine-readable output where scripts need it.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "conformance/data_file.hpp"
#include "exec/interpreter.hpp"
#include "exec/jit/x86_64/jit.hpp"
#include "isa/assembler.hpp"
#include "isa/disasm.hpp"
#include "cli_common.hpp"
#include "prog_command.hpp"
#include "verify_command.hpp"
#include "run_command.hpp"
#include "object_cmd.hpp"

namespace {

using namespace bpfvm;
using namespace bpfvm::cli;

std::vector<isa::Insn> decode_or_die(const std::string& path, const std::vector<isa::RawInsn>& raw) {
  auto insns = isa::decode_program(raw);
  if (!insns) die(where(path, insns.error()));
  return *insns;
}

std::string jit_dump_or_die(const std::string& path, const std::vector<isa::Insn>& insns) {
  if (!jit::jit_available()) die("the JIT needs an x86-64 host");
  static const HelperTable helpers = conformance::conformance_helpers();
  auto program = jit::JitProgram::compile(insns, helpers);
  if (!program) die(where(path, program.error()));
  return program->dump();
}

std::string hex_lines(const std::vector<isa::RawInsn>& raw) {
  std::string out;
  const auto bytes = isa::bytes_from_raw(raw);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out += fmt::format("{:02x}", bytes[i]);
    out += (i % 8 == 7) ? '\n' : ' ';
  }
  return out;
}

int conformance_plugin(const std::string& memory_hex, bool jit) {
  // Protocol of the bpf_conformance runner: program as hex bytes on stdin, memory as hex in
  // argv, r0 in hex on stdout; on failure the error on stdout and a non-zero exit.
  std::string program_hex{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  if (jit && !jit::jit_available()) {
    std::cout << "JIT not available: bpfvm's JIT needs an x86-64 host; use --interpret\n";
    return 1;
  }
  auto memory = conformance::parse_hex_bytes(memory_hex);
  if (!memory) {
    std::cout << "memory: " << memory.error().message << "\n";
    return 1;
  }
  auto bytes = conformance::parse_hex_bytes(program_hex);
  if (!bytes) {
    std::cout << "program: " << bytes.error().message << "\n";
    return 1;
  }
  auto raw = isa::raw_from_bytes(*bytes);
  if (!raw) {
    std::cout << raw.error().to_string() << "\n";
    return 1;
  }
  auto r0 = conformance::run_conformance_program(*raw, std::move(*memory),
                                                jit ? conformance::Engine::kJit : conformance::Engine::kInterpreter);
  if (!r0) {
    std::cout << r0.error().to_string() << "\n";
    return 1;
  }
  std::cout << fmt::format("{:x}\n", *r0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bpfvm: a user-space eBPF runtime (assembler, disassembler, interpreter, x86-64 JIT)"};
  app.set_version_flag("--version", "bpfvm 0.1.0");
  app.require_subcommand(1);

  std::string input, output, format = "auto", syntax = "kernel", mem_hex;
  bool show_disasm = false;

  auto* asm_cmd = app.add_subcommand("asm", "Assemble (conformance dialect, or a .data file's -- asm) to raw bytecode");
  asm_cmd->add_option("FILE", input, "assembly or .data file")->required();
  asm_cmd->add_option("-o,--output", output, "write raw bytecode here (default: hex on stdout)");

  auto* disasm_cmd = app.add_subcommand("disasm", "Disassemble raw bytecode, hex bytes or assembly");
  disasm_cmd->add_option("FILE", input, "program file")->required();
  disasm_cmd->add_option("--syntax", syntax, "kernel (bpftool xlated) or conformance (%r0 dialect)")
      ->check(CLI::IsMember({"kernel", "conformance"}));
  disasm_cmd->add_option("--format", format, "input format: auto, raw, hex, asm, data")
      ->check(CLI::IsMember({"auto", "raw", "hex", "asm", "data"}));

  auto* run_cmd = app.add_subcommand(
      "run-raw", "Run a program (JIT on x86-64, else the interpreter) and print r0 (r1 = memory, r2 = its length)");
  run_cmd->add_option("FILE", input, "program file (raw, hex, assembly or .data)")->required();
  run_cmd->add_option("--mem", mem_hex, "memory given to the program, as hex bytes (default: a .data file's -- mem)");
  run_cmd->add_option("--format", format, "input format: auto, raw, hex, asm, data")
      ->check(CLI::IsMember({"auto", "raw", "hex", "asm", "data"}));
  run_cmd->add_flag("--show-disasm", show_disasm, "print the program (kernel syntax) before running it");
  bool run_jit = false, run_interpret = false, dump_jited = false;
  run_cmd->add_flag("--jit", run_jit, "run JIT-compiled code (the default where the JIT is available)");
  run_cmd->add_flag("--interpret", run_interpret, "run in the interpreter");
  run_cmd->add_flag("--dump-jited", dump_jited, "print the JIT-compiled code (like bpftool prog dump jited) before running it");

  auto* jit_dump_cmd = app.add_subcommand("jit-dump", "Print a program's JIT-compiled x86-64 code beside its BPF instructions");
  jit_dump_cmd->add_option("FILE", input, "program file (raw, hex, assembly or .data)")->required();
  jit_dump_cmd->add_option("--format", format, "input format: auto, raw, hex, asm, data")
      ->check(CLI::IsMember({"auto", "raw", "hex", "asm", "data"}));

  auto* plugin_cmd = app.add_subcommand("conformance-plugin",
                                        "Plugin for the bpf_conformance runner: program hex on stdin, r0 hex on stdout");
  std::vector<std::string> plugin_args;
  bool interpret = false, jit = false;
  plugin_cmd->add_option("MEMHEX", plugin_args, "memory as space-separated hex bytes (may be empty)");
  plugin_cmd->add_flag("--interpret", interpret, "run in the interpreter (default)");
  plugin_cmd->add_flag("--jit", jit, "run JIT-compiled code");

  RunCommand run_command = add_run_command(app);
  const ProgCommand prog_command(app);
  const VerifyCommand verify_command(app);
  cli::ObjectCommands object_cmds;
  cli::add_object_commands(app, object_cmds);

  CLI11_PARSE(app, argc, argv);

  if (run_command.parsed()) return run_command.execute();
  if (auto code = prog_command.execute()) return *code;
  if (auto code = verify_command.execute()) return *code;
  if (auto code = cli::run_object_commands(object_cmds)) return *code;

  if (asm_cmd->parsed()) {
    const auto raw = load_program(input, input.ends_with(".data") ? "data" : "asm");
    if (output.empty()) {
      std::cout << hex_lines(raw);
    } else {
      const auto bytes = isa::bytes_from_raw(raw);
      std::ofstream out(output, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      if (!out) die(fmt::format("cannot write {}", output));
    }
    return 0;
  }
  if (disasm_cmd->parsed()) {
    const auto raw = load_program(input, format);
    auto insns = isa::decode(raw);
    if (!insns) die(where(input, insns.error()));
    std::cout << isa::disassemble(*insns, syntax == "kernel" ? isa::Syntax::kKernel : isa::Syntax::kConformance);
    return 0;
  }
  if (run_cmd->parsed()) {
    const auto raw = load_program(input, format);
    const auto insns = decode_or_die(input, raw);
    std::vector<uint8_t> memory;
    if (!mem_hex.empty()) {
      auto m = conformance::parse_hex_bytes(mem_hex);
      if (!m) die("--mem: " + m.error().message);
      memory = std::move(*m);
    } else if (input.ends_with(".data")) {
      auto file = conformance::parse_data_file(read_file(input));
      if (file) memory = file->memory;
    }
    if (show_disasm) std::cout << isa::disassemble(insns, isa::Syntax::kKernel);
    if (run_jit && run_interpret) die("--jit and --interpret exclude each other");
    const bool use_jit = run_jit || (!run_interpret && jit::jit_available());
    if (run_jit && !jit::jit_available()) die("the JIT needs an x86-64 host; use --interpret");
    if (dump_jited) std::cout << jit_dump_or_die(input, insns);
    auto r0 = conformance::run_conformance_program(
        raw, std::move(memory), use_jit ? conformance::Engine::kJit : conformance::Engine::kInterpreter);
    if (!r0) die(where(input, r0.error()));
    std::cout << fmt::format("0x{:x}\n", *r0);
    return 0;
  }
  if (jit_dump_cmd->parsed()) {
    const auto raw = load_program(input, format);
    std::cout << jit_dump_or_die(input, decode_or_die(input, raw));
    return 0;
  }
  if (plugin_cmd->parsed()) {
    // The runner passes memory first and its plugin options second, either possibly empty.
    std::string memory;
    for (const std::string& a : plugin_args) {
      if (a == "--jit") jit = true;
      else if (a == "--interpret") interpret = true;
      else if (memory.empty()) memory = a;
    }
    return conformance_plugin(memory, jit && !interpret);
  }
  return 0;
}
