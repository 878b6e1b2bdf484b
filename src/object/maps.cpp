// Map specs: BTF-defined maps in .maps (libbpf's __uint/__type/__array conventions) and one
// single-element ARRAY per global data section.
#include <bpf/btf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "object/loader.hpp"

namespace bpfvm::object::detail {
namespace {

constexpr uint32_t kPinByName = 1;  // LIBBPF_PIN_BY_NAME
constexpr uint32_t kRelocAbs64 = 2;  // R_BPF_64_ABS64: pointers in data, e.g. .values slots
constexpr std::size_t kKernelNameMax = 15;

std::string btf_name(const struct ::btf* btf, uint32_t offset) {
  const char* name = btf__name_by_offset(btf, offset);
  return name != nullptr ? name : "";
}

bool needs_key(uint32_t type) {
  switch (type) {
    case 1: case 2: case 5: case 6: case 9: case 10: case 11: case 12: case 13:  // hash, array, percpu, lru, lpm, in-maps
      return true;
    default:
      return false;
  }
}
bool needs_value(uint32_t type) {
  switch (type) {
    case 1: case 2: case 5: case 6: case 9: case 10: case 11:
      return true;
    default:
      return false;
  }
}

// Where the value's top-level struct bpf_spin_lock sits (the kernel looks no deeper), -1 if
// it has none; two are an error, as in the kernel.
Result<int32_t> spin_lock_offset(const struct ::btf* btf, uint32_t value_type_id, const std::string& map) {
  if (value_type_id == 0) return -1;
  const btf_type* value = skip_modifiers(btf, value_type_id);
  if (value == nullptr || !btf_is_struct(value)) return -1;
  int32_t found = -1;
  const btf_member* members = btf_members(value);
  for (uint16_t i = 0; i < btf_vlen(value); ++i) {
    const btf_type* t = skip_modifiers(btf, members[i].type);
    if (t == nullptr || !btf_is_struct(t) || btf_name(btf, t->name_off) != "bpf_spin_lock") continue;
    if (found >= 0) return input_error(fmt::format("map '{}': the value has more than one bpf_spin_lock", map));
    found = static_cast<int32_t>(btf_member_bit_offset(value, i) / 8);
  }
  return found;
}

struct ParsedDef {
  MapSpec spec;
  std::optional<uint32_t> values_offset;
};

// `__uint(name, N)` is `int (*name)[N]`: N is the array's element count.
Result<uint32_t> uint_field(const struct ::btf* btf, const btf_member& m, std::string_view map, std::string_view field) {
  const btf_type* ptr = skip_modifiers(btf, m.type);
  if (ptr == nullptr || !btf_is_ptr(ptr)) {
    return input_error(fmt::format("map '{}': field '{}' must be declared with __uint() (a pointer to an array)", map, field));
  }
  const btf_type* arr = btf__type_by_id(btf, ptr->type);
  if (arr == nullptr || !btf_is_array(arr)) {
    return input_error(fmt::format("map '{}': field '{}' must be declared with __uint() (a pointer to an array)", map, field));
  }
  return btf_array(arr)->nelems;
}

Result<ParsedDef> parse_def(const struct ::btf* btf, const btf_type* def, const std::string& map, bool inner) {
  ParsedDef out;
  MapSpec& spec = out.spec;
  spec.name = map;
  spec.kernel_name = map.substr(0, kKernelNameMax);
  spec.section_name = ".maps";
  spec.kind = MapKind::kBtfDefined;
  const btf_member* members = btf_members(def);
  uint16_t count = btf_vlen(def);
  for (uint16_t i = 0; i < count; ++i) {
    const btf_member& m = members[i];
    std::string field = btf_name(btf, m.name_off);
    if (field.empty()) return input_error(fmt::format("map '{}': member {} has no name", map, i));
    auto set_uint = [&](uint32_t& slot) -> Status {
      auto v = uint_field(btf, m, map, field);
      if (!v) return v.error();
      slot = *v;
      return ok_status();
    };
    auto set_type = [&](uint32_t& size, uint32_t& type_id, const char* what) -> Status {
      const btf_type* ptr = btf__type_by_id(btf, m.type);
      if (ptr == nullptr || !btf_is_ptr(ptr)) {
        return input_error(fmt::format("map '{}': '{}' must be declared with __type() (a pointer)", map, field));
      }
      int64_t sz = btf__resolve_size(btf, ptr->type);
      if (sz < 0) return input_error(fmt::format("map '{}': the {} type has no size", map, what));
      if (size != 0 && size != sz) {
        return input_error(fmt::format("map '{}': conflicting {} size {} != {}", map, what, size, sz));
      }
      size = static_cast<uint32_t>(sz);
      type_id = ptr->type;
      return ok_status();
    };
    Status st = ok_status();
    if (field == "type") {
      st = set_uint(spec.type);
    } else if (field == "max_entries") {
      st = set_uint(spec.max_entries);
    } else if (field == "map_flags") {
      st = set_uint(spec.map_flags);
    } else if (field == "numa_node") {
      st = set_uint(spec.numa_node);
    } else if (field == "map_extra") {
      uint32_t extra = 0;
      st = set_uint(extra);
      spec.map_extra = extra;
    } else if (field == "key_size" || field == "value_size") {
      uint32_t v = 0;
      st = set_uint(v);
      if (st) {
        uint32_t& size = field == "key_size" ? spec.key_size : spec.value_size;
        if (size != 0 && size != v) {
          return input_error(fmt::format("map '{}': conflicting {} {} != {}", map, field, size, v));
        }
        size = v;
      }
    } else if (field == "pinning") {
      st = set_uint(spec.pinning);
      if (st && spec.pinning > kPinByName) {
        return input_error(fmt::format("map '{}': invalid pinning value {} (0 = none, 1 = by name)", map, spec.pinning));
      }
    } else if (field == "key") {
      st = set_type(spec.key_size, spec.btf_key_type_id, "key");
    } else if (field == "value") {
      st = set_type(spec.value_size, spec.btf_value_type_id, "value");
    } else if (field == "values") {
      if (inner) return input_error(fmt::format("map '{}': an inner map cannot have 'values' (one level only)", map));
      if (i + 1 != count) return input_error(fmt::format("map '{}': 'values' must be the last member", map));
      bool prog_array = spec.type == kMapTypeProgArray;
      if (!prog_array && spec.type != kMapTypeArrayOfMaps && spec.type != kMapTypeHashOfMaps) {
        return input_error(fmt::format("map '{}': 'values' needs a map-in-map or PROG_ARRAY type (type is {})", map,
                                       spec.type));
      }
      const btf_type* arr = btf__type_by_id(btf, m.type);
      if (arr == nullptr || !btf_is_array(arr) || btf_array(arr)->nelems != 0) {
        return input_error(fmt::format("map '{}': 'values' must be a zero-sized array (use __array())", map));
      }
      const btf_type* ptr = skip_modifiers(btf, btf_array(arr)->type);
      if (ptr == nullptr || !btf_is_ptr(ptr)) {
        return input_error(fmt::format("map '{}': 'values' must be an array of pointers", map));
      }
      const btf_type* pointee = skip_modifiers(btf, ptr->type);
      if (prog_array) {
        if (pointee == nullptr || !btf_is_func_proto(pointee)) {
          return input_error(fmt::format("map '{}': 'values' of a PROG_ARRAY must be function pointers", map));
        }
      } else {
        if (pointee == nullptr || !btf_is_struct(pointee)) {
          return input_error(fmt::format("map '{}': 'values' must point to an inner map definition (a struct)", map));
        }
        auto inner_def = parse_def(btf, pointee, map + ".inner", true);
        if (!inner_def) return inner_def.error();
        spec.inner = std::make_shared<const MapSpec>(std::move(inner_def->spec));
      }
      if (spec.value_size != 0 && spec.value_size != 4) {
        return input_error(fmt::format("map '{}': conflicting value size {} != 4 (slots hold ids)", map, spec.value_size));
      }
      spec.value_size = 4;
      out.values_offset = btf_member_bit_offset(def, i) / 8;
    } else {
      return input_error(fmt::format("map '{}': unknown field '{}'", map, field));
    }
    if (!st) return st.error();
  }
  if (spec.type == 0) return input_error(fmt::format("map '{}': no type (add __uint(type, BPF_MAP_TYPE_...))", map));
  auto lock = spin_lock_offset(btf, spec.btf_value_type_id, map);
  if (!lock) return lock.error();
  spec.spin_lock_off = *lock;
  if (needs_key(spec.type) && spec.key_size == 0) {
    return input_error(fmt::format("map '{}': key size is 0; map type {} needs a key", map, spec.type));
  }
  if (needs_value(spec.type) && spec.value_size == 0) {
    return input_error(fmt::format("map '{}': value size is 0; map type {} needs a value", map, spec.type));
  }
  return out;
}

const ElfSymbol* find_symbol(const ElfFile& elf, std::size_t section, std::string_view name) {
  for (const ElfSymbol& sym : elf.symbols()) {
    if (sym.section == section && sym.name == name && sym.type != STT_SECTION) return &sym;
  }
  return nullptr;
}

Status collect_btf_maps(LoadContext& ctx, ObjectSpec& spec) {
  const ElfSection& maps = *ctx.elf.section(ctx.maps_section);
  if (ctx.btf == nullptr) {
    return input_error(fmt::format("{}: BTF-defined maps need the object's .BTF (compile with clang -g)", describe(maps)));
  }
  int32_t datasec_id = btf__find_by_name_kind(ctx.btf, ".maps", BTF_KIND_DATASEC);
  if (datasec_id <= 0) return input_error(fmt::format("{}: .BTF has no DATASEC '.maps'", describe(maps)));
  const btf_type* datasec = btf__type_by_id(ctx.btf, static_cast<uint32_t>(datasec_id));
  const btf_var_secinfo* vars = btf_var_secinfos(datasec);
  for (uint16_t i = 0; i < btf_vlen(datasec); ++i) {
    const btf_type* var = btf__type_by_id(ctx.btf, vars[i].type);
    if (var == nullptr || !btf_is_var(var)) {
      return input_error(fmt::format("{}: DATASEC entry {} is not a variable", describe(maps), i));
    }
    std::string name = btf_name(ctx.btf, var->name_off);
    const ElfSymbol* sym = find_symbol(ctx.elf, maps.index, name);
    if (name.empty() || sym == nullptr) {
      return input_error(fmt::format("{}: no symbol for map '{}'", describe(maps), name));
    }
    const btf_type* def = skip_modifiers(ctx.btf, var->type);
    if (def == nullptr || !btf_is_struct(def)) {
      return input_error(fmt::format("{} offset {:#x}: map '{}' is not a struct definition", describe(maps), sym->value, name));
    }
    if (sym->value > maps.size() || def->size > maps.size() - sym->value) {
      return input_error(fmt::format("{} offset {:#x}: map '{}' ({} bytes) crosses the end of the section", describe(maps),
                                     sym->value, name, def->size));
    }
    auto parsed = parse_def(ctx.btf, def, name, false);
    if (!parsed) {
      Error e = parsed.error();
      e.message = fmt::format("{} offset {:#x}: {}", describe(maps), sym->value, e.message);
      return e;
    }
    if (ctx.btf_maps.count(sym->value) != 0) {
      return input_error(fmt::format("{} offset {:#x}: two maps at one offset", describe(maps), sym->value));
    }
    std::size_t index = spec.maps.size();
    ctx.btf_maps[sym->value] = index;
    ctx.btf_map_sizes[sym->value] = def->size;
    if (parsed->values_offset) ctx.values_offsets[index] = *parsed->values_offset;
    spec.maps.push_back(std::move(parsed->spec));
  }
  return ok_status();
}

Status collect_data_map(LoadContext& ctx, ObjectSpec& spec, const ElfSection& s, SectionRole role) {
  MapSpec m;
  m.kind = role == SectionRole::kRodata ? MapKind::kRodata : role == SectionRole::kBss ? MapKind::kBss : MapKind::kData;
  m.section_name = s.name;
  m.kernel_name = internal_map_name(ctx.object_name, s.name);
  // libbpf shows custom .data.*/.rodata.* maps under their section name.
  bool custom = (role == SectionRole::kData && s.name != ".data") || (role == SectionRole::kRodata && s.name != ".rodata");
  m.name = custom ? s.name : m.kernel_name;
  m.type = kMapTypeArray;
  m.key_size = sizeof(uint32_t);
  if (s.size() > UINT32_MAX) return input_error(describe(s) + ": too large for a map value");
  m.value_size = static_cast<uint32_t>(s.size());
  m.max_entries = 1;
  if (role == SectionRole::kRodata) m.map_flags |= kMapFlagRdonlyProg;
  if (role == SectionRole::kBss) {
    m.data.assign(s.size(), 0);
  } else {
    m.data.assign(s.data.begin(), s.data.end());
  }
  if (ctx.btf != nullptr) {
    int32_t id = btf__find_by_name_kind(ctx.btf, s.name.c_str(), BTF_KIND_DATASEC);
    if (id > 0) {
      m.btf_value_type_id = static_cast<uint32_t>(id);
      const btf_type* datasec = btf__type_by_id(ctx.btf, m.btf_value_type_id);
      const btf_var_secinfo* vars = btf_var_secinfos(datasec);
      for (uint16_t i = 0; i < btf_vlen(datasec); ++i) {
        const btf_type* var = btf__type_by_id(ctx.btf, vars[i].type);
        if (var == nullptr || !btf_is_var(var)) continue;
        DataVar v;
        v.name = btf_name(ctx.btf, var->name_off);
        v.type_id = var->type;
        v.global = btf_var(var)->linkage != BTF_VAR_STATIC;
        const ElfSymbol* sym = find_symbol(ctx.elf, s.index, v.name);
        if (sym == nullptr) return input_error(fmt::format("{}: no symbol for variable '{}'", describe(s), v.name));
        int64_t size = btf__resolve_size(ctx.btf, var->type);
        if (size < 0) return input_error(fmt::format("{}: variable '{}' has a type without a size", describe(s), v.name));
        if (sym->value > s.size() || static_cast<uint64_t>(size) > s.size() - sym->value) {
          return input_error(fmt::format("{} offset {:#x}: variable '{}' ({} bytes) crosses the end of the section",
                                         describe(s), sym->value, v.name, size));
        }
        v.offset = static_cast<uint32_t>(sym->value);
        v.size = static_cast<uint32_t>(size);
        // clang leaves a DATASEC's variable offsets (and its size) to the loader, as libbpf's
        // btf_fixup_datasec fills them in; values formatted by this BTF need them. The BTF is
        // this object's own copy (btf__new in open_object).
        auto* info = const_cast<btf_var_secinfo*>(&vars[i]);
        info->offset = v.offset;
        info->size = v.size;
        if (v.global) m.map_flags |= kMapFlagMmapable;
        m.vars.push_back(std::move(v));
      }
      std::sort(m.vars.begin(), m.vars.end(), [](const DataVar& a, const DataVar& b) { return a.offset < b.offset; });
      const_cast<btf_type*>(datasec)->size = m.value_size;
    }
  }
  ctx.data_maps[s.index] = spec.maps.size();
  spec.maps.push_back(std::move(m));
  return ok_status();
}

}  // namespace

const btf_type* skip_modifiers(const struct ::btf* btf, uint32_t id, uint32_t* out_id) {
  for (int depth = 0; depth < 64; ++depth) {
    const btf_type* t = btf__type_by_id(btf, id);
    if (t == nullptr) return nullptr;
    if (!btf_is_mod(t) && !btf_is_typedef(t)) {
      if (out_id != nullptr) *out_id = id;
      return t;
    }
    id = t->type;
  }
  return nullptr;
}

Status collect_maps(LoadContext& ctx, ObjectSpec& spec) {
  if (ctx.maps_section != 0) {
    if (auto st = collect_btf_maps(ctx, spec); !st) return st;
  }
  for (const ElfSection& s : ctx.elf.sections()) {
    SectionRole role = s.index != 0 ? ctx.roles[s.index] : SectionRole::kIgnored;
    if (role != SectionRole::kData && role != SectionRole::kRodata && role != SectionRole::kBss) continue;
    if (s.size() == 0) continue;
    if (auto st = collect_data_map(ctx, spec, s, role); !st) return st;
  }
  return ok_status();
}

Status collect_map_slots(LoadContext& ctx, ObjectSpec& spec) {
  if (ctx.maps_section == 0) return ok_status();
  const ElfSection& maps = *ctx.elf.section(ctx.maps_section);
  for (const ElfSection& rel : ctx.elf.sections()) {
    if (rel.index == 0 || rel.header.sh_type != SHT_REL || rel.header.sh_info != ctx.maps_section) continue;
    auto entries = ctx.elf.relocations(rel);
    if (!entries) return entries.error();
    for (const ElfReloc& r : *entries) {
      std::string where = fmt::format("{} offset {:#x}: relocation {} ({})", describe(maps), r.offset, r.number, rel.name);
      const ElfSymbol& sym = ctx.elf.symbols()[r.symbol];
      // clang emits R_BPF_64_ABS64 for pointers in data; older versions R_BPF_64_64.
      if (r.type != kRelocAbs64 && r.type != R_BPF_64_64) {
        return input_error(fmt::format("{}: unsupported relocation type {} against '{}' (expected R_BPF_64_ABS64)",
                                       where, r.type, sym.name));
      }
      auto it = ctx.btf_maps.upper_bound(r.offset);
      if (it == ctx.btf_maps.begin()) return input_error(where + ": not inside a map definition");
      --it;
      uint64_t map_offset = it->first;
      std::size_t index = it->second;
      MapSpec& outer = spec.maps[index];
      auto values = ctx.values_offsets.find(index);
      uint64_t within = r.offset - map_offset;
      if (within >= ctx.btf_map_sizes[map_offset] && values == ctx.values_offsets.end()) {
        return input_error(where + ": not inside a map definition");
      }
      if (values == ctx.values_offsets.end() || within < values->second || (within - values->second) % 8 != 0) {
        return input_error(fmt::format("{}: map '{}' is initialised outside its 'values' array", where, outer.name));
      }
      uint64_t slot = (within - values->second) / 8;
      if (slot >= outer.max_entries) {
        return input_error(fmt::format("{}: slot {} of map '{}' is beyond max_entries {}", where, slot, outer.name,
                                       outer.max_entries));
      }
      MapSlotInit init;
      init.slot = static_cast<uint32_t>(slot);
      if (outer.type == kMapTypeProgArray) {
        const ProgramSpec* prog = sym.type == STT_FUNC ? spec.find_program(sym.name) : nullptr;
        if (prog == nullptr) {
          return input_error(fmt::format("{}: slot {} of '{}' names '{}', which is not a program", where, slot,
                                         outer.name, sym.name));
        }
        init.kind = MapSlotInit::Kind::kProgram;
        init.target = sym.name;
      } else {
        auto target = sym.section == ctx.maps_section ? ctx.btf_maps.find(sym.value) : ctx.btf_maps.end();
        if (target == ctx.btf_maps.end() || sym.type == STT_SECTION) {
          return input_error(fmt::format("{}: slot {} of '{}' names '{}', which is not a map", where, slot,
                                         outer.name, sym.name));
        }
        init.kind = MapSlotInit::Kind::kMap;
        init.target = spec.maps[target->second].name;
      }
      outer.initial_slots.push_back(std::move(init));
    }
  }
  for (MapSpec& m : spec.maps) {
    std::stable_sort(m.initial_slots.begin(), m.initial_slots.end(),
                     [](const MapSlotInit& a, const MapSlotInit& b) { return a.slot < b.slot; });
  }
  return ok_status();
}

}  // namespace bpfvm::object::detail
