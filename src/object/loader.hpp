// What the loader's passes share while one object is parsed. Internal to src/object.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "object/elf_file.hpp"
#include "object/object.hpp"

namespace bpfvm::object::detail {

enum class SectionRole { kIgnored, kCode, kMaps, kData, kRodata, kBss, kLicense, kVersion, kLegacyMaps };

// A function symbol in a code section: an entry program, or a subprogram in .text.
struct Function {
  std::string name;
  std::size_t section = 0;
  std::size_t start = 0;  // first instruction, counted in the section
  std::size_t count = 0;
  bool global = false;
};

// .BTF.ext records of one section (insn = instruction index in the section).
struct SectionBtfExt {
  std::vector<FuncInfo> func_info;
  std::vector<LineInfo> line_info;
  std::vector<CoreReloc> core_relocs;
};

struct LoadContext {
  LoadContext(const ElfFile& file, std::string name) : elf(file), object_name(std::move(name)) {}
  const ElfFile& elf;
  std::string object_name;
  const struct ::btf* btf = nullptr;
  std::vector<SectionRole> roles;           // by section index
  std::size_t text = 0;                     // .text section index, 0 when absent
  std::size_t maps_section = 0;             // .maps section index, 0 when absent
  std::map<std::size_t, std::size_t> data_maps;  // data section index -> ObjectSpec::maps index
  std::map<uint64_t, std::size_t> btf_maps;      // offset in .maps -> ObjectSpec::maps index
  std::map<uint64_t, uint64_t> btf_map_sizes;    // offset in .maps -> size of its definition
  std::map<std::size_t, uint32_t> values_offsets; // map index -> offset of its `values` member
  std::vector<Function> functions;
  std::map<std::string, SectionBtfExt> btf_ext;  // by section name
};

// Sets up ObjectSpec::maps (BTF-defined, then global data) and the context's lookup tables.
[[nodiscard]] Status collect_maps(LoadContext& ctx, ObjectSpec& spec);
// `.values = { [i] = &x }` of PROG_ARRAYs and map-in-maps, from .rel.maps (needs programs).
[[nodiscard]] Status collect_map_slots(LoadContext& ctx, ObjectSpec& spec);
// Reads .BTF.ext's func_info and line_info into ctx.btf_ext.
[[nodiscard]] Status collect_btf_ext(LoadContext& ctx, std::span<const uint8_t> data);

// Follows typedefs and const/volatile/restrict/type tags; nullptr for a bad id.
[[nodiscard]] const struct btf_type* skip_modifiers(const struct ::btf* btf, uint32_t id, uint32_t* out_id = nullptr);

}  // namespace bpfvm::object::detail
