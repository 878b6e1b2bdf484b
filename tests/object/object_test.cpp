// The object loader on clang-built objects: programs, linking, relocations and maps, compared
// with libbpf's own reading of the same files (bpf_object__open only; nothing is loaded).
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "isa/insn.hpp"
#include "object/object.hpp"

namespace bpfvm::object {
namespace {

std::string prog_path(const std::string& name) { return std::string(BPFVM_OBJECT_PROGS_DIR) + "/" + name; }

ObjectSpec open_ok(const std::string& name) {
  auto spec = open_object(prog_path(name));
  EXPECT_TRUE(spec.ok()) << (spec.ok() ? "" : spec.error().to_string());
  if (!spec.ok()) return {};
  return std::move(spec).value();
}

struct LibbpfObject {
  explicit LibbpfObject(const std::string& path) {
    obj = bpf_object__open_file(path.c_str(), nullptr);
    if (libbpf_get_error(obj) != 0) obj = nullptr;
  }
  ~LibbpfObject() { bpf_object__close(obj); }
  LibbpfObject(const LibbpfObject&) = delete;
  LibbpfObject& operator=(const LibbpfObject&) = delete;
  bpf_object* obj = nullptr;
};

constexpr uint8_t kLdImm64 = 0x18;
constexpr uint8_t kCall = 0x85;

// Every program and map of `file` as libbpf sees it after open.
void compare_with_libbpf(const std::string& file, const std::set<std::string>& skip_programs = {}) {
  SCOPED_TRACE(file);
  ObjectSpec spec = open_ok(file);
  LibbpfObject oracle(prog_path(file));
  ASSERT_NE(oracle.obj, nullptr);
  EXPECT_EQ(spec.name, bpf_object__name(oracle.obj));

  std::size_t count = 0;
  bpf_program* p = nullptr;
  bpf_object__for_each_program(p, oracle.obj) {
    std::string name = bpf_program__name(p);
    SCOPED_TRACE(name);
    ++count;
    ASSERT_LT(count - 1, spec.programs.size());
    const ProgramSpec* ours = &spec.programs[count - 1];  // same order as libbpf
    ASSERT_EQ(ours->name, name);
    EXPECT_EQ(ours->section, bpf_program__section_name(p));
    if (skip_programs.count(name) == 0) {
      EXPECT_EQ(ours->prog_type, static_cast<uint32_t>(bpf_program__type(p)));
      EXPECT_EQ(ours->expected_attach_type, static_cast<uint32_t>(bpf_program__expected_attach_type(p)));
    }
    // Before load, libbpf holds the function's own instructions, unrelocated.
    ASSERT_EQ(ours->own_insn_count, bpf_program__insn_cnt(p));
    const bpf_insn* theirs = bpf_program__insns(p);
    std::set<std::size_t> relocated;
    for (const MapReloc& r : ours->map_relocs) relocated.insert(r.insn);
    for (std::size_t i = 0; i < ours->own_insn_count; ++i) {
      const isa::RawInsn& a = ours->insns[i];
      bpf_insn b = theirs[i];
      EXPECT_EQ(a.code, b.code) << "insn " << i;
      EXPECT_EQ(a.dst(), b.dst_reg) << "insn " << i;
      EXPECT_EQ(a.off, b.off) << "insn " << i;
      bool call = a.code == kCall && a.src() == kPseudoCall;
      bool ld_first = a.code == kLdImm64 && (relocated.count(i) != 0 || a.src() == kPseudoFunc);
      bool ld_second = i > 0 && ours->insns[i - 1].code == kLdImm64 && relocated.count(i - 1) != 0;
      if (!call && !ld_first && !ld_second) {
        EXPECT_EQ(a.src(), b.src_reg) << "insn " << i;
        EXPECT_EQ(a.imm, b.imm) << "insn " << i;
      }
    }
  }
  EXPECT_EQ(spec.programs.size(), count);

  std::size_t maps = 0;
  bpf_map* m = nullptr;
  bpf_object__for_each_map(m, oracle.obj) {
    std::string name = bpf_map__name(m);
    SCOPED_TRACE(name);
    ASSERT_LT(maps, spec.maps.size());
    const MapSpec& ours = spec.maps[maps++];
    EXPECT_EQ(ours.name, name);
    EXPECT_EQ(ours.type, static_cast<uint32_t>(bpf_map__type(m)));
    EXPECT_EQ(ours.key_size, bpf_map__key_size(m));
    EXPECT_EQ(ours.value_size, bpf_map__value_size(m));
    EXPECT_EQ(ours.max_entries, bpf_map__max_entries(m));
    EXPECT_EQ(ours.map_flags, bpf_map__map_flags(m));
    EXPECT_EQ(ours.numa_node, bpf_map__numa_node(m));
    EXPECT_EQ(ours.btf_key_type_id, bpf_map__btf_key_type_id(m));
    EXPECT_EQ(ours.btf_value_type_id, bpf_map__btf_value_type_id(m));
    EXPECT_EQ(ours.kind != MapKind::kBtfDefined, bpf_map__is_internal(m));
    if (bpf_map__is_internal(m)) {
      std::size_t size = 0;
      const void* init = bpf_map__initial_value(m, &size);
      ASSERT_NE(init, nullptr);
      ASSERT_EQ(ours.data.size(), size);
      EXPECT_EQ(std::memcmp(ours.data.data(), init, size), 0);
    }
    bpf_map* inner = bpf_map__inner_map(m);
    ASSERT_EQ(ours.inner != nullptr, inner != nullptr);
    if (inner != nullptr) {
      EXPECT_EQ(ours.inner->name, bpf_map__name(inner));
      EXPECT_EQ(ours.inner->type, static_cast<uint32_t>(bpf_map__type(inner)));
      EXPECT_EQ(ours.inner->key_size, bpf_map__key_size(inner));
      EXPECT_EQ(ours.inner->value_size, bpf_map__value_size(inner));
      EXPECT_EQ(ours.inner->max_entries, bpf_map__max_entries(inner));
    }
  }
  EXPECT_EQ(spec.maps.size(), maps);
}

TEST(ObjectOracle, Hello) { compare_with_libbpf("hello.bpf.o"); }
TEST(ObjectOracle, Maps) { compare_with_libbpf("maps.bpf.o"); }
TEST(ObjectOracle, Calls) { compare_with_libbpf("calls.bpf.o"); }
TEST(ObjectOracle, TailCall) { compare_with_libbpf("tailcall.bpf.o"); }

}  // namespace
}  // namespace bpfvm::object
