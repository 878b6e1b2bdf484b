// open_object: sections -> programs (with subprograms linked in) and maps.
#include "object/object.hpp"

#include <bpf/btf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "object/loader.hpp"

namespace bpfvm::object {

using detail::ElfFile;
using detail::ElfReloc;
using detail::ElfSection;
using detail::ElfSymbol;
using detail::Function;
using detail::LoadContext;
using detail::SectionRole;

namespace {

constexpr uint8_t kOpLdImm64 = 0x18;  // BPF_LD | BPF_IMM | BPF_DW
constexpr uint8_t kOpCall = 0x85;     // BPF_JMP | BPF_CALL
constexpr std::size_t kInsnSize = sizeof(isa::RawInsn);

bool has_prefix_or_is(std::string_view name, std::string_view base) {
  return name == base || (name.starts_with(base) && name.size() > base.size() && name[base.size()] == '.');
}

SectionRole role_of(const ElfSection& s) {
  const auto& h = s.header;
  if (s.name == "license") return SectionRole::kLicense;
  if (s.name == "version") return SectionRole::kVersion;
  if (s.name == ".maps") return SectionRole::kMaps;
  if (s.name == "maps" || s.name.starts_with("maps/")) return SectionRole::kLegacyMaps;
  if (h.sh_type == SHT_PROGBITS && (h.sh_flags & SHF_EXECINSTR) != 0) return SectionRole::kCode;
  if (h.sh_type == SHT_PROGBITS && has_prefix_or_is(s.name, ".rodata")) return SectionRole::kRodata;
  if (h.sh_type == SHT_PROGBITS && has_prefix_or_is(s.name, ".data")) return SectionRole::kData;
  if (h.sh_type == SHT_NOBITS && has_prefix_or_is(s.name, ".bss")) return SectionRole::kBss;
  return SectionRole::kIgnored;
}

std::string at(const ElfSection& s, uint64_t offset) {
  return fmt::format("section '{}' offset {:#x}", s.name, offset);
}

isa::RawInsn insn_at(const ElfSection& s, std::size_t index) {
  isa::RawInsn insn;
  std::memcpy(&insn, s.data.data() + index * kInsnSize, kInsnSize);
  return insn;
}

// The functions of each code section, checked against their section.
Status collect_functions(LoadContext& ctx) {
  for (const ElfSymbol& sym : ctx.elf.symbols()) {
    if (sym.type != STT_FUNC) continue;
    const ElfSection* s = ctx.elf.section(sym.section);
    if (s == nullptr || ctx.roles[s->index] != SectionRole::kCode) {
      if (sym.section == SHN_UNDEF) continue;  // an extern (kfunc) declaration; found by its relocation
      return input_error(fmt::format("function '{}' lies in section {}, which holds no code", sym.name, sym.section));
    }
    if (sym.name.empty()) return input_error(fmt::format("{}: function symbol {} has no name", at(*s, sym.value), sym.index));
    if (sym.value % kInsnSize != 0 || sym.size % kInsnSize != 0) {
      return input_error(fmt::format("{}: function '{}' (size {}) is not aligned to 8-byte instructions",
                                     at(*s, sym.value), sym.name, sym.size));
    }
    if (sym.value > s->size() || sym.size > s->size() - sym.value) {
      return input_error(fmt::format("{}: function '{}' (size {}) crosses the end of the section ({} bytes)",
                                     at(*s, sym.value), sym.name, sym.size, s->size()));
    }
    if (sym.size == 0) continue;
    bool global = sym.bind == STB_GLOBAL || sym.bind == STB_WEAK;
    if (s->index != ctx.text && !global) {
      return input_error(fmt::format("{}: program '{}' is static; programs outside .text must be global",
                                     at(*s, sym.value), sym.name));
    }
    ctx.functions.push_back(Function{sym.name, s->index, sym.value / kInsnSize, sym.size / kInsnSize, global});
  }
  std::sort(ctx.functions.begin(), ctx.functions.end(), [](const Function& a, const Function& b) {
    return a.section != b.section ? a.section < b.section : a.start < b.start;
  });
  for (std::size_t i = 1; i < ctx.functions.size(); ++i) {
    const Function& prev = ctx.functions[i - 1];
    const Function& cur = ctx.functions[i];
    if (prev.section == cur.section && cur.start < prev.start + prev.count) {
      const ElfSection& s = *ctx.elf.section(cur.section);
      return input_error(fmt::format("{}: function '{}' overlaps function '{}'", at(s, cur.start * kInsnSize),
                                     cur.name, prev.name));
    }
  }
  return ok_status();
}

const Function* function_starting_at(const LoadContext& ctx, std::size_t section, std::size_t insn) {
  auto it = std::lower_bound(ctx.functions.begin(), ctx.functions.end(), std::pair{section, insn},
                             [](const Function& f, const std::pair<std::size_t, std::size_t>& key) {
                               return f.section != key.first ? f.section < key.first : f.start < key.second;
                             });
  if (it == ctx.functions.end() || it->section != section || it->start != insn) return nullptr;
  return &*it;
}

// A code relocation, classified as libbpf does from the instruction and the symbol.
struct CodeReloc {
  enum class Kind { kCall, kFuncAddr, kMap, kData } kind = Kind::kCall;
  std::size_t target_section = 0;  // kCall / kFuncAddr: section of the callee
  std::size_t target_insn = 0;     // kCall / kFuncAddr: callee's first instruction in its section
  std::size_t map = 0;             // kMap / kData: ObjectSpec::maps index
  uint32_t offset = 0;             // kData: byte offset into the map value
  std::string symbol;
};

using SectionRelocs = std::map<std::size_t, CodeReloc>;  // by instruction index in the section

Result<SectionRelocs> collect_code_relocs(const LoadContext& ctx, const ElfSection& rel, const ElfSection& code) {
  auto entries = ctx.elf.relocations(rel);
  if (!entries) return entries.error();
  SectionRelocs out;
  for (const ElfReloc& r : *entries) {
    std::string where = fmt::format("{}: relocation {} ({})", at(code, r.offset), r.number, rel.name);
    if (r.offset % kInsnSize != 0) return input_error(where + ": offset is not on an instruction boundary");
    const ElfSymbol& sym = ctx.elf.symbols()[r.symbol];
    std::size_t index = r.offset / kInsnSize;
    isa::RawInsn insn = insn_at(code, index);
    if (r.type != R_BPF_64_64 && r.type != R_BPF_64_32) {
      return input_error(fmt::format("{}: unsupported relocation type {} against '{}' (code sections use "
                                     "R_BPF_64_64 and R_BPF_64_32)", where, r.type, sym.name));
    }
    CodeReloc reloc;
    reloc.symbol = sym.name;
    bool is_call = insn.code == kOpCall && insn.src() == kPseudoCall;
    if (is_call) {
      if (sym.section == SHN_UNDEF) {
        return input_error(fmt::format("{}: call to extern function '{}' (kfuncs are not supported)", where, sym.name));
      }
      if (sym.section != ctx.text) {
        return input_error(fmt::format("{}: call to '{}' outside .text (subprograms must be in .text)", where, sym.name));
      }
      if (sym.value % kInsnSize != 0) return input_error(fmt::format("{}: call target '{}' is misaligned", where, sym.name));
      int64_t target = static_cast<int64_t>(sym.value / kInsnSize) + insn.imm + 1;
      if (target < 0) return input_error(fmt::format("{}: call to '{}' lands before .text", where, sym.name));
      reloc.kind = CodeReloc::Kind::kCall;
      reloc.target_section = ctx.text;
      reloc.target_insn = static_cast<std::size_t>(target);
      out.emplace(index, std::move(reloc));
      continue;
    }
    if (insn.code != kOpLdImm64) {
      return input_error(fmt::format("{}: relocation against '{}' on an instruction with opcode {:#04x}, not an "
                                     "ld_imm64 or a call", where, sym.name, insn.code));
    }
    if (index + 1 >= code.size() / kInsnSize) {
      return input_error(fmt::format("{}: ld_imm64 against '{}' is missing its second half", where, sym.name));
    }
    if (sym.section == SHN_UNDEF) {
      return input_error(fmt::format("{}: reference to extern '{}' (.kconfig/.ksyms externs are not supported)",
                                     where, sym.name));
    }
    const ElfSection* target = ctx.elf.section(sym.section);
    SectionRole role = target != nullptr ? ctx.roles[target->index] : SectionRole::kIgnored;
    switch (role) {
      case SectionRole::kCode: {
        if (sym.type != STT_FUNC && sym.type != STT_SECTION) break;
        int64_t byte = static_cast<int64_t>(sym.value) + insn.imm;
        if (byte < 0 || byte % kInsnSize != 0 || static_cast<uint64_t>(byte) >= target->size()) {
          return input_error(fmt::format("{}: function address of '{}' + {} is not an instruction", where, sym.name,
                                         insn.imm));
        }
        reloc.kind = CodeReloc::Kind::kFuncAddr;
        reloc.target_section = target->index;
        reloc.target_insn = static_cast<std::size_t>(byte) / kInsnSize;
        out.emplace(index, std::move(reloc));
        continue;
      }
      case SectionRole::kMaps: {
        auto it = ctx.btf_maps.find(sym.value);
        if (sym.type == STT_SECTION || it == ctx.btf_maps.end()) {
          return input_error(fmt::format("{}: '{}' at offset {:#x} of .maps is not a map definition", where, sym.name,
                                         sym.value));
        }
        reloc.kind = CodeReloc::Kind::kMap;
        reloc.map = it->second;
        out.emplace(index, std::move(reloc));
        continue;
      }
      case SectionRole::kData:
      case SectionRole::kRodata:
      case SectionRole::kBss: {
        auto it = ctx.data_maps.find(target->index);
        if (it == ctx.data_maps.end()) break;
        int64_t offset = static_cast<int64_t>(sym.value) + insn.imm;
        if (offset < 0 || static_cast<uint64_t>(offset) > target->size()) {
          return input_error(fmt::format("{}: '{}' + {} is outside {} ({} bytes)", where, sym.name, insn.imm,
                                         target->name, target->size()));
        }
        reloc.kind = CodeReloc::Kind::kData;
        reloc.map = it->second;
        reloc.offset = static_cast<uint32_t>(offset);
        out.emplace(index, std::move(reloc));
        continue;
      }
      case SectionRole::kLegacyMaps:
        return input_error(fmt::format("{}: '{}' is a legacy map in section '{}'; legacy map definitions are not "
                                       "supported, define maps in SEC(\".maps\") with BTF", where, sym.name,
                                       target->name));
      default:
        break;
    }
    return input_error(fmt::format("{}: '{}' is in {}, which is not a map, global data or code section", where,
                                   sym.name, target != nullptr ? "section '" + target->name + "'" : "no section"));
  }
  return out;
}

// One entry program: its own code, then each subprogram the first time something reaches it
// (depth first, as libbpf appends them), with calls and function addresses made relative to
// the linked layout and map references recorded.
Result<ProgramSpec> link_program(const LoadContext& ctx, const Function& entry,
                                 const std::map<std::size_t, SectionRelocs>& relocs) {
  ProgramSpec prog;
  prog.name = entry.name;
  prog.section = ctx.elf.section(entry.section)->name;
  prog.global = entry.global;
  std::map<const Function*, std::size_t> placed;

  auto append = [&](const Function& f) {
    const ElfSection& s = *ctx.elf.section(f.section);
    std::size_t base = prog.insns.size();
    for (std::size_t i = 0; i < f.count; ++i) prog.insns.push_back(insn_at(s, f.start + i));
    placed.emplace(&f, base);
    if (&f != &entry) prog.subprograms.push_back(SubprogRange{f.name, base, f.count});
    auto ext = ctx.btf_ext.find(s.name);
    if (ext != ctx.btf_ext.end()) {
      for (const FuncInfo& fi : ext->second.func_info) {
        if (fi.insn >= f.start && fi.insn < f.start + f.count) prog.func_info.push_back({base + fi.insn - f.start, fi.type_id});
      }
      for (const CoreReloc& cr : ext->second.core_relocs) {
        if (cr.insn >= f.start && cr.insn < f.start + f.count) {
          CoreReloc copy = cr;
          copy.insn = base + cr.insn - f.start;
          prog.core_relocs.push_back(std::move(copy));
        }
      }
      for (const LineInfo& li : ext->second.line_info) {
        if (li.insn >= f.start && li.insn < f.start + f.count) {
          LineInfo copy = li;
          copy.insn = base + li.insn - f.start;
          prog.line_info.push_back(std::move(copy));
        }
      }
    }
    return base;
  };
  static const SectionRelocs kNoRelocs;

  struct Frame {
    const Function* f;
    std::size_t base;
    std::size_t next;
  };
  std::vector<Frame> stack{{&entry, append(entry), 0}};
  prog.own_insn_count = entry.count;
  while (!stack.empty()) {
    Frame& frame = stack.back();
    if (frame.next >= frame.f->count) {
      stack.pop_back();
      continue;
    }
    const Function& f = *frame.f;
    const ElfSection& s = *ctx.elf.section(f.section);
    auto section_relocs = relocs.find(f.section);
    const SectionRelocs& srel = section_relocs != relocs.end() ? section_relocs->second : kNoRelocs;
    std::size_t i = frame.next++;
    std::size_t pos = frame.base + i;
    std::size_t sec_index = f.start + i;
    isa::RawInsn& insn = prog.insns[pos];
    auto rit = srel.find(sec_index);
    const CodeReloc* reloc = rit != srel.end() ? &rit->second : nullptr;

    std::optional<std::pair<std::size_t, std::size_t>> callee;  // (section, insn)
    bool func_addr = false;
    if (reloc != nullptr) {
      switch (reloc->kind) {
        case CodeReloc::Kind::kCall:
          callee = {reloc->target_section, reloc->target_insn};
          break;
        case CodeReloc::Kind::kFuncAddr:
          if (i + 1 >= f.count) {
            return input_error(fmt::format("{}: ld_imm64 of '{}' is cut by the end of function '{}'",
                                           at(s, sec_index * kInsnSize), reloc->symbol, f.name));
          }
          callee = {reloc->target_section, reloc->target_insn};
          func_addr = true;
          frame.next++;  // the ld_imm64's second slot
          break;
        case CodeReloc::Kind::kMap:
        case CodeReloc::Kind::kData: {
          if (i + 1 >= f.count) {
            return input_error(fmt::format("{}: ld_imm64 against '{}' is cut by the end of function '{}'",
                                           at(s, sec_index * kInsnSize), reloc->symbol, f.name));
          }
          bool value = reloc->kind == CodeReloc::Kind::kData;
          insn.regs = static_cast<uint8_t>((insn.regs & 0x0f) | ((value ? kPseudoMapValue : kPseudoMapFd) << 4));
          insn.imm = 0;  // the runtime writes the map here
          prog.insns[pos + 1].imm = value ? static_cast<int32_t>(reloc->offset) : 0;
          prog.map_relocs.push_back(MapReloc{pos, reloc->map, value ? MapReloc::Kind::kMapValue : MapReloc::Kind::kMapFd,
                                             value ? reloc->offset : 0, reloc->symbol});
          frame.next++;  // the ld_imm64's second slot
          break;
        }
      }
    } else if (insn.code == kOpCall && insn.src() == kPseudoCall) {
      // A call to a static function of the same section carries no relocation: imm is
      // relative to the call's place in the section.
      int64_t target = static_cast<int64_t>(sec_index) + insn.imm + 1;
      if (target < 0) {
        return input_error(fmt::format("{}: call in '{}' lands before its section", at(s, sec_index * kInsnSize), f.name));
      }
      callee = {f.section, static_cast<std::size_t>(target)};
    } else if (insn.code == kOpLdImm64 && insn.src() == kPseudoFunc) {
      return input_error(fmt::format("{}: function address in '{}' without a relocation", at(s, sec_index * kInsnSize),
                                     f.name));
    } else if (insn.code == kOpLdImm64) {
      frame.next++;
    }
    if (!callee) continue;

    const Function* target = function_starting_at(ctx, callee->first, callee->second);
    if (target == nullptr) {
      const ElfSection* ts = ctx.elf.section(callee->first);
      return input_error(fmt::format("{}: {} in '{}' targets instruction {} of section '{}', where no function starts",
                                     at(s, sec_index * kInsnSize), func_addr ? "function address" : "call", f.name,
                                     callee->second, ts != nullptr ? ts->name : "?"));
    }
    auto placed_at = placed.find(target);
    std::size_t target_pos = 0;
    if (placed_at != placed.end()) {
      target_pos = placed_at->second;
    } else {
      target_pos = append(*target);
      stack.push_back(Frame{target, target_pos, 0});
    }
    // `insn` and `frame` may dangle after append(); index again.
    isa::RawInsn& fixed = prog.insns[pos];
    fixed.imm = static_cast<int32_t>(static_cast<int64_t>(target_pos) - static_cast<int64_t>(pos) - 1);
    if (func_addr) fixed.regs = static_cast<uint8_t>((fixed.regs & 0x0f) | (kPseudoFunc << 4));
  }
  std::sort(prog.map_relocs.begin(), prog.map_relocs.end(),
            [](const MapReloc& a, const MapReloc& b) { return a.insn < b.insn; });
  return prog;
}

Result<std::vector<uint8_t>> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return input_error(fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return input_error(fmt::format("{}: read error", path.string()));
  return bytes;
}

Status apply_section_def(ProgramSpec& prog, const OpenOptions& options) {
  const SectionDef* def = find_section_def(prog.section);
  if (def == nullptr) {
    if (options.require_known_sections) {
      return input_error(fmt::format("program '{}': unknown section name '{}' (no SEC() convention gives it a program "
                                     "type; e.g. \"xdp\", \"tc\", \"kprobe/FUNC\")", prog.name, prog.section));
    }
    return ok_status();
  }
  prog.section_known = true;
  prog.prog_type = def->prog_type;
  prog.expected_attach_type = def->expected_attach_type;
  prog.sleepable = def->sleepable;
  prog.xdp_frags = def->xdp_frags;
  std::string_view prefix = def->prefix;
  if (prefix.ends_with('+')) prefix.remove_suffix(1);
  std::string_view rest = std::string_view(prog.section).substr(std::min(prefix.size(), prog.section.size()));
  if (rest.starts_with('/')) rest.remove_prefix(1);
  prog.attach_target = std::string(rest);
  return ok_status();
}

}  // namespace

Result<ObjectSpec> open_object(std::span<const uint8_t> bytes, std::string_view name, OpenOptions options) {
  auto parsed = ElfFile::parse(bytes);
  if (!parsed) return parsed.error();
  const ElfFile& elf = *parsed;

  ObjectSpec spec;
  spec.name = std::string(name);
  LoadContext ctx{elf, spec.name};
  ctx.roles.resize(elf.sections().size(), SectionRole::kIgnored);

  const ElfSection* btf_section = nullptr;
  const ElfSection* btf_ext_section = nullptr;
  for (const ElfSection& s : elf.sections()) {
    if (s.index == 0) continue;
    SectionRole role = role_of(s);
    ctx.roles[s.index] = role;
    switch (role) {
      case SectionRole::kCode:
        if (s.size() % kInsnSize != 0) {
          return input_error(fmt::format("{}: code size {} is not a multiple of 8 (the instruction size); {} "
                                         "trailing bytes at offset {:#x}", describe(s), s.size(),
                                         s.size() % kInsnSize, s.size() - s.size() % kInsnSize));
        }
        if (s.name == ".text") ctx.text = s.index;
        break;
      case SectionRole::kMaps:
        ctx.maps_section = s.index;
        break;
      case SectionRole::kLegacyMaps:
        return input_error(fmt::format("{}: legacy map definitions (struct bpf_map_def in SEC(\"maps\")) are not "
                                       "supported, as in libbpf 1.0; declare maps with BTF in SEC(\".maps\"): "
                                       "struct {{ __uint(type, ...); __type(key, ...); ... }} name SEC(\".maps\");",
                                       describe(s)));
      case SectionRole::kLicense: {
        auto text = std::string_view(reinterpret_cast<const char*>(s.data.data()), s.data.size());
        spec.license = std::string(text.substr(0, text.find('\0')));
        break;
      }
      case SectionRole::kVersion:
        if (s.data.size() != sizeof(uint32_t)) {  // also catches a SHT_NOBITS "version"
          return input_error(fmt::format("{}: kernel version must be 4 bytes, not {}", describe(s), s.data.size()));
        }
        std::memcpy(&spec.kern_version, s.data.data(), sizeof(uint32_t));
        break;
      default:
        if (s.name == ".BTF") btf_section = &s;
        if (s.name == ".BTF.ext") btf_ext_section = &s;
        break;
    }
  }

  if (btf_section != nullptr) {
    if (btf_section->data.size() > UINT32_MAX) return input_error(describe(*btf_section) + ": too large");
    errno = 0;
    struct btf* raw = btf__new(btf_section->data.data(), static_cast<uint32_t>(btf_section->data.size()));
    if (raw == nullptr) {
      int err = errno;
      return input_error(fmt::format("{}: BTF does not parse ({}, {} bytes)", describe(*btf_section),
                                     err != 0 ? std::strerror(err) : "invalid", btf_section->data.size()));
    }
    spec.btf = BtfHandle(raw, [](const struct btf* b) { btf__free(const_cast<struct btf*>(b)); });
    ctx.btf = raw;
    if (btf_ext_section != nullptr) {
      if (auto st = detail::collect_btf_ext(ctx, btf_ext_section->data); !st) return st.error();
    }
  }

  if (auto st = detail::collect_maps(ctx, spec); !st) return st.error();
  if (auto st = collect_functions(ctx); !st) return st.error();

  std::map<std::size_t, SectionRelocs> relocs;
  for (const ElfSection& s : elf.sections()) {
    if (s.index == 0) continue;
    bool rel = s.header.sh_type == SHT_REL;
    bool rela = s.header.sh_type == SHT_RELA;
    if (!rel && !rela) continue;
    const ElfSection* target = elf.section(s.header.sh_info);
    if (target == nullptr || ctx.roles[target->index] != SectionRole::kCode) continue;  // DWARF, BTF, .maps
    if (rela) return input_error(fmt::format("{}: RELA relocations are not used by BPF objects", describe(s)));
    auto collected = collect_code_relocs(ctx, s, *target);
    if (!collected) return collected.error();
    relocs[target->index] = std::move(*collected);
  }

  // .text holds subprograms; an object whose only function is in .text (no SEC()) has it as
  // its entry program, as libbpf 1.1 (Debian 12) does.
  bool lone_text_program = ctx.functions.size() == 1 && ctx.functions[0].section == ctx.text;
  for (const Function& f : ctx.functions) {
    if (f.section == ctx.text && !lone_text_program) continue;
    auto prog = link_program(ctx, f, relocs);
    if (!prog) return prog.error();
    if (auto st = apply_section_def(*prog, options); !st) return st.error();
    spec.programs.push_back(std::move(*prog));
  }

  if (auto st = detail::collect_map_slots(ctx, spec); !st) return st.error();
  return spec;
}

Result<ObjectSpec> open_object(const std::filesystem::path& path, OpenOptions options) {
  auto bytes = read_file(path);
  if (!bytes) return bytes.error();
  // libbpf: the file's basename, at most 15 characters, up to its first '.'.
  std::string name = path.filename().string().substr(0, 15);
  name = name.substr(0, name.find('.'));
  auto spec = open_object(*bytes, name, options);
  if (!spec) {
    Error e = spec.error();
    e.message = path.string() + ": " + e.message;
    return e;
  }
  return spec;
}

const ProgramSpec* ObjectSpec::find_program(std::string_view program) const {
  for (const ProgramSpec& p : programs) {
    if (p.name == program) return &p;
  }
  return nullptr;
}

const MapSpec* ObjectSpec::find_map(std::string_view map) const {
  auto index = map_index(map);
  return index ? &maps[*index] : nullptr;
}

std::optional<std::size_t> ObjectSpec::map_index(std::string_view map) const {
  for (std::size_t i = 0; i < maps.size(); ++i) {
    if (maps[i].name == map) return i;
  }
  return std::nullopt;
}

const DataVar* MapSpec::find_var(std::string_view var) const {
  for (const DataVar& v : vars) {
    if (v.name == var) return &v;
  }
  return nullptr;
}

Status ObjectSpec::set_var(std::string_view map, std::string_view var, std::span<const uint8_t> bytes) {
  auto index = map_index(map);
  if (!index) return input_error(fmt::format("no map '{}' in object '{}'", map, name));
  MapSpec& m = maps[*index];
  const DataVar* v = m.find_var(var);
  if (v == nullptr) return input_error(fmt::format("map '{}' has no variable '{}'", map, var));
  if (bytes.size() != v->size) {
    return input_error(fmt::format("variable '{}' of '{}' is {} bytes, not {}", var, map, v->size, bytes.size()));
  }
  if (v->offset + bytes.size() > m.data.size()) {
    return input_error(fmt::format("variable '{}' lies outside the data of '{}'", var, map));
  }
  std::copy(bytes.begin(), bytes.end(), m.data.begin() + v->offset);
  return ok_status();
}

Result<std::vector<isa::RawInsn>> resolve_map_relocs(const ProgramSpec& program, std::span<const int32_t> map_handles) {
  std::vector<isa::RawInsn> insns = program.insns;
  for (const MapReloc& r : program.map_relocs) {
    if (r.map >= map_handles.size()) {
      return input_error(fmt::format("program '{}': insn {} refers to map {} ('{}'), but only {} maps were given",
                                     program.name, r.insn, r.map, r.symbol, map_handles.size()), r.insn);
    }
    if (r.insn >= insns.size()) {
      Error bug = input_error(fmt::format("program '{}': relocation past the end", program.name), r.insn);
      bug.kind = ErrorKind::kInternal;  // specs from open_object never have one
      return bug;
    }
    insns[r.insn].imm = map_handles[r.map];
  }
  return insns;
}

std::string internal_map_name(std::string_view object_name, std::string_view section) {
  constexpr std::size_t kObjNameLen = 16;  // BPF_OBJ_NAME_LEN, with the terminating NUL
  std::size_t suffix = std::min(std::max<std::size_t>(7, section.size()), kObjNameLen - 1);
  // A custom section with a second dot (".rodata.str1.1", ".data.foo") keeps only its own name.
  std::size_t prefix = section.find('.', 1) != std::string_view::npos
                           ? 0
                           : std::min(kObjNameLen - suffix - 1, object_name.size());
  std::string out = std::string(object_name.substr(0, prefix)) + std::string(section.substr(0, suffix));
  out.resize(std::min(out.size(), kObjNameLen - 1));
  for (char& c : out) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!ok) c = '_';
  }
  return out;
}

}  // namespace bpfvm::object
