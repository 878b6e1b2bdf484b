// The object loader on clang-built objects: programs, linking, relocations and maps, compared
// with libbpf's own reading of the same files (bpf_object__open only; nothing is loaded).
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <algorithm>

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
void compare_with_libbpf(const std::string& path, const std::set<std::string>& skip_programs = {}) {
  SCOPED_TRACE(path);
  LibbpfObject oracle(path);
  auto opened = open_object(path);
  // Where libbpf refuses an object, so do we (each with its reason).
  ASSERT_EQ(opened.ok(), oracle.obj != nullptr) << (opened.ok() ? "libbpf refused it" : opened.error().to_string());
  if (!opened.ok()) return;
  const ObjectSpec& spec = *opened;
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

TEST(ObjectOracle, Hello) { compare_with_libbpf(prog_path("hello.bpf.o")); }
TEST(ObjectOracle, Maps) { compare_with_libbpf(prog_path("maps.bpf.o")); }
TEST(ObjectOracle, Calls) { compare_with_libbpf(prog_path("calls.bpf.o")); }
TEST(ObjectOracle, TailCall) { compare_with_libbpf(prog_path("tailcall.bpf.o")); }

// Every sample object of the verifier corpus: parsed without a crash, and read as libbpf reads
// it (programs, sections, maps) or refused where libbpf refuses it.
TEST(ObjectOracle, VerifierCorpus) {
  std::filesystem::path dir = std::filesystem::path(BPFVM_VERIFIER_CORPUS_DIR) / "ebpf-samples" / "build";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no verifier corpus at " << dir;
  libbpf_print_fn_t old = libbpf_set_print(nullptr);
  std::size_t objects = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".o") continue;
    ++objects;
    compare_with_libbpf(entry.path().string());
  }
  libbpf_set_print(old);
  EXPECT_GT(objects, 10U);
}

// ---- what the specs say, checked one by one ------------------------------------------------

const MapSpec& map_named(const ObjectSpec& spec, const std::string& name) {
  const MapSpec* m = spec.find_map(name);
  EXPECT_NE(m, nullptr) << name;
  static const MapSpec kNone;
  return m != nullptr ? *m : kNone;
}

TEST(Object, HelloWorld) {
  ObjectSpec spec = open_ok("hello.bpf.o");
  EXPECT_EQ(spec.name, "hello");
  EXPECT_EQ(spec.license, "Dual BSD/GPL");
  ASSERT_EQ(spec.programs.size(), 1U);
  const ProgramSpec& p = spec.programs[0];
  EXPECT_EQ(p.name, "hello");
  EXPECT_EQ(p.section, "xdp");
  EXPECT_EQ(p.prog_type, 6U);              // BPF_PROG_TYPE_XDP
  EXPECT_EQ(p.expected_attach_type, 37U);  // BPF_XDP
  EXPECT_TRUE(p.section_known);
  EXPECT_TRUE(p.subprograms.empty());
  EXPECT_EQ(p.insns.size(), p.own_insn_count);
  EXPECT_TRUE(isa::decode_program(p.insns).ok());

  const MapSpec& bss = map_named(spec, "hello.bss");
  EXPECT_EQ(bss.kind, MapKind::kBss);
  EXPECT_EQ(bss.type, kMapTypeArray);
  EXPECT_EQ(bss.key_size, 4U);
  EXPECT_EQ(bss.value_size, 4U);
  EXPECT_EQ(bss.max_entries, 1U);
  EXPECT_EQ(bss.data, std::vector<uint8_t>(4, 0));
  ASSERT_EQ(bss.vars.size(), 1U);
  EXPECT_EQ(bss.vars[0].name, "counter");
  const MapSpec& rodata = map_named(spec, "hello.rodata");
  EXPECT_TRUE(rodata.read_only());
  EXPECT_EQ(rodata.map_flags & kMapFlagRdonlyProg, kMapFlagRdonlyProg);
  EXPECT_EQ(std::string(rodata.data.begin(), rodata.data.end()), std::string("Hello World %d", 15));

  // Both globals are reached through map-value relocations.
  ASSERT_EQ(p.map_relocs.size(), 2U);
  std::set<std::string> targets;
  for (const MapReloc& r : p.map_relocs) {
    EXPECT_EQ(r.kind, MapReloc::Kind::kMapValue);
    EXPECT_EQ(p.insns[r.insn].code, kLdImm64);
    EXPECT_EQ(p.insns[r.insn].src(), kPseudoMapValue);
    EXPECT_EQ(p.insns[r.insn].imm, 0);
    EXPECT_EQ(static_cast<uint32_t>(p.insns[r.insn + 1].imm), r.offset);
    targets.insert(spec.maps[r.map].name);
  }
  EXPECT_EQ(targets, (std::set<std::string>{"hello.bss", "hello.rodata"}));
}

// Calls and function addresses point at the start of a subprogram appended after the program.
void expect_linked(const ProgramSpec& p, const std::vector<std::string>& subprograms) {
  SCOPED_TRACE(p.name);
  std::vector<std::string> names;
  for (const SubprogRange& s : p.subprograms) names.push_back(s.name);
  EXPECT_EQ(names, subprograms);
  std::size_t expected_size = p.own_insn_count;
  for (const SubprogRange& s : p.subprograms) {
    EXPECT_EQ(s.start, expected_size);
    expected_size += s.count;
  }
  EXPECT_EQ(p.insns.size(), expected_size);
  auto decoded = isa::decode_program(p.insns);
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  std::set<std::size_t> starts;
  for (const SubprogRange& s : p.subprograms) starts.insert(s.start);
  std::set<std::size_t> reached;
  for (std::size_t i = 0; i < p.insns.size(); ++i) {
    const isa::RawInsn& insn = p.insns[i];
    bool call = insn.code == kCall && insn.src() == kPseudoCall;
    bool func = insn.code == kLdImm64 && insn.src() == kPseudoFunc;
    if (!call && !func) continue;
    std::size_t target = i + 1 + static_cast<std::size_t>(static_cast<int64_t>(insn.imm));
    EXPECT_EQ(starts.count(target), 1U) << "insn " << i << " targets " << target;
    reached.insert(target);
  }
  EXPECT_EQ(reached, starts);
}

TEST(Object, SubprogramsAreLinkedIntoEachCaller) {
  ObjectSpec spec = open_ok("calls.bpf.o");
  // .text functions are not programs of their own.
  EXPECT_EQ(spec.find_program("add_one"), nullptr);
  EXPECT_EQ(spec.find_program("twice"), nullptr);
  const ProgramSpec* first = spec.find_program("tc_first");
  const ProgramSpec* second = spec.find_program("tc_second");
  const ProgramSpec* sock = spec.find_program("sock_prog");
  const ProgramSpec* kprobe = spec.find_program("kprobe_prog");
  ASSERT_TRUE(first && second && sock && kprobe);
  // Global add_one calls static twice: appended depth first, each once.
  expect_linked(*first, {"add_one", "twice"});
  expect_linked(*second, {"twice", "leaf"});
  // bpf_loop's callback is passed by address (ld_imm64 src=4).
  expect_linked(*sock, {"loop_body", "leaf"});
  expect_linked(*kprobe, {"add_one", "twice"});
  // The same subprograms link to the same code wherever they land.
  std::vector<isa::RawInsn> a(first->insns.begin() + first->own_insn_count, first->insns.end());
  std::vector<isa::RawInsn> b(kprobe->insns.begin() + kprobe->own_insn_count, kprobe->insns.end());
  EXPECT_EQ(a, b);
  // The relocation inside add_one (total) moves with it.
  std::size_t in_subprograms = 0;
  for (const MapReloc& r : first->map_relocs) {
    EXPECT_EQ(spec.maps[r.map].name, "calls.bss");
    if (r.insn >= first->own_insn_count) ++in_subprograms;
  }
  EXPECT_EQ(in_subprograms, 2U);  // add_one's and twice's reads of `total`
  // Programs without calls stay as they are.
  expect_linked(*spec.find_program("tp_prog"), {});
}

TEST(Object, SeveralProgramsInOneSection) {
  ObjectSpec spec = open_ok("calls.bpf.o");
  std::vector<std::string> tc;
  for (const ProgramSpec& p : spec.programs) {
    if (p.section == "tc") tc.push_back(p.name);
  }
  EXPECT_EQ(tc, (std::vector<std::string>{"tc_first", "tc_second"}));
}

TEST(Object, ProgramTypesFromSectionNames) {
  ObjectSpec spec = open_ok("calls.bpf.o");
  struct Want {
    const char* name;
    uint32_t type;
    uint32_t attach;
    const char* target;
  };
  for (const Want& w : std::initializer_list<Want>{
           {"tc_first", 3, 0, ""},                                 // SCHED_CLS
           {"sock_prog", 1, 0, ""},                                // SOCKET_FILTER
           {"kprobe_prog", 2, 0, "tcp_v4_connect"},                // KPROBE
           {"kretprobe_prog", 2, 0, "tcp_v4_connect"},
           {"tp_prog", 5, 0, "sched/sched_switch"},                // TRACEPOINT
           {"raw_tp_prog", 17, 0, "sys_enter"},                    // RAW_TRACEPOINT
           {"fentry_prog", 26, 24, "do_unlinkat"},                 // TRACING, BPF_TRACE_FENTRY
           {"cgroup_egress", 8, 1, ""},                            // CGROUP_SKB, INET_EGRESS
           {"xdp_frags_prog", 6, 37, ""},
           {"perf_prog", 7, 0, ""},
           {"sk_msg_prog", 16, 7, ""},
           {"lsm_prog", 29, 27, "file_open"},                      // LSM, BPF_LSM_MAC
       }) {
    const ProgramSpec* p = spec.find_program(w.name);
    ASSERT_NE(p, nullptr) << w.name;
    EXPECT_EQ(p->prog_type, w.type) << w.name;
    EXPECT_EQ(p->expected_attach_type, w.attach) << w.name;
    EXPECT_EQ(p->attach_target, w.target) << w.name;
    EXPECT_TRUE(p->section_known) << w.name;
  }
  EXPECT_TRUE(spec.find_program("xdp_frags_prog")->xdp_frags);
  const ProgramSpec* mystery = spec.find_program("mystery");
  ASSERT_NE(mystery, nullptr);
  EXPECT_FALSE(mystery->section_known);
  EXPECT_EQ(mystery->prog_type, kProgTypeUnspec);

  auto strict = open_object(prog_path("calls.bpf.o"), OpenOptions{.require_known_sections = true});
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.error().message.find("unknown section name 'unknown_section_name'"), std::string::npos)
      << strict.error().message;
}

TEST(SectionDefs, LibbpfConventions) {
  struct Want {
    const char* section;
    int type;  // -1: no match
    uint32_t attach;
  };
  for (const Want& w : std::initializer_list<Want>{
           {"xdp", 6, 37}, {"xdp/devmap", 6, 33}, {"xdp.frags/cpumap", 6, 35}, {"xdpx", -1, 0},
           {"tc", 3, 0}, {"classifier", 3, 0}, {"action", 4, 0}, {"tc/ingress", 3, 46}, {"tcx/egress", 3, 47},
           {"socket", 1, 0}, {"socket_filter", -1, 0}, {"kprobe", 2, 0}, {"kprobe/f", 2, 0}, {"kprobex", -1, 0},
           {"kprobe.multi/f*", 2, 42}, {"uprobe.s/bin:f", 2, 0}, {"uretprobe//bin/sh:main", 2, 0},
           {"tp/a/b", 5, 0}, {"tracepoint/a/b", 5, 0}, {"raw_tp.w/x", 24, 0}, {"tp_btf/sched_switch", 26, 23},
           {"fexit/f", 26, 25}, {"fmod_ret/f", 26, 26}, {"freplace/f", 28, 0}, {"lsm.s/f", 29, 27},
           {"lsm_cgroup/f", 29, 43}, {"iter/task", 26, 28}, {"perf_event", 7, 0}, {"cgroup_skb/ingress", 8, 0},
           {"cgroup/skb", 8, 0}, {"cgroup/sock", 9, 2}, {"cgroup/connect4", 18, 10}, {"cgroup/getsockopt", 25, 21},
           {"cgroup/dev", 15, 6}, {"cgroup/sysctl", 23, 18}, {"sk_skb/stream_parser", 14, 4}, {"sk_skb", 14, 0},
           {"sk_msg", 16, 7}, {"sockops", 13, 3}, {"flow_dissector", 22, 17}, {"lwt_in", 10, 0},
           {"lwt_seg6local", 19, 0}, {"sk_lookup", 30, 36}, {"sk_reuseport/migrate", 21, 40},
           {"syscall", 31, 0}, {"struct_ops/f", 27, 0}, {"struct_ops.s", 27, 0}, {"netfilter", 32, 45},
           {"lirc_mode2", 20, 16}, {".text", -1, 0}, {"", -1, 0}}) {
    const SectionDef* d = find_section_def(w.section);
    if (w.type < 0) {
      EXPECT_EQ(d, nullptr) << w.section;
      continue;
    }
    ASSERT_NE(d, nullptr) << w.section;
    EXPECT_EQ(d->prog_type, static_cast<uint32_t>(w.type)) << w.section;
    EXPECT_EQ(d->expected_attach_type, w.attach) << w.section;
  }
  EXPECT_TRUE(find_section_def("uprobe.s/bin:f")->sleepable);
  EXPECT_TRUE(find_section_def("fentry/f")->attach_btf);
  EXPECT_FALSE(find_section_def("kprobe/f")->sleepable);
}

TEST(Object, MapDefinitions) {
  ObjectSpec spec = open_ok("maps.bpf.o");
  EXPECT_EQ(spec.kern_version, 0x050a00U);
  const MapSpec& counter = map_named(spec, "counter_table");
  EXPECT_EQ(counter.kind, MapKind::kBtfDefined);
  EXPECT_EQ(counter.type, 1U);  // HASH
  EXPECT_EQ(counter.key_size, 4U);
  EXPECT_EQ(counter.value_size, 8U);
  EXPECT_EQ(counter.max_entries, 10240U);
  EXPECT_NE(counter.btf_key_type_id, 0U);
  const MapSpec& output = map_named(spec, "output");
  EXPECT_EQ(output.type, 4U);  // PERF_EVENT_ARRAY
  EXPECT_EQ(output.max_entries, 0U);  // the runtime sizes it to the CPUs
  const MapSpec& lru = map_named(spec, "pinned_lru");
  EXPECT_EQ(lru.type, 9U);
  EXPECT_EQ(lru.key_size, 8U);
  EXPECT_EQ(lru.value_size, 24U);  // sizeof(struct data_t), from BTF
  EXPECT_EQ(lru.map_flags, 2U);    // BPF_F_NO_COMMON_LRU
  EXPECT_EQ(lru.pinning, 1U);      // LIBBPF_PIN_BY_NAME
  EXPECT_EQ(map_named(spec, "events").type, 27U);  // RINGBUF

  // BTF maps first, then one ARRAY per data section in section order.
  std::vector<std::string> names;
  for (const MapSpec& m : spec.maps) names.push_back(m.name);
  EXPECT_EQ(names, (std::vector<std::string>{"counter_table", "output", "pinned_lru", "events", "maps.rodata",
                                             "maps.data", ".data.percpu_stats", ".rodata.banner", "maps.bss",
                                             ".rodata.str1.1"}));
  const MapSpec& percpu = map_named(spec, ".data.percpu_stats");
  EXPECT_EQ(percpu.kernel_name, ".data.percpu_st");  // 15 characters, as the kernel takes them
  const uint64_t stats[4] = {1, 2, 3, 4};
  ASSERT_EQ(percpu.data.size(), sizeof(stats));
  EXPECT_EQ(std::memcmp(percpu.data.data(), stats, sizeof(stats)), 0);
  const MapSpec& str = map_named(spec, ".rodata.str1.1");
  EXPECT_TRUE(str.read_only());
  EXPECT_EQ(std::string(str.data.begin(), str.data.end()), std::string("execve %d\n", 11));
  const MapSpec& bss = map_named(spec, "maps.bss");
  ASSERT_EQ(bss.vars.size(), 2U);
  EXPECT_EQ(bss.vars[1].name, "hidden_total");
  EXPECT_FALSE(bss.vars[1].global);
  EXPECT_EQ(bss.vars[1].offset, 4U);
}

TEST(Object, ConstVolatileRodataIsSettableBeforeLoad) {
  ObjectSpec spec = open_ok("maps.bpf.o");
  const MapSpec& rodata = map_named(spec, "maps.rodata");
  EXPECT_EQ(rodata.map_flags, kMapFlagRdonlyProg | kMapFlagMmapable);
  const DataVar* uid = rodata.find_var("target_uid");
  const DataVar* rate = rodata.find_var("sample_rate");
  ASSERT_TRUE(uid && rate);
  EXPECT_EQ(uid->offset, 0U);
  EXPECT_EQ(uid->size, 4U);
  EXPECT_EQ(rate->offset, 8U);
  EXPECT_EQ(rate->size, 8U);
  uint32_t initial = 0;
  std::memcpy(&initial, rodata.data.data() + uid->offset, 4);
  EXPECT_EQ(initial, 1000U);

  const uint32_t root = 0;
  ASSERT_TRUE(spec.set_var("maps.rodata", "target_uid",
                           std::span(reinterpret_cast<const uint8_t*>(&root), sizeof(root))).ok());
  uint32_t now = 1;
  std::memcpy(&now, map_named(spec, "maps.rodata").data.data(), 4);
  EXPECT_EQ(now, 0U);
  const uint8_t one_byte = 1;
  auto wrong = spec.set_var("maps.rodata", "target_uid", std::span(&one_byte, 1));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().message, "variable 'target_uid' of 'maps.rodata' is 4 bytes, not 1");
  EXPECT_FALSE(spec.set_var("maps.rodata", "nope", std::span(&one_byte, 1)).ok());
}

TEST(Object, RelocationsToMapsAndGlobalData) {
  ObjectSpec spec = open_ok("maps.bpf.o");
  const ProgramSpec* p = spec.find_program("count_uid");
  ASSERT_NE(p, nullptr);
  std::map<std::string, std::vector<MapReloc>> by_symbol;
  for (const MapReloc& r : p->map_relocs) by_symbol[r.symbol].push_back(r);
  auto index = [&](const char* name) { return *spec.map_index(name); };
  ASSERT_EQ(by_symbol["counter_table"].size(), 2U);  // lookup and update
  for (const MapReloc& r : by_symbol["counter_table"]) {
    EXPECT_EQ(r.kind, MapReloc::Kind::kMapFd);
    EXPECT_EQ(r.map, index("counter_table"));
    EXPECT_EQ(p->insns[r.insn].src(), kPseudoMapFd);
    EXPECT_EQ(p->insns[r.insn + 1].imm, 0);
  }
  ASSERT_EQ(by_symbol["sample_rate"].size(), 1U);
  EXPECT_EQ(by_symbol["sample_rate"][0].map, index("maps.rodata"));
  EXPECT_EQ(by_symbol["sample_rate"][0].offset, 8U);
  EXPECT_EQ(p->insns[by_symbol["sample_rate"][0].insn + 1].imm, 8);
  // A static variable is reached through the section symbol plus an addend.
  ASSERT_FALSE(by_symbol[".bss"].empty());
  for (const MapReloc& r : by_symbol[".bss"]) {
    EXPECT_EQ(r.map, index("maps.bss"));
    EXPECT_EQ(r.offset, 4U);  // hidden_total
  }
  EXPECT_EQ(by_symbol["by_cpu"][0].map, index(".data.percpu_stats"));
  const ProgramSpec* send = spec.find_program("send_event");
  ASSERT_NE(send, nullptr);
  bool string_literal = false;
  for (const MapReloc& r : send->map_relocs) {
    if (spec.maps[r.map].name == ".rodata.str1.1") string_literal = r.kind == MapReloc::Kind::kMapValue;
  }
  EXPECT_TRUE(string_literal);
  for (const ProgramSpec& prog : spec.programs) {
    EXPECT_TRUE(std::is_sorted(prog.map_relocs.begin(), prog.map_relocs.end(),
                               [](const MapReloc& a, const MapReloc& b) { return a.insn < b.insn; }));
  }
}

TEST(Object, ResolvingMapRelocationsWritesTheHandles) {
  ObjectSpec spec = open_ok("maps.bpf.o");
  const ProgramSpec& p = *spec.find_program("count_uid");
  std::vector<int32_t> handles;
  for (std::size_t i = 0; i < spec.maps.size(); ++i) handles.push_back(100 + static_cast<int32_t>(i));
  auto insns = resolve_map_relocs(p, handles);
  ASSERT_TRUE(insns.ok()) << insns.error().to_string();
  ASSERT_EQ(insns->size(), p.insns.size());
  std::size_t resolved = 0;
  for (std::size_t i = 0; i < insns->size(); ++i) {
    const isa::RawInsn& insn = (*insns)[i];
    if (insn.code != kLdImm64 || (insn.src() != kPseudoMapFd && insn.src() != kPseudoMapValue)) continue;
    ++resolved;
    auto r = std::find_if(p.map_relocs.begin(), p.map_relocs.end(), [&](const MapReloc& m) { return m.insn == i; });
    ASSERT_NE(r, p.map_relocs.end());
    EXPECT_EQ(insn.imm, 100 + static_cast<int32_t>(r->map));
    EXPECT_EQ((*insns)[i + 1].imm, static_cast<int32_t>(r->offset));
  }
  EXPECT_EQ(resolved, p.map_relocs.size());
  auto short_list = resolve_map_relocs(p, std::span(handles).first(2));
  ASSERT_FALSE(short_list.ok());
  EXPECT_NE(short_list.error().message.find("but only 2 maps were given"), std::string::npos);
}

TEST(Object, TailCallTableAndMapInMap) {
  ObjectSpec spec = open_ok("tailcall.bpf.o");
  const MapSpec& table = map_named(spec, "jump_table");
  EXPECT_EQ(table.type, kMapTypeProgArray);
  EXPECT_EQ(table.value_size, 4U);
  ASSERT_EQ(table.initial_slots.size(), 2U);
  EXPECT_EQ(table.initial_slots[0].slot, 1U);
  EXPECT_EQ(table.initial_slots[0].kind, MapSlotInit::Kind::kProgram);
  EXPECT_EQ(table.initial_slots[0].target, "stage_two");
  EXPECT_EQ(table.initial_slots[1].slot, 3U);
  EXPECT_EQ(table.initial_slots[1].target, "stage_three");
  EXPECT_NE(spec.find_program(table.initial_slots[1].target), nullptr);

  const MapSpec& outer = map_named(spec, "outer");
  EXPECT_EQ(outer.type, kMapTypeArrayOfMaps);
  ASSERT_NE(outer.inner, nullptr);
  EXPECT_EQ(outer.inner->name, "outer.inner");
  EXPECT_EQ(outer.inner->type, kMapTypeArray);
  EXPECT_EQ(outer.inner->value_size, 8U);
  EXPECT_EQ(outer.inner->max_entries, 8U);
  ASSERT_EQ(outer.initial_slots.size(), 2U);
  EXPECT_EQ(outer.initial_slots[0].kind, MapSlotInit::Kind::kMap);
  EXPECT_EQ(outer.initial_slots[0].target, "inner_a");
  EXPECT_EQ(outer.initial_slots[1].target, "inner_b");
  const MapSpec& outer_hash = map_named(spec, "outer_hash");
  ASSERT_NE(outer_hash.inner, nullptr);
  EXPECT_EQ(outer_hash.inner->type, 1U);
  EXPECT_EQ(outer_hash.inner->max_entries, 32U);
  EXPECT_TRUE(outer_hash.initial_slots.empty());
}

TEST(Object, FuncAndLineInfoFollowTheLinkedLayout) {
  ObjectSpec spec = open_ok("calls.bpf.o");
  const ProgramSpec* p = spec.find_program("tc_first");
  ASSERT_NE(p, nullptr);
  // One func_info per function, at its first instruction in the linked program.
  std::vector<std::size_t> starts;
  for (const FuncInfo& f : p->func_info) starts.push_back(f.insn);
  EXPECT_EQ(starts, (std::vector<std::size_t>{0, p->subprograms[0].start, p->subprograms[1].start}));
  const struct btf* btf = spec.btf.get();
  ASSERT_NE(btf, nullptr);
  const btf_type* t = btf__type_by_id(btf, p->func_info[1].type_id);
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(btf_is_func(t));
  EXPECT_STREQ(btf__name_by_offset(btf, t->name_off), "add_one");
  ASSERT_FALSE(p->line_info.empty());
  EXPECT_EQ(p->line_info[0].insn, 0U);
  EXPECT_TRUE(p->line_info[0].file.ends_with("calls.bpf.c")) << p->line_info[0].file;
  bool in_twice = false;
  for (const LineInfo& l : p->line_info) {
    EXPECT_LT(l.insn, p->insns.size());
    if (l.insn >= p->subprograms[1].start && l.line.find("x * 2") != std::string::npos) in_twice = true;
  }
  EXPECT_TRUE(in_twice);
}

TEST(ObjectOracle, Core) { compare_with_libbpf(prog_path("core.bpf.o")); }

TEST(Object, CoreRelocationsAreRecorded) {
  ObjectSpec spec = open_ok("core.bpf.o");
  const ProgramSpec* p = spec.find_program("read_tgid");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->core_relocs.size(), 1U);
  const CoreReloc& r = p->core_relocs[0];
  EXPECT_EQ(r.access, "0:1");  // task->tgid: member 1 of the root
  EXPECT_EQ(r.kind, 0U);       // BPF_CORE_FIELD_BYTE_OFFSET
  EXPECT_EQ(p->insns[r.insn].code, 0x61);  // ldxw, offset 4 as compiled
  EXPECT_EQ(p->insns[r.insn].off, 4);
  const btf_type* root = btf__type_by_id(spec.btf.get(), r.type_id);
  ASSERT_NE(root, nullptr);
  EXPECT_STREQ(btf__name_by_offset(spec.btf.get(), root->name_off), "task_info");
  // Objects without CO-RE have none.
  for (const ProgramSpec& q : open_ok("calls.bpf.o").programs) EXPECT_TRUE(q.core_relocs.empty());
}

std::string run_cli(const std::string& args, int* status) {
  std::string output;
  FILE* pipe = popen((std::string(BPFVM_CLI) + " " + args + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  *status = pclose(pipe);
  return output;
}

TEST(ObjectCli, ShowListsProgramsAndMaps) {
  int status = -1;
  std::string out = run_cli("object show " + prog_path("calls.bpf.o"), &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("prog tc_first  section tc  type sched_cls  insns 29 +add_one +twice\n"), std::string::npos) << out;
  EXPECT_NE(out.find("prog cgroup_egress  section cgroup_skb/egress  type cgroup_skb  attach cgroup_inet_egress  insns 2\n"),
            std::string::npos) << out;
  EXPECT_NE(out.find("map calls.bss  type array  key 4B  value 8B  max_entries 1  flags 0x400\n"), std::string::npos) << out;
  std::string json = run_cli("object show --json " + prog_path("hello.bpf.o"), &status);
  EXPECT_EQ(status, 0) << json;
  EXPECT_NE(json.find("\"name\":\"hello.bss\""), std::string::npos) << json;
  std::string bad = run_cli("object show " + prog_path("legacy_maps.bpf.o"), &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(bad.find("bpfvm: error: "), std::string::npos) << bad;
  EXPECT_NE(bad.find("legacy map definitions"), std::string::npos) << bad;
}

TEST(Object, SpinLockOffsetFromBtf) {
  ObjectSpec spec = open_ok("core.bpf.o");
  EXPECT_EQ(map_named(spec, "locked").spin_lock_off, 12);  // after a u64 and a u32
  for (const MapSpec& m : open_ok("maps.bpf.o").maps) EXPECT_EQ(m.spin_lock_off, -1) << m.name;
}

TEST(Object, InternalMapNames) {
  EXPECT_EQ(internal_map_name("hello", ".bss"), "hello.bss");
  EXPECT_EQ(internal_map_name("my_object_name", ".rodata"), "my_objec.rodata");
  EXPECT_EQ(internal_map_name("my_object_name", ".bss"), "my_objec.bss");  // 7 characters reserved
  EXPECT_EQ(internal_map_name("obj", ".rodata.str1.1"), ".rodata.str1.1");
  EXPECT_EQ(internal_map_name("obj", ".data.a_very_long_name"), ".data.a_very_lo");
  EXPECT_EQ(internal_map_name("a-b", ".data"), "a_b.data");
}

TEST(Object, OpenFromMemoryTakesTheGivenName) {
  std::ifstream in(prog_path("hello.bpf.o"), std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto spec = open_object(bytes, "greeter_program");
  ASSERT_TRUE(spec.ok()) << spec.error().to_string();
  EXPECT_EQ(spec->name, "greeter_program");
  EXPECT_NE(spec->find_map("greeter_.bss"), nullptr);
}

}  // namespace
}  // namespace bpfvm::object
