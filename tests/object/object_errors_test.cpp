// Bad objects: each gives one clear error naming the section and offset, never a crash. The
// bad objects are real clang output edited at a known place, or small C programs.
#include <bpf/libbpf.h>
#include <elf.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "object/object.hpp"

namespace bpfvm::object {
namespace {

std::string prog_path(const std::string& name) { return std::string(BPFVM_OBJECT_PROGS_DIR) + "/" + name; }

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Reads and writes ELF structures in a byte buffer (by copy: the buffer has no alignment).
class ElfEditor {
 public:
  explicit ElfEditor(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  template <typename T>
  T get(std::size_t offset) const {
    T v;
    std::memcpy(&v, bytes_.data() + offset, sizeof(T));
    return v;
  }
  template <typename T>
  void put(std::size_t offset, const T& v) {
    std::memcpy(bytes_.data() + offset, &v, sizeof(T));
  }
  Elf64_Ehdr ehdr() const { return get<Elf64_Ehdr>(0); }
  std::size_t shdr_offset(std::size_t index) const { return ehdr().e_shoff + index * sizeof(Elf64_Shdr); }
  Elf64_Shdr shdr(std::size_t index) const { return get<Elf64_Shdr>(shdr_offset(index)); }
  std::size_t section_index(const std::string& name) const {
    Elf64_Shdr names = shdr(ehdr().e_shstrndx);
    for (std::size_t i = 0; i < ehdr().e_shnum; ++i) {
      const char* n = reinterpret_cast<const char*>(bytes_.data() + names.sh_offset + shdr(i).sh_name);
      if (name == n) return i;
    }
    ADD_FAILURE() << "no section " << name;
    return 0;
  }
  void set_shdr(std::size_t index, const Elf64_Shdr& h) { put(shdr_offset(index), h); }
  // The offset of relocation `n` of section `rel`.
  std::size_t rel_offset(const std::string& rel, std::size_t n) const {
    return shdr(section_index(rel)).sh_offset + n * sizeof(Elf64_Rel);
  }
  std::size_t symbol_index(const std::string& name) const {
    Elf64_Shdr symtab = shdr(section_index(".symtab"));
    Elf64_Shdr strtab = shdr(symtab.sh_link);
    for (std::size_t i = 0; i < symtab.sh_size / sizeof(Elf64_Sym); ++i) {
      auto sym = get<Elf64_Sym>(symtab.sh_offset + i * sizeof(Elf64_Sym));
      if (name == reinterpret_cast<const char*>(bytes_.data() + strtab.sh_offset + sym.st_name)) return i;
    }
    ADD_FAILURE() << "no symbol " << name;
    return 0;
  }
  std::size_t symbol_offset(std::size_t index) const {
    return shdr(section_index(".symtab")).sh_offset + index * sizeof(Elf64_Sym);
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

std::string error_of(const std::vector<uint8_t>& bytes) {
  auto spec = open_object(bytes, "bad");
  EXPECT_FALSE(spec.ok());
  return spec.ok() ? "" : spec.error().to_string();
}

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

ElfEditor hello() { return ElfEditor(read_bytes(prog_path("hello.bpf.o"))); }

TEST(ObjectErrors, NotAnElfFile) {
  EXPECT_EQ(error_of({}), "not an ELF file (0 bytes, no ELF magic at offset 0)");
  EXPECT_EQ(error_of({'a', 'b', 'c'}), "not an ELF file (3 bytes, no ELF magic at offset 0)");
  auto missing = open_object(std::filesystem::path("/nonexistent/x.o"));
  ASSERT_FALSE(missing.ok());
  EXPECT_HAS(missing.error().message, "/nonexistent/x.o: cannot open");
}

TEST(ObjectErrors, TruncatedFile) {
  ElfEditor e = hello();
  // Cut inside the section header table, then inside a section's data.
  std::vector<uint8_t> cut(e.bytes().begin(), e.bytes().end() - 100);
  EXPECT_FALSE(error_of(cut).empty());
  Elf64_Shdr xdp = e.shdr(e.section_index("xdp"));
  std::vector<uint8_t> mid(e.bytes().begin(), e.bytes().begin() + static_cast<long>(xdp.sh_offset + 8));
  EXPECT_FALSE(error_of(mid).empty());
}

TEST(ObjectErrors, WrongMachine) {
  ElfEditor e = hello();
  e.put<uint16_t>(offsetof(Elf64_Ehdr, e_machine), EM_X86_64);
  EXPECT_EQ(error_of(e.bytes()), "not a BPF object: ELF machine is 62 (EM_BPF is 247)");
}

TEST(ObjectErrors, CodeNotAMultipleOfEightBytes) {
  ElfEditor e = hello();
  std::size_t index = e.section_index("xdp");
  Elf64_Shdr h = e.shdr(index);
  h.sh_size -= 3;
  e.set_shdr(index, h);
  std::string error = error_of(e.bytes());
  EXPECT_HAS(error, "section 'xdp' (index " + std::to_string(index) + "): code size");
  EXPECT_HAS(error, "is not a multiple of 8");
}

TEST(ObjectErrors, RelocationOutOfRange) {
  ElfEditor e = hello();
  auto rel = e.get<Elf64_Rel>(e.rel_offset(".relxdp", 0));
  rel.r_offset = 0x10000;
  e.put(e.rel_offset(".relxdp", 0), rel);
  EXPECT_HAS(error_of(e.bytes()), "relocation 0 at offset 0x10000 is outside section 'xdp'");
}

TEST(ObjectErrors, UnknownRelocationType) {
  ElfEditor e = hello();
  auto rel = e.get<Elf64_Rel>(e.rel_offset(".relxdp", 1));
  rel.r_info = ELF64_R_INFO(ELF64_R_SYM(rel.r_info), 7);
  e.put(e.rel_offset(".relxdp", 1), rel);
  std::string error = error_of(e.bytes());
  EXPECT_HAS(error, "section 'xdp' offset 0x");
  EXPECT_HAS(error, "relocation 1 (.relxdp): unsupported relocation type 7");
}

TEST(ObjectErrors, RelocationToAMissingSymbol) {
  ElfEditor e = hello();
  auto rel = e.get<Elf64_Rel>(e.rel_offset(".relxdp", 0));
  rel.r_info = ELF64_R_INFO(9999, R_BPF_64_64);
  e.put(e.rel_offset(".relxdp", 0), rel);
  EXPECT_HAS(error_of(e.bytes()), "relocation 0 at offset 0x0 names symbol 9999");
}

TEST(ObjectErrors, RelocationToSomethingThatIsNoMap) {
  ElfEditor e = hello();
  auto rel = e.get<Elf64_Rel>(e.rel_offset(".relxdp", 0));
  rel.r_info = ELF64_R_INFO(e.symbol_index("LICENSE"), R_BPF_64_64);
  e.put(e.rel_offset(".relxdp", 0), rel);
  EXPECT_HAS(error_of(e.bytes()),
             "section 'xdp' offset 0x0: relocation 0 (.relxdp): 'LICENSE' is in section 'license', which is not a "
             "map, global data or code section");
}

TEST(ObjectErrors, RelocationOnAnInstructionThatTakesNone) {
  ElfEditor e = hello();
  auto rel = e.get<Elf64_Rel>(e.rel_offset(".relxdp", 0));
  rel.r_offset = 16;  // the ld_imm64's second slot would be wrong; its neighbour is a load
  e.put(e.rel_offset(".relxdp", 0), rel);
  EXPECT_HAS(error_of(e.bytes()), "section 'xdp' offset 0x10: relocation 0 (.relxdp): relocation against 'counter' on "
                                  "an instruction with opcode");
}

TEST(ObjectErrors, FunctionCrossingItsSection) {
  ElfEditor e = hello();
  std::size_t at = e.symbol_offset(e.symbol_index("hello"));
  auto sym = e.get<Elf64_Sym>(at);
  sym.st_size = 0x8000;
  e.put(at, sym);
  EXPECT_HAS(error_of(e.bytes()), "section 'xdp' offset 0x0: function 'hello' (size 32768) crosses the end of the section");
}

// Found by the fuzz below: a "version" section without bytes.
TEST(ObjectErrors, VersionSectionWithoutBytes) {
  ElfEditor e(read_bytes(prog_path("maps.bpf.o")));
  std::size_t index = e.section_index("version");
  Elf64_Shdr h = e.shdr(index);
  h.sh_type = SHT_NOBITS;
  e.set_shdr(index, h);
  EXPECT_EQ(error_of(e.bytes()),
            "section 'version' (index " + std::to_string(index) + "): kernel version must be 4 bytes, not 0");
}

TEST(ObjectErrors, MissingSymbolTable) {
  ElfEditor e = hello();
  std::size_t index = e.section_index(".symtab");
  Elf64_Shdr h = e.shdr(index);
  h.sh_type = SHT_PROGBITS;
  e.set_shdr(index, h);
  EXPECT_EQ(error_of(e.bytes()), "no symbol table (.symtab): not a compiler-generated object");
}

TEST(ObjectErrors, MapsWithoutBtf) {
  ElfEditor e = ElfEditor(read_bytes(prog_path("tailcall.bpf.o")));
  std::size_t index = e.section_index(".BTF");
  Elf64_Shdr names = e.shdr(e.ehdr().e_shstrndx);
  e.bytes()[names.sh_offset + e.shdr(index).sh_name + 3] = 'X';  // ".BTF" -> ".BTX"
  std::string error = error_of(e.bytes());
  EXPECT_HAS(error, "section '.maps' (index ");
  EXPECT_HAS(error, "BTF-defined maps need the object's .BTF (compile with clang -g)");
}

TEST(ObjectErrors, BtfThatDoesNotParse) {
  ElfEditor e = hello();
  Elf64_Shdr btf = e.shdr(e.section_index(".BTF"));
  e.put<uint16_t>(btf.sh_offset, 0x1234);  // the magic
  libbpf_print_fn_t old = libbpf_set_print(nullptr);
  EXPECT_HAS(error_of(e.bytes()), "section '.BTF' (index " + std::to_string(e.section_index(".BTF")) + "): BTF does not parse");
  libbpf_set_print(old);
}

TEST(ObjectErrors, BtfExtThatDoesNotParse) {
  ElfEditor e = hello();
  Elf64_Shdr ext = e.shdr(e.section_index(".BTF.ext"));
  e.put<uint16_t>(ext.sh_offset, 0x1234);
  EXPECT_EQ(error_of(e.bytes()), "section '.BTF.ext' offset 0: bad magic 0x1234");
}

TEST(ObjectErrors, LegacyMapsSection) {
  auto spec = open_object(prog_path("legacy_maps.bpf.o"));
  ASSERT_FALSE(spec.ok());
  EXPECT_HAS(spec.error().message, "section 'maps' (index ");
  EXPECT_HAS(spec.error().message, "legacy map definitions (struct bpf_map_def in SEC(\"maps\")) are not supported");
  EXPECT_HAS(spec.error().message, "SEC(\".maps\")");
}

TEST(ObjectErrors, MapWithZeroKeySize) {
  auto spec = open_object(prog_path("bad_zero_key.bpf.o"));
  ASSERT_FALSE(spec.ok());
  EXPECT_HAS(spec.error().message, "section '.maps' (index ");
  EXPECT_HAS(spec.error().message, "offset 0x0: map 'bad_hash': key size is 0; map type 1 needs a key");
}

TEST(ObjectErrors, MapWithUnknownField) {
  auto spec = open_object(prog_path("bad_field.bpf.o"));
  ASSERT_FALSE(spec.ok());
  EXPECT_HAS(spec.error().message, "map 'odd': unknown field 'bogus'");
}

TEST(ObjectErrors, UnknownSectionNameWhenRequired) {
  ElfEditor e = hello();
  std::size_t index = e.section_index("xdp");
  Elf64_Shdr names = e.shdr(e.ehdr().e_shstrndx);
  e.bytes()[names.sh_offset + e.shdr(index).sh_name] = 'q';  // "xdp" -> "qdp"
  auto lenient = open_object(e.bytes(), "bad");
  ASSERT_TRUE(lenient.ok()) << lenient.error().to_string();
  EXPECT_FALSE(lenient->programs[0].section_known);
  auto strict = open_object(e.bytes(), "bad", OpenOptions{.require_known_sections = true});
  ASSERT_FALSE(strict.ok());
  EXPECT_HAS(strict.error().message, "program 'hello': unknown section name 'qdp'");
}

// Truncations and byte flips of real objects: an error or a spec, never a crash (run it under
// the asan preset too).
// BPFVM_FUZZ_ROUNDS=N runs longer (the default keeps the suite fast).
int fuzz_rounds() {
  const char* env = std::getenv("BPFVM_FUZZ_ROUNDS");
  return env != nullptr && std::atoi(env) > 0 ? std::atoi(env) : 1000;
}

void fuzz(const std::vector<uint8_t>& original, uint32_t seed) {
  std::mt19937 rng(seed);
  if (original.size() < sizeof(Elf64_Ehdr)) {
    ADD_FAILURE() << "not an object";
    return;
  }
  for (std::size_t cut = 0; cut < original.size(); cut += std::max<std::size_t>(1, original.size() / 97)) {
    std::vector<uint8_t> bytes(original.begin(), original.begin() + static_cast<long>(cut));
    auto spec = open_object(bytes, "fuzz");
    if (!spec.ok()) {
      EXPECT_FALSE(spec.error().message.empty());
    }
  }
  Elf64_Ehdr ehdr;
  std::memcpy(&ehdr, original.data(), sizeof(ehdr));
  std::size_t headers = ehdr.e_shoff;
  const int rounds = fuzz_rounds();
  for (int round = 0; round < rounds; ++round) {
    std::vector<uint8_t> bytes = original;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      // Half the flips land in the section headers, where a byte matters most.
      std::size_t pos = (round % 2 == 0 && headers < bytes.size())
                            ? headers + rng() % (bytes.size() - headers)
                            : rng() % bytes.size();
      bytes[pos] ^= static_cast<uint8_t>(1U << (rng() % 8));
      if (rng() % 4 == 0) bytes[pos] = static_cast<uint8_t>(rng());
    }
    auto spec = open_object(bytes, "fuzz");
    if (!spec.ok()) {
      EXPECT_FALSE(spec.error().message.empty());
      continue;
    }
    for (const ProgramSpec& p : spec->programs) {
      for (const MapReloc& r : p.map_relocs) {
        ASSERT_LT(r.insn + 1, p.insns.size());
        ASSERT_LT(r.map, spec->maps.size());
      }
    }
  }
}

TEST(ObjectFuzz, MutatedObjectsNeverCrash) {
  libbpf_print_fn_t old = libbpf_set_print(nullptr);
  uint32_t seed = 1;
  for (const char* name : {"hello.bpf.o", "maps.bpf.o", "calls.bpf.o", "tailcall.bpf.o", "core.bpf.o"}) {
    SCOPED_TRACE(name);
    fuzz(read_bytes(prog_path(name)), seed++);
  }
  // Older clang output from the verifier corpus: map-in-map and tail calls.
  std::filesystem::path corpus = std::filesystem::path(BPFVM_VERIFIER_CORPUS_DIR) / "ebpf-samples" / "build";
  for (const char* name : {"map_in_map.o", "tail_call.o", "global_variable.o"}) {
    if (!std::filesystem::exists(corpus / name)) continue;
    SCOPED_TRACE(name);
    fuzz(read_bytes((corpus / name).string()), seed++);
  }
  libbpf_set_print(old);
}

}  // namespace
}  // namespace bpfvm::object
