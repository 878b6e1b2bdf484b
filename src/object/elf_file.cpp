#include "object/elf_file.hpp"

#include <fmt/format.h>

#include <cstring>
#include <mutex>

namespace bpfvm::object::detail {
namespace {

#ifndef EM_BPF
constexpr int EM_BPF = 247;
#endif

Error elf_error(std::string what) {
  const char* reason = elf_errmsg(-1);
  if (reason != nullptr && *reason != '\0') what += fmt::format(" ({})", reason);
  return input_error(std::move(what));
}

}  // namespace

std::string describe(const ElfSection& section) {
  return fmt::format("section '{}' (index {})", section.name, section.index);
}

const ElfSection* ElfFile::find_section(std::string_view name) const {
  for (const ElfSection& s : sections_) {
    if (s.index != 0 && s.name == name) return &s;
  }
  return nullptr;
}

Result<ElfFile> ElfFile::parse(std::span<const uint8_t> bytes) {
  static std::once_flag version_once;
  std::call_once(version_once, [] { elf_version(EV_CURRENT); });

  if (bytes.size() < EI_NIDENT || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0) {
    return input_error(fmt::format("not an ELF file ({} bytes, no ELF magic at offset 0)", bytes.size()));
  }
  ElfFile file;
  file.bytes_ = std::make_shared<std::vector<uint8_t>>(bytes.begin(), bytes.end());
  file.elf_.reset(elf_memory(reinterpret_cast<char*>(file.bytes_->data()), file.bytes_->size()));
  if (!file.elf_) return elf_error("cannot read the ELF file");
  Elf* elf = file.elf_.get();
  if (elf_kind(elf) != ELF_K_ELF) return input_error("not an ELF object file");
  if (gelf_getclass(elf) != ELFCLASS64) return input_error("not a 64-bit ELF file (BPF objects are ELFCLASS64)");

  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf, &ehdr) == nullptr) return elf_error("cannot read the ELF header");
  if (ehdr.e_ident[EI_DATA] != ELFDATA2LSB) {
    return input_error("big-endian BPF objects are not supported (ELF header byte 5 is not ELFDATA2LSB)");
  }
  // libbpf accepts e_machine 0 from old toolchains; anything else must be BPF.
  if (ehdr.e_machine != EM_BPF && ehdr.e_machine != EM_NONE) {
    return input_error(fmt::format("not a BPF object: ELF machine is {} (EM_BPF is {})", ehdr.e_machine, EM_BPF));
  }
  if (ehdr.e_type != ET_REL) {
    return input_error(fmt::format("not a relocatable object: ELF type is {} (expected ET_REL)", ehdr.e_type));
  }

  std::size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return elf_error("cannot find the section name table");
  std::size_t section_count = 0;
  if (elf_getshdrnum(elf, &section_count) != 0) return elf_error("cannot count the sections");
  file.sections_.resize(section_count);

  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    std::size_t index = elf_ndxscn(scn);
    if (index >= section_count) return input_error(fmt::format("section index {} out of range", index));
    ElfSection& s = file.sections_[index];
    s.index = index;
    if (gelf_getshdr(scn, &s.header) == nullptr) return elf_error(fmt::format("section {}: cannot read its header", index));
    const char* name = elf_strptr(elf, shstrndx, s.header.sh_name);
    if (name == nullptr) {
      return elf_error(fmt::format("section {}: name offset {} is outside the section name table", index,
                                   s.header.sh_name));
    }
    s.name = name;
    if (s.header.sh_type == SHT_NOBITS || s.header.sh_type == SHT_NULL) continue;
    // Only what the loader reads needs its bytes; DWARF and friends may be anything.
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr) {
      if (s.header.sh_size == 0) continue;
      return elf_error(fmt::format("{}: cannot read its {} bytes at file offset {}", describe(s), s.header.sh_size,
                                   s.header.sh_offset));
    }
    if (data->d_size != s.header.sh_size || (data->d_buf == nullptr && data->d_size != 0)) {
      return input_error(fmt::format("{}: truncated (header says {} bytes, {} readable)", describe(s),
                                     s.header.sh_size, data->d_size));
    }
    s.data = {static_cast<const uint8_t*>(data->d_buf), data->d_size};
  }

  // The symbol table: exactly one, as in every clang object.
  const ElfSection* symtab = nullptr;
  for (const ElfSection& s : file.sections_) {
    if (s.index == 0 || s.header.sh_type != SHT_SYMTAB) continue;
    if (symtab != nullptr) return input_error(fmt::format("{}: a second symbol table", describe(s)));
    symtab = &s;
  }
  if (symtab == nullptr) return input_error("no symbol table (.symtab): not a compiler-generated object");
  file.symtab_index_ = symtab->index;
  const ElfSection* strtab = file.section(symtab->header.sh_link);
  if (strtab == nullptr || strtab->header.sh_type != SHT_STRTAB) {
    return input_error(fmt::format("{}: its string table (section {}) is missing", describe(*symtab),
                                   symtab->header.sh_link));
  }
  if (symtab->header.sh_entsize != sizeof(Elf64_Sym) || symtab->size() % sizeof(Elf64_Sym) != 0) {
    return input_error(fmt::format("{}: entry size {} and size {} do not make whole Elf64_Sym entries",
                                   describe(*symtab), symtab->header.sh_entsize, symtab->size()));
  }
  Elf_Data* symdata = elf_getdata(elf_getscn(elf, symtab->index), nullptr);
  std::size_t symbol_count = symtab->size() / sizeof(Elf64_Sym);
  file.symbols_.reserve(symbol_count);
  for (std::size_t i = 0; i < symbol_count; ++i) {
    GElf_Sym sym;
    if (symdata == nullptr || gelf_getsym(symdata, static_cast<int>(i), &sym) == nullptr) {
      return elf_error(fmt::format("{}: cannot read symbol {}", describe(*symtab), i));
    }
    ElfSymbol out;
    out.index = i;
    const char* name = elf_strptr(elf, strtab->index, sym.st_name);
    if (name == nullptr) {
      return input_error(fmt::format("{}: symbol {} has name offset {} outside {}", describe(*symtab), i, sym.st_name,
                                     describe(*strtab)));
    }
    out.name = name;
    out.value = sym.st_value;
    out.size = sym.st_size;
    out.section = sym.st_shndx;
    out.type = GELF_ST_TYPE(sym.st_info);
    out.bind = GELF_ST_BIND(sym.st_info);
    // A section symbol is named after its section (clang leaves st_name empty).
    if (out.type == STT_SECTION && out.name.empty()) {
      if (const ElfSection* target = file.section(out.section)) out.name = target->name;
    }
    file.symbols_.push_back(std::move(out));
  }
  return file;
}

Result<std::vector<ElfReloc>> ElfFile::relocations(const ElfSection& rel) const {
  const ElfSection* target = section(rel.header.sh_info);
  if (target == nullptr) {
    return input_error(fmt::format("{}: relocates section {}, which does not exist", describe(rel), rel.header.sh_info));
  }
  if (rel.header.sh_link != symtab_index_) {
    return input_error(fmt::format("{}: uses symbol table {}, not .symtab (section {})", describe(rel),
                                   rel.header.sh_link, symtab_index_));
  }
  if (rel.header.sh_entsize != sizeof(Elf64_Rel) || rel.size() % sizeof(Elf64_Rel) != 0) {
    return input_error(fmt::format("{}: entry size {} and size {} do not make whole Elf64_Rel entries", describe(rel),
                                   rel.header.sh_entsize, rel.size()));
  }
  Elf_Data* data = elf_getdata(elf_getscn(elf_.get(), rel.index), nullptr);
  std::size_t count = rel.size() / sizeof(Elf64_Rel);
  std::vector<ElfReloc> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    GElf_Rel r;
    if (data == nullptr || gelf_getrel(data, static_cast<int>(i), &r) == nullptr) {
      return elf_error(fmt::format("{}: cannot read relocation {}", describe(rel), i));
    }
    ElfReloc reloc{i, r.r_offset, static_cast<uint32_t>(GELF_R_TYPE(r.r_info)),
                   static_cast<std::size_t>(GELF_R_SYM(r.r_info))};
    if (reloc.symbol >= symbols_.size()) {
      return input_error(fmt::format("{}: relocation {} at offset {:#x} names symbol {}, but .symtab has {}",
                                     describe(rel), i, reloc.offset, reloc.symbol, symbols_.size()));
    }
    if (reloc.offset >= target->size()) {
      return input_error(fmt::format("{}: relocation {} at offset {:#x} is outside {} ({} bytes)", describe(rel), i,
                                     reloc.offset, describe(*target), target->size()));
    }
    out.push_back(reloc);
  }
  return out;
}

}  // namespace bpfvm::object::detail
