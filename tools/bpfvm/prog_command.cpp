#include "prog_command.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <map>

#include "cli_common.hpp"
#include "isa/disasm.hpp"
#include "object/object.hpp"
#include "runtime/loader.hpp"

namespace bpfvm::cli {

ProgCommand::ProgCommand(CLI::App& app) {
  auto* prog = app.add_subcommand("prog", "Inspect programs (like bpftool prog)");
  prog->require_subcommand(1);
  auto* dump = prog->add_subcommand("dump", "Print a program's instructions");
  dump->require_subcommand(1);
  xlated_ = dump->add_subcommand("xlated", "The program as loaded, in the kernel's syntax (bpftool prog dump xlated)");
  xlated_->add_option("OBJECT", object_, "an ELF object (clang -target bpf)")->required();
  xlated_->add_option("--prog", prog_, "the program (default: every program of the object)");
  xlated_->add_flag("--json", json_, "JSON: one array of {\"disasm\", \"src\"} per program");
}

std::optional<int> ProgCommand::execute() const {
  if (!xlated_->parsed()) return std::nullopt;
  auto spec = object::open_object(object_);
  if (!spec) die(fmt::format("{}: {}", object_, spec.error().to_string()));
  auto loaded = LoadedObject::load(*spec);
  if (!loaded) die(fmt::format("{}: {}", object_, loaded.error().to_string()));
  if (!prog_.empty() && loaded->program(prog_) == nullptr) die(fmt::format("{}: no program named '{}'", object_, prog_));

  nlohmann::json out = nlohmann::json::object();
  for (const auto& program : loaded->programs()) {
    if (!prog_.empty() && program->name() != prog_) continue;
    const object::ProgramSpec* ps = spec->find_program(program->name());
    // Source lines by the instruction they start at.
    std::map<std::size_t, std::string> lines;
    if (ps) {
      for (const object::LineInfo& li : ps->line_info) lines[li.insn] = li.line;
    }
    nlohmann::json list = nlohmann::json::array();
    if (!json_) std::cout << fmt::format("{}:\n", program->name());
    const auto& insns = program->insns();
    for (std::size_t pc = 0; pc < insns.size(); ++pc) {
      if (insns[pc].op == isa::Op::LdImm64Tail) continue;
      const std::string text = isa::kernel_text(insns[pc]);
      auto line = lines.find(pc);
      if (json_) {
        nlohmann::json entry = {{"disasm", text}};
        if (line != lines.end()) entry["src"] = line->second;
        list.push_back(std::move(entry));
      } else {
        if (line != lines.end() && !line->second.empty()) std::cout << "; " << line->second << "\n";
        std::cout << fmt::format("{:4}: {}\n", pc, text);
      }
    }
    if (json_) out[program->name()] = std::move(list);
  }
  if (json_) std::cout << out.dump() << "\n";
  return 0;
}

}  // namespace bpfvm::cli
