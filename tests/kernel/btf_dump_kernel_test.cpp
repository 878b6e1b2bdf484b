// `--dump-maps`' BTF formatting against the real bpftool: the same object's maps, created in
// the kernel by libbpf and in bpfvm, filled with the same bytes; `bpftool map dump id N` (plain
// and -j) must print what bpfvm prints. Skipped where bpf() or bpftool is unavailable. Maps
// are created and filled only; nothing is attached.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "bpf_syscall.hpp"
#include "object/object.hpp"
#include "runtime/loader.hpp"
#include "runtime/map_dump.hpp"

namespace bpfvm {
namespace {

std::string output_of(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((command + " 2>&1").c_str(), "r"), pclose);
  std::string text;
  char buffer[4096];
  while (pipe && std::fgets(buffer, sizeof(buffer), pipe.get())) text += buffer;
  return text;
}

bool have_bpftool() { return output_of("bpftool version").starts_with("bpftool v"); }

// Where a member of a struct starts, from the object's BTF (the BPF target's layout).
std::size_t member_offset(const struct ::btf* btf, const char* type, const char* member) {
  const int id = btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT);
  EXPECT_GT(id, 0) << type;
  const btf_type* t = btf__type_by_id(btf, static_cast<uint32_t>(id));
  for (uint16_t i = 0; t != nullptr && i < btf_vlen(t); ++i) {
    if (std::strcmp(btf__name_by_offset(btf, btf_members(t)[i].name_off), member) == 0) {
      return btf_member_bit_offset(t, i) / 8;
    }
  }
  ADD_FAILURE() << "no member " << member << " in " << type;
  return 0;
}

struct Fixture {
  bpf_object* kernel = nullptr;
  std::optional<LoadedObject> ours;
  ~Fixture() { bpf_object__close(kernel); }

  // Writes the same element into the kernel's map and bpfvm's.
  void update(const char* map, const std::vector<uint8_t>& key, const std::vector<uint8_t>& value) {
    bpf_map* k = bpf_object__find_map_by_name(kernel, map);
    ASSERT_NE(k, nullptr) << map;
    ASSERT_EQ(bpf_map__update_elem(k, key.data(), key.size(), value.data(), value.size(), BPF_ANY), 0) << map;
    ASSERT_TRUE(ours->map(map)->update(key, value).ok()) << map;
  }
};

std::vector<uint8_t> random_bytes(std::mt19937& rng, std::size_t n) {
  std::vector<uint8_t> out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

TEST(BtfDumpVsBpftool, SameFormattedEntriesPlainAndJson) {
  if (auto reason = kernel::unavailable_reason()) GTEST_SKIP() << "bpf() unavailable: " << *reason;
  if (!have_bpftool()) GTEST_SKIP() << "bpftool is not installed";
  const std::string path = std::string(BPFVM_OBJECT_PROGS_DIR) + "/btf_values.bpf.o";
  Fixture f;
  f.kernel = bpf_object__open_file(path.c_str(), nullptr);
  ASSERT_NE(f.kernel, nullptr);
  ASSERT_EQ(bpf_object__load(f.kernel), 0) << "the kernel rejected " << path;
  auto spec = object::open_object(path);
  ASSERT_TRUE(spec.ok()) << spec.error().to_string();
  auto loaded = LoadedObject::load(*spec);
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  f.ours.emplace(std::move(*loaded));
  const struct ::btf* btf = f.ours->btf();

  // Random bytes everywhere (bitfields, unknown enum values, non-string char arrays,
  // pointers), then a string, a known enumerator and a true bool where a reader would look.
  std::mt19937 rng(20261123);
  std::vector<uint8_t> value = random_bytes(rng, f.ours->map("values")->value_size());
  std::memcpy(value.data() + member_offset(btf, "value", "name"), "hello", 6);
  const int32_t green = 5;
  std::memcpy(value.data() + member_offset(btf, "value", "color"), &green, 4);
  value[member_offset(btf, "value", "ok")] = 1;
  f.update("values", {0, 0, 0, 0}, value);
  f.update("by_key", random_bytes(rng, 8), random_bytes(rng, 8));
  const std::size_t percpu_size = f.ours->map("per_cpu")->user_value_size();
  f.update("per_cpu", {0, 0, 0, 0}, random_bytes(rng, percpu_size));
  f.update("per_cpu", {1, 0, 0, 0}, random_bytes(rng, percpu_size));

  std::size_t compared = 0;
  bpf_map* kmap;
  bpf_object__for_each_map(kmap, f.kernel) {
    SCOPED_TRACE(bpf_map__name(kmap));
    const NamedMap* ours = nullptr;
    for (const NamedMap& m : f.ours->maps()) {
      if (m.name == bpf_map__name(kmap)) ours = &m;
    }
    ASSERT_NE(ours, nullptr);
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    ASSERT_EQ(bpf_obj_get_info_by_fd(bpf_map__fd(kmap), &info, &len), 0);
    ASSERT_NE(info.btf_id, 0u) << "the kernel's map has no BTF";
    EXPECT_EQ(info.btf_key_type_id, ours->btf_key_type_id);
    EXPECT_EQ(info.btf_value_type_id, ours->btf_value_type_id);

    // Plain: bpfvm's block after its "map NAME (type):" line is bpftool's output.
    const std::string text = dump_map_text(*f.ours, *ours);
    const std::string id = std::to_string(info.id);
    EXPECT_EQ(text.substr(text.find('\n') + 1), output_of("bpftool map dump id " + id));

    // JSON: each entry's "formatted" (bytes are hex strings in bpftool's, numbers in bpfvm's).
    const auto theirs = OrderedJson::parse(output_of("bpftool -j map dump id " + id), nullptr, false);
    ASSERT_FALSE(theirs.is_discarded());
    auto mine = dump_map_json(*f.ours, *ours);
    ASSERT_TRUE(mine.ok()) << mine.error().message;
    ASSERT_EQ(mine->size(), theirs.size());
    for (std::size_t i = 0; i < theirs.size(); ++i) {
      EXPECT_EQ((*mine)[i]["formatted"].dump(), theirs[i]["formatted"].dump()) << "entry " << i;
      EXPECT_EQ((*mine)[i].contains("values"), theirs[i].contains("values"));
    }
    ++compared;
  }
  EXPECT_EQ(compared, 6u);  // values, by_key, per_cpu, .data, .bss, .rodata
}

}  // namespace
}  // namespace bpfvm
