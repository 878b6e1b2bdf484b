#include "verifier/object_input.hpp"

#include <algorithm>
#include <numeric>

namespace bpfvm::verifier {

bool gpl_compatible_license(std::string_view license) {
  return license == "GPL" || license == "GPL v2" || license == "GPL and additional rights" ||
         license == "Dual BSD/GPL" || license == "Dual MIT/GPL" || license == "Dual MPL/GPL";
}

Result<ProgramCase> program_case(const object::ObjectSpec& object, const object::ProgramSpec& program) {
  std::vector<int32_t> handles(object.maps.size());
  std::iota(handles.begin(), handles.end(), 0);
  auto insns = object::resolve_map_relocs(program, handles);
  if (!insns) return insns.error();
  ProgramCase c;
  c.name = program.name;
  c.insns = std::move(*insns);
  c.options.prog_type = program.prog_type;
  c.options.expected_attach_type = program.expected_attach_type;
  c.options.gpl_compatible = gpl_compatible_license(object.license);
  c.options.btf_func_info = !program.func_info.empty();
  for (const object::LineInfo& li : program.line_info) {
    c.lines.push_back(SourceLine{li.insn, li.file, li.line_number, li.line});
  }
  std::sort(c.lines.begin(), c.lines.end(), [](const SourceLine& a, const SourceLine& b) { return a.insn < b.insn; });
  auto map_info = [](const object::MapSpec& m) {
    MapInfo info;
    info.type = m.type;
    info.key_size = m.key_size;
    info.value_size = m.value_size;
    info.max_entries = m.max_entries;
    info.map_flags = m.map_flags;
    info.name = m.name;
    info.spin_lock_off = m.spin_lock_off;
    if (m.read_only()) {
      info.map_flags |= object::kMapFlagRdonlyProg;
      info.frozen_value = m.data;
    }
    return info;
  };
  for (const object::MapSpec& m : object.maps) c.options.maps.push_back(map_info(m));
  // Inner map definitions of maps-in-maps go after the object's maps.
  for (std::size_t i = 0; i < object.maps.size(); ++i) {
    if (!object.maps[i].inner) continue;
    c.options.maps[i].inner = static_cast<int32_t>(c.options.maps.size());
    c.options.maps.push_back(map_info(*object.maps[i].inner));
  }
  return c;
}

}  // namespace bpfvm::verifier
