// The ELF object loader: a clang-built BPF object (libbpf conventions) parsed into specs —
// programs with their subprograms linked in, the relocations still to apply, and the maps
// (BTF-defined and global data) to create. Nothing here creates a map or loads a program:
// the runtime consumes the specs.
//
// Numbers (program, attach and map types, map flags) are the uapi values of <linux/bpf.h>.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "isa/insn.hpp"
#include "support/result.hpp"

struct btf;  // libbpf

namespace bpfvm::object {

// ---- uapi numbers the specs use (a few are newer than Debian 12's headers) -------------------

inline constexpr uint32_t kProgTypeUnspec = 0;     // BPF_PROG_TYPE_UNSPEC
inline constexpr uint32_t kMapTypeArray = 2;       // BPF_MAP_TYPE_ARRAY
inline constexpr uint32_t kMapTypeProgArray = 3;   // BPF_MAP_TYPE_PROG_ARRAY
inline constexpr uint32_t kMapTypeArrayOfMaps = 12;
inline constexpr uint32_t kMapTypeHashOfMaps = 13;
inline constexpr uint32_t kMapFlagRdonlyProg = 1U << 7;   // BPF_F_RDONLY_PROG
inline constexpr uint32_t kMapFlagMmapable = 1U << 10;    // BPF_F_MMAPABLE

// ld_imm64 source kinds (insn.src) that a relocation leaves behind.
inline constexpr uint8_t kPseudoMapFd = 1;     // BPF_PSEUDO_MAP_FD: imm = map
inline constexpr uint8_t kPseudoMapValue = 2;  // BPF_PSEUDO_MAP_VALUE: imm = map, next imm = offset
inline constexpr uint8_t kPseudoCall = 1;      // call insn src: BPF_PSEUDO_CALL
inline constexpr uint8_t kPseudoFunc = 4;      // ld_imm64 src: BPF_PSEUDO_FUNC

// ---- section names -> program type ------------------------------------------------------------

// One row of libbpf's SEC() table. A prefix ending in '/' needs "prefix/extra"; one ending in
// '+' is the bare name or "name/extra"; any other is an exact name.
struct SectionDef {
  std::string_view prefix;
  uint32_t prog_type;
  uint32_t expected_attach_type;
  bool sleepable = false;
  bool xdp_frags = false;
  bool attach_btf = false;  // the target after '/' names a BTF function or type
};

// The row libbpf would pick for a section name (first match in table order), or nullptr.
[[nodiscard]] const SectionDef* find_section_def(std::string_view section);
[[nodiscard]] std::span<const SectionDef> section_defs();

// ---- specs ------------------------------------------------------------------------------------

// An ld_imm64 that must point at a map once maps exist. The instruction already carries the
// source kind (kPseudoMapFd or kPseudoMapValue) and, for a map value, the byte offset in the
// second slot's imm; the runtime writes the map's fd or id into insns[insn].imm.
struct MapReloc {
  enum class Kind { kMapFd, kMapValue };
  std::size_t insn = 0;     // index into ProgramSpec::insns (the first slot of the ld_imm64)
  std::size_t map = 0;      // index into ObjectSpec::maps
  Kind kind = Kind::kMapFd;
  uint32_t offset = 0;      // kMapValue: byte offset into the value (also in insns[insn + 1].imm)
  std::string symbol;       // the symbol the relocation named (a map, a variable, or a section)
};

// .BTF.ext records, rebased to the linked program (insn = instruction index).
struct FuncInfo {
  std::size_t insn = 0;
  uint32_t type_id = 0;  // a BTF_KIND_FUNC in ObjectSpec::btf
};
struct LineInfo {
  std::size_t insn = 0;
  std::string file;
  std::string line;  // the source text of the line
  uint32_t line_number = 0;
  uint32_t column = 0;
};

// A CO-RE relocation (.BTF.ext core_relo): the instruction whose offset or immediate must be
// rewritten against the target kernel's BTF. Recorded, not applied (that is src/btf's job).
struct CoreReloc {
  std::size_t insn = 0;
  uint32_t type_id = 0;     // root type in ObjectSpec::btf
  std::string access;       // access string, e.g. "0:1:2"
  uint32_t kind = 0;        // enum bpf_core_relo_kind (0 = FIELD_BYTE_OFFSET, ...)
};

// Where a linked subprogram sits in its program (for error messages and the verifier).
struct SubprogRange {
  std::string name;
  std::size_t start = 0;  // first instruction in ProgramSpec::insns
  std::size_t count = 0;
};

struct ProgramSpec {
  std::string name;                  // the function's symbol
  std::string section;               // ELF section, e.g. "kprobe/do_sys_open"
  uint32_t prog_type = kProgTypeUnspec;
  uint32_t expected_attach_type = 0;
  std::string attach_target;         // what follows the section prefix's '/', if anything
  bool section_known = false;        // false: no SEC() row matched; type left unspecified
  bool sleepable = false;
  bool xdp_frags = false;
  bool global = true;                // STB_GLOBAL/WEAK (false only for .text functions)
  // The program followed by every subprogram it reaches (libbpf's order: appended on first
  // call, depth first). Calls (src=1) and ld_imm64 src=4 are relative to the linked layout.
  std::vector<isa::RawInsn> insns;
  std::size_t own_insn_count = 0;    // instructions of the function itself (before subprograms)
  std::vector<SubprogRange> subprograms;
  std::vector<MapReloc> map_relocs;  // sorted by insn
  std::vector<FuncInfo> func_info;   // empty when the object has no .BTF.ext
  std::vector<LineInfo> line_info;
  std::vector<CoreReloc> core_relocs;
};

enum class MapKind { kBtfDefined, kData, kRodata, kBss };

// A variable of a global data section (its BTF DATASEC entry), to set before load.
struct DataVar {
  std::string name;
  uint32_t offset = 0;
  uint32_t size = 0;
  uint32_t type_id = 0;  // the VAR's type in ObjectSpec::btf
  bool global = true;    // false for static variables (BTF_VAR_STATIC)
};

// A statically initialised slot of a PROG_ARRAY or map-in-map: `.values = { [2] = &prog }`.
struct MapSlotInit {
  uint32_t slot = 0;
  enum class Kind { kProgram, kMap } kind = Kind::kProgram;
  std::string target;  // program name (index in ObjectSpec::programs via find_program) or map name
};

struct MapSpec {
  std::string name;             // libbpf's bpf_map__name(): "hello.bss", ".rodata.str1.1", "events"
  std::string kernel_name;      // the name given to the kernel (BPF_OBJ_NAME_LEN - 1 chars at most)
  std::string section_name;     // ".maps" or the data section (".bss", ".rodata.str1.1")
  MapKind kind = MapKind::kBtfDefined;
  uint32_t type = 0;            // BPF_MAP_TYPE_*
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t map_flags = 0;
  uint32_t numa_node = 0;
  uint64_t map_extra = 0;
  uint32_t pinning = 0;         // 0 = LIBBPF_PIN_NONE, 1 = LIBBPF_PIN_BY_NAME
  uint32_t btf_key_type_id = 0;
  uint32_t btf_value_type_id = 0;  // for data maps: the DATASEC
  int32_t spin_lock_off = -1;       // offset of the value's struct bpf_spin_lock (BTF), or -1
  std::shared_ptr<const MapSpec> inner;  // map-in-map: the inner map's definition ("outer.inner")
  std::vector<MapSlotInit> initial_slots;
  // Global data: the initial value (value_size bytes; zeros for .bss) and its variables.
  std::vector<uint8_t> data;
  std::vector<DataVar> vars;
  [[nodiscard]] bool read_only() const { return kind == MapKind::kRodata; }
  [[nodiscard]] const DataVar* find_var(std::string_view var) const;
};

// Frees the BTF with the spec; shared so that specs copy cheaply.
using BtfHandle = std::shared_ptr<const struct ::btf>;

struct ObjectSpec {
  std::string name;          // "hello" for hello.bpf.o (libbpf: basename up to the first '.')
  std::string license;       // "license" section, "" when absent
  uint32_t kern_version = 0; // "version" section
  std::vector<ProgramSpec> programs;  // entry points in section order, then offset
  std::vector<MapSpec> maps;          // BTF-defined maps (DATASEC order), then data sections
  BtfHandle btf;             // .BTF, nullptr when absent

  [[nodiscard]] const ProgramSpec* find_program(std::string_view name) const;
  [[nodiscard]] const MapSpec* find_map(std::string_view name) const;
  [[nodiscard]] std::optional<std::size_t> map_index(std::string_view name) const;
  // Sets a variable of a data map (`const volatile` config in .rodata) before load.
  [[nodiscard]] Status set_var(std::string_view map, std::string_view var, std::span<const uint8_t> bytes);
};

struct OpenOptions {
  // Fail when a program's section matches no SEC() row (by default the program is kept with
  // prog_type 0 and section_known = false, as libbpf does; loading it must then set a type).
  bool require_known_sections = false;
};

// Parses an object file. The object name is the file's basename up to its first '.'.
[[nodiscard]] Result<ObjectSpec> open_object(const std::filesystem::path& path, OpenOptions options = {});
// Parses an object held in memory; `name` is the object name (used for data map names).
[[nodiscard]] Result<ObjectSpec> open_object(std::span<const uint8_t> bytes, std::string_view name,
                                             OpenOptions options = {});

// The program's instructions with each map relocation pointing at a live map: imm of the
// ld_imm64 = map_handles[reloc.map] (an fd or a runtime id; the source kind and value offset
// are already in place). Fails when a handle is missing.
[[nodiscard]] Result<std::vector<isa::RawInsn>> resolve_map_relocs(const ProgramSpec& program,
                                                                   std::span<const int32_t> map_handles);

// libbpf's name for a global data map: object name prefix + section name, at most 15 chars.
[[nodiscard]] std::string internal_map_name(std::string_view object_name, std::string_view section);

}  // namespace bpfvm::object
