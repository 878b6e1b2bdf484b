// A read-only view of a relocatable BPF ELF object through libelf: sections, symbols and
// relocations, each checked against the section that holds it. Internal to src/object.
#pragma once

#include <gelf.h>
#include <libelf.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "support/result.hpp"

namespace bpfvm::object::detail {

struct ElfSection {
  std::size_t index = 0;
  std::string name;
  GElf_Shdr header{};
  std::span<const uint8_t> data;  // empty for SHT_NOBITS
  [[nodiscard]] uint64_t size() const { return header.sh_size; }
  [[nodiscard]] bool is_code() const {
    return header.sh_type == SHT_PROGBITS && (header.sh_flags & SHF_EXECINSTR) != 0;
  }
};

struct ElfSymbol {
  std::size_t index = 0;
  std::string name;
  uint64_t value = 0;
  uint64_t size = 0;
  std::size_t section = 0;  // st_shndx (SHN_UNDEF, SHN_ABS, ... or a section index)
  uint8_t type = 0;         // STT_*
  uint8_t bind = 0;         // STB_*
};

struct ElfReloc {
  std::size_t number = 0;  // position in its relocation section, for messages
  uint64_t offset = 0;     // r_offset: byte offset in the target section
  uint32_t type = 0;       // R_BPF_*
  std::size_t symbol = 0;  // index into ElfFile::symbols()
};

class ElfFile {
 public:
  // Copies the bytes: libelf may convert them in place and the caller's buffer stays untouched.
  [[nodiscard]] static Result<ElfFile> parse(std::span<const uint8_t> bytes);

  [[nodiscard]] const std::vector<ElfSection>& sections() const { return sections_; }
  [[nodiscard]] const std::vector<ElfSymbol>& symbols() const { return symbols_; }
  [[nodiscard]] const ElfSection* section(std::size_t index) const {
    return index < sections_.size() && sections_[index].index == index ? &sections_[index] : nullptr;
  }
  [[nodiscard]] const ElfSection* find_section(std::string_view name) const;
  // The entries of a SHT_REL section, each checked: symbol in range, offset inside the target.
  [[nodiscard]] Result<std::vector<ElfReloc>> relocations(const ElfSection& rel_section) const;

 private:
  struct ElfDeleter {
    void operator()(Elf* elf) const { elf_end(elf); }
  };
  std::shared_ptr<std::vector<uint8_t>> bytes_;
  std::unique_ptr<Elf, ElfDeleter> elf_;
  std::vector<ElfSection> sections_;  // indexed by section number (index 0 is the null section)
  std::vector<ElfSymbol> symbols_;
  std::size_t symtab_index_ = 0;
};

// "section 'xdp' (index 3)" for messages.
[[nodiscard]] std::string describe(const ElfSection& section);

}  // namespace bpfvm::object::detail
