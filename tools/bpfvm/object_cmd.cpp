#include "object_cmd.hpp"

#include <bpf/libbpf.h>
#include <fmt/format.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "object/object.hpp"

namespace bpfvm::cli {
namespace {

// bpftool's names for uapi numbers (libbpf's public tables), or the number.
std::string prog_type_name(uint32_t type) {
  const char* name = libbpf_bpf_prog_type_str(static_cast<bpf_prog_type>(type));
  return name != nullptr ? name : std::to_string(type);
}
std::string map_type_name(uint32_t type) {
  const char* name = libbpf_bpf_map_type_str(static_cast<bpf_map_type>(type));
  return name != nullptr ? name : std::to_string(type);
}
std::string attach_type_name(uint32_t type) {
  const char* name = libbpf_bpf_attach_type_str(static_cast<bpf_attach_type>(type));
  return name != nullptr ? name : std::to_string(type);
}

nlohmann::json to_json(const object::ObjectSpec& spec) {
  nlohmann::json programs = nlohmann::json::array();
  for (const object::ProgramSpec& p : spec.programs) {
    nlohmann::json subprograms = nlohmann::json::array();
    for (const object::SubprogRange& s : p.subprograms) subprograms.push_back(s.name);
    programs.push_back({{"name", p.name},
                        {"section", p.section},
                        {"type", p.section_known ? prog_type_name(p.prog_type) : "unspec"},
                        {"expected_attach_type", p.expected_attach_type},
                        {"attach_target", p.attach_target},
                        {"insns", p.insns.size()},
                        {"subprograms", subprograms},
                        {"map_relocations", p.map_relocs.size()}});
  }
  nlohmann::json maps = nlohmann::json::array();
  for (const object::MapSpec& m : spec.maps) {
    nlohmann::json j = {{"name", m.name},
                        {"type", map_type_name(m.type)},
                        {"key_size", m.key_size},
                        {"value_size", m.value_size},
                        {"max_entries", m.max_entries},
                        {"flags", m.map_flags},
                        {"section", m.section_name}};
    if (m.inner) j["inner"] = {{"type", map_type_name(m.inner->type)}, {"max_entries", m.inner->max_entries}};
    if (!m.initial_slots.empty()) {
      nlohmann::json slots = nlohmann::json::object();
      for (const object::MapSlotInit& s : m.initial_slots) slots[std::to_string(s.slot)] = s.target;
      j["values"] = slots;
    }
    maps.push_back(std::move(j));
  }
  return {{"name", spec.name}, {"license", spec.license}, {"programs", programs}, {"maps", maps}};
}

void print_plain(const object::ObjectSpec& spec) {
  std::cout << fmt::format("object {}  license \"{}\"\n", spec.name, spec.license);
  for (const object::ProgramSpec& p : spec.programs) {
    std::string type = p.section_known ? prog_type_name(p.prog_type) : "unspec (unknown section)";
    std::cout << fmt::format("prog {}  section {}  type {}", p.name, p.section, type);
    // Attach type 0 is also BPF_CGROUP_INET_INGRESS; only cgroup_skb means it.
    constexpr uint32_t kCgroupSkb = 8;
    if (p.expected_attach_type != 0 || (p.section_known && p.prog_type == kCgroupSkb)) {
      std::cout << fmt::format("  attach {}", attach_type_name(p.expected_attach_type));
    }
    std::cout << fmt::format("  insns {}", p.insns.size());
    for (const object::SubprogRange& s : p.subprograms) std::cout << fmt::format(" +{}", s.name);
    std::cout << "\n";
  }
  for (const object::MapSpec& m : spec.maps) {
    std::cout << fmt::format("map {}  type {}  key {}B  value {}B  max_entries {}", m.name, map_type_name(m.type),
                             m.key_size, m.value_size, m.max_entries);
    if (m.map_flags != 0) std::cout << fmt::format("  flags 0x{:x}", m.map_flags);
    std::cout << "\n";
  }
}

}  // namespace

void add_object_commands(CLI::App& app, ObjectCommands& commands) {
  auto* object = app.add_subcommand("object", "Inspect BPF ELF objects (clang -target bpf output)");
  object->require_subcommand(1);
  commands.show = object->add_subcommand("show", "List an object's programs and maps as the loader reads them");
  commands.show->add_option("OBJ", commands.path, "BPF object file")->required();
  commands.show->add_flag("--json,-j", commands.json, "JSON output");
}

std::optional<int> run_object_commands(const ObjectCommands& commands) {
  if (commands.show == nullptr || !commands.show->parsed()) return std::nullopt;
  auto spec = object::open_object(commands.path);
  if (!spec) {
    std::fprintf(stderr, "bpfvm: error: %s\n", spec.error().to_string().c_str());
    return 1;
  }
  if (commands.json) {
    std::cout << to_json(*spec).dump() << "\n";
  } else {
    print_plain(*spec);
  }
  return 0;
}

}  // namespace bpfvm::cli
