#include "verify_command.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <iostream>

#include "cli_common.hpp"
#include "helpers/linux_helpers.hpp"
#include "object/object.hpp"
#include "verifier/case_file.hpp"
#include "verifier/explain.hpp"
#include "verifier/object_input.hpp"
#include "verifier/verifier.hpp"

namespace bpfvm::cli {

VerifyCommand::VerifyCommand(CLI::App& app) {
  cmd_ = app.add_subcommand("verify", "Verify programs as the kernel's verifier does (verdict, message, log)");
  cmd_->add_option("OBJECT", object_, "an ELF object (clang -target bpf)");
  cmd_->add_option("--insns", insns_, "a raw program as JSON (what BPF_PROG_LOAD takes; see docs/verifier.md)");
  cmd_->add_option("--prog", prog_, "only this program of the object");
  cmd_->add_option("--log-level", log_level_, "verifier log level: 0, 1 (the failing path) or 2 (every state)")
      ->check(CLI::Range(0, 2));
  cmd_->add_flag("--json", json_, "JSON output");
  cmd_->add_flag("--explain,!--no-explain", explain_,
                 "explain rejections: source line, path, where the register got its value, a fix (default)");
  cmd_->add_flag("--facts", facts_,
                 "for accepted programs, what the verifier proved that the JIT uses: dead code, decided "
                 "branches, divisors, free zero-extensions");
}

std::optional<int> VerifyCommand::execute() const {
  if (!cmd_->parsed()) return std::nullopt;
  if (object_.empty() == insns_.empty()) die("verify needs an object file or --insns CASE.json (one of them)");
  static const HelperTable helpers = linux_helpers();

  struct Item {
    std::string name;
    std::string section;
    verifier::ProgramCase c;
  };
  std::vector<Item> items;
  if (!insns_.empty()) {
    auto c = verifier::parse_case(read_file(insns_));
    if (!c) die(fmt::format("{}: {}", insns_, c.error().message));
    items.push_back(Item{c->name, "", std::move(*c)});
  } else {
    auto spec = object::open_object(object_);
    if (!spec) die(fmt::format("{}: {}", object_, spec.error().to_string()));
    for (const object::ProgramSpec& p : spec->programs) {
      if (!prog_.empty() && p.name != prog_) continue;
      auto c = verifier::program_case(*spec, p);
      if (!c) die(fmt::format("{}: program {}: {}", object_, p.name, c.error().to_string()));
      items.push_back(Item{p.name, p.section, std::move(*c)});
    }
    if (!prog_.empty() && items.empty()) die(fmt::format("{}: no program named '{}'", object_, prog_));
  }

  bool all_accepted = true;
  nlohmann::json programs = nlohmann::json::array();
  nlohmann::json single;
  for (Item& item : items) {
    verifier::Options options = item.c.options;
    options.helpers = &helpers;
    if (log_level_ >= 0) options.log_level = static_cast<uint32_t>(log_level_);
    else if (!insns_.empty()) options.log_level = item.c.options.log_level;
    else options.log_level = 1;
    const verifier::Verdict v = verifier::verify(item.c.insns, options);
    all_accepted = all_accepted && v.accepted;
    std::vector<verifier::FactNote> notes;
    if (facts_ && v.accepted) {
      auto insns = isa::decode(item.c.insns, isa::DecodeOptions{.linux_compatible = true});
      if (insns) notes = verifier::fact_notes(*insns, v.facts);
    }
    if (json_) {
      nlohmann::json j = {{"accepted", v.accepted}, {"errno", v.accepted ? 0 : v.error}, {"log", v.log}};
      if (!v.accepted) {
        j["message"] = v.message;
        if (v.insn) j["insn"] = *v.insn;
        if (explain_) j["explanation"] = verifier::explain(v, item.c);
      }
      if (facts_ && v.accepted) {
        nlohmann::json list = nlohmann::json::array();
        for (const verifier::FactNote& n : notes) {
          list.push_back({{"insn", n.first}, {"last", n.last}, {"text", n.insn}, {"facts", n.facts}});
        }
        j["facts"] = std::move(list);
      }
      if (insns_.empty()) {
        j["name"] = item.name;
        j["section"] = item.section;
        programs.push_back(std::move(j));
      } else {
        single = std::move(j);
      }
      continue;
    }
    if (insns_.empty()) std::cout << fmt::format("{} ({}): ", item.name, item.section);
    if (v.accepted) {
      std::cout << "accepted\n";
    } else {
      std::cout << fmt::format("rejected ({}): {}{}\n", std::strerror(v.error), v.message,
                               v.insn ? fmt::format(" (insn {})", *v.insn) : "");
    }
    if (!v.log.empty() && (options.log_level > 0)) std::cout << v.log;
    if (!v.accepted && explain_) std::cout << verifier::explain(v, item.c);
    if (facts_ && v.accepted) {
      if (notes.empty()) {
        // Programs with callbacks get none yet (docs/verifier.md, "Facts for the JIT").
        std::cout << (v.facts.empty() ? "facts: none given (the program has callbacks)\n" : "facts: none\n");
      } else {
        std::cout << "facts (what the JIT uses):\n";
        for (const verifier::FactNote& n : notes) {
          const std::string where = n.last == n.first ? fmt::format("{}", n.first) : fmt::format("{}-{}", n.first, n.last);
          std::cout << fmt::format("  {:>7}: {}: {}\n", where, n.insn, fmt::join(n.facts, "; "));
        }
      }
    }
  }
  if (json_) {
    if (insns_.empty()) std::cout << nlohmann::json{{"programs", programs}}.dump() << "\n";
    else std::cout << single.dump() << "\n";
  }
  return all_accepted ? 0 : 1;
}

}  // namespace bpfvm::cli
