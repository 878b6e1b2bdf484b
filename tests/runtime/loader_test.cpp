// Objects built by clang, loaded and run: the runtime's end-to-end behaviour.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "helpers/linux_helpers.hpp"
#include "hooks/test_run.hpp"
#include "object/object.hpp"
#include "runtime/events.hpp"
#include "runtime/loader.hpp"
#include "support/cpu.hpp"

namespace bpfvm {
namespace {

struct Lines final : TraceSink {
  std::vector<std::string> lines;
  void write(std::string_view message) override { lines.emplace_back(message); }
};

object::ObjectSpec open(const std::string& name) {
  auto spec = object::open_object(std::string(BPFVM_OBJECT_PROGS_DIR) + "/" + name + ".bpf.o");
  EXPECT_TRUE(spec.ok()) << spec.error().to_string();
  return spec.ok() ? std::move(*spec) : object::ObjectSpec{};
}

LoadedObject load(const object::ObjectSpec& spec, Engine engine = default_engine()) {
  auto loaded = LoadedObject::load(spec, nullptr, LoadOptions{engine});
  EXPECT_TRUE(loaded.ok()) << loaded.error().to_string();
  if (!loaded) std::abort();
  return std::move(*loaded);
}

uint64_t read_u64(maps::Map& map, uint32_t key) {
  auto value = map.lookup({reinterpret_cast<const uint8_t*>(&key), 4});
  EXPECT_TRUE(value.ok()) << value.error().to_string();
  uint64_t v = 0;
  if (value.ok()) std::memcpy(&v, value->data(), std::min<std::size_t>(8, value->size()));
  return v;
}

TEST(Loader, HelloWorldPrintsAndCounts) {
  LoadedObject object = load(open("hello"));
  const LoadedProgram* hello = object.program("hello");
  ASSERT_NE(hello, nullptr);
  EXPECT_EQ(hello->prog_type(), static_cast<uint32_t>(BPF_PROG_TYPE_XDP));
  Lines trace;
  auto r = test_run(hello->runner(&trace), TestRunRequest{BPF_PROG_TYPE_XDP, std::vector<uint8_t>(64, 0), {}, 3});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->retval, static_cast<uint32_t>(XDP_PASS));
  EXPECT_EQ(trace.lines, (std::vector<std::string>{"Hello World 0", "Hello World 1", "Hello World 2"}));
  maps::Map* bss = object.map("hello.bss");
  ASSERT_NE(bss, nullptr);
  EXPECT_EQ(read_u64(*bss, 0) & 0xffffffff, 3u);
  maps::Map* rodata = object.map("hello.rodata");
  ASSERT_NE(rodata, nullptr);
  EXPECT_TRUE(rodata->frozen());
}

TEST(Loader, MapsAndConfigurableRodata) {
  object::ObjectSpec spec = open("maps");
  // As a libbpf skeleton does before load: count events of this process's uid.
  const uint32_t uid = getuid();
  ASSERT_TRUE(spec.set_var("maps.rodata", "target_uid", {reinterpret_cast<const uint8_t*>(&uid), 4}).ok());
  LoadedObject object = load(spec);
  const LoadedProgram* count = object.program("count_uid");
  ASSERT_NE(count, nullptr);
  for (int i = 0; i < 2; ++i) {
    auto r = test_run(count->runner(), TestRunRequest{BPF_PROG_TYPE_KPROBE, {}, std::vector<uint8_t>(168, 0), 1});
    ASSERT_TRUE(r.ok()) << r.error().to_string();
  }
  maps::Map* counter = object.map("counter_table");
  ASSERT_NE(counter, nullptr);
  EXPECT_EQ(read_u64(*counter, uid), 1u + 7u);  // created with 1, then += sample_rate
  EXPECT_EQ(read_u64(*object.map("maps.data"), 0), 3u + 2u);  // seen
}

// Verified programs look their maps up without the helper (ARRAY maps inline, the others by a
// direct call), which is only right while the helper is the standard one: an embedder that
// replaces bpf_map_lookup_elem sees every lookup, in either engine.
std::atomic<int> replaced_lookups{0};
HelperFn standard_lookup = nullptr;
uint64_t counting_lookup(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, HelperContext& ctx) {
  ++replaced_lookups;
  return standard_lookup(r1, r2, r3, r4, r5, ctx);
}

TEST(Loader, AReplacedLookupHelperSeesEveryLookup) {
  object::ObjectSpec spec = open("maps");
  const uint32_t uid = getuid();
  ASSERT_TRUE(spec.set_var("maps.rodata", "target_uid", {reinterpret_cast<const uint8_t*>(&uid), 4}).ok());
  auto helpers = std::make_shared<HelperTable>(linux_helpers());
  Helper lookup = *helpers->find(BPF_FUNC_map_lookup_elem);
  standard_lookup = lookup.fn;
  lookup.fn = counting_lookup;
  helpers->add(lookup);
  for (Engine engine : {Engine::kJit, Engine::kInterpreter}) {
    if (engine == Engine::kJit && !jit::jit_available()) continue;
    replaced_lookups = 0;
    auto object = LoadedObject::load(spec, helpers, LoadOptions{engine});
    ASSERT_TRUE(object.ok()) << object.error().to_string();
    const LoadedProgram* count = object->program("count_uid");
    ASSERT_NE(count, nullptr);
    for (int i = 0; i < 3; ++i) {
      auto r = test_run(count->runner(), TestRunRequest{BPF_PROG_TYPE_KPROBE, {}, std::vector<uint8_t>(168, 0), 1});
      ASSERT_TRUE(r.ok()) << r.error().to_string();
    }
    EXPECT_EQ(replaced_lookups.load(), 3);  // one lookup in counter_table per run
    EXPECT_EQ(read_u64(*object->map("counter_table"), uid), 1u + 7u + 7u);
  }
}

TEST(Loader, BpfToBpfCallsAndCallbacks) {
  LoadedObject object = load(open("calls"));
  const std::vector<uint8_t> packet(64, 0);
  auto first = test_run(object.program("tc_first")->runner(), TestRunRequest{BPF_PROG_TYPE_SCHED_CLS, packet, {}, 1});
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  EXPECT_EQ(first->retval, 0u);  // add_one(64) = 2*64 + 64 + 1 > 10: TC_ACT_OK
  auto second = test_run(object.program("tc_second")->runner(), TestRunRequest{BPF_PROG_TYPE_SCHED_CLS, packet, {}, 1});
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  EXPECT_EQ(second->retval, 2u * 64 + 64 + (64 - 3));  // twice(64) reads total = 64 now
  auto sock = test_run(object.program("sock_prog")->runner(), TestRunRequest{BPF_PROG_TYPE_SOCKET_FILTER, packet, {}, 1});
  ASSERT_TRUE(sock.ok()) << sock.error().to_string();
  EXPECT_EQ(sock->retval, 50u - 3);  // leaf(skb->len), the L3 length
  // bpf_loop ran loop_body for indexes 0..3: total = 64 + 6.
  uint32_t zero = 0;
  auto bss = object.map("calls.bss")->lookup({reinterpret_cast<const uint8_t*>(&zero), 4});
  ASSERT_TRUE(bss.ok());
  uint64_t total = 0;
  std::memcpy(&total, bss->data(), 8);
  EXPECT_EQ(total, 64u + 6u);
}

// The verifier walks callbacks once (docs/verifier.md): an object passing one keeps the
// run-time checks, all its programs alike; an object without runs unchecked.
TEST(Loader, ObjectsPassingCallbacksRunChecked) {
  for (Engine engine : {Engine::kJit, Engine::kInterpreter}) {
    if (engine == Engine::kJit && !jit::jit_available()) continue;
    LoadedObject calls = load(open("calls"), engine);
    for (const char* name : {"sock_prog", "tc_first"}) {
      const LoadedProgram* p = calls.program(name);
      ASSERT_NE(p, nullptr) << name;
      EXPECT_TRUE(p->tail_call_target().interpreter->checked()) << name;
      if (p->jit() != nullptr) {
        EXPECT_TRUE(p->jit()->checked()) << name;
      }
    }
    LoadedObject hello = load(open("hello"), engine);
    const LoadedProgram& p = *hello.programs().front();
    EXPECT_FALSE(p.tail_call_target().interpreter->checked());
    if (p.jit() != nullptr) {
      EXPECT_FALSE(p.jit()->checked());
    }
  }
}

TEST(Loader, TailCallChainsAndMapInMap) {
  LoadedObject object = load(open("tailcall"));
  auto r = test_run(object.program("stage_one")->runner(), TestRunRequest{BPF_PROG_TYPE_XDP, std::vector<uint8_t>(64, 0), {}, 2});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->retval, static_cast<uint32_t>(XDP_TX));  // stage_one -> stage_two -> stage_three
  EXPECT_EQ(read_u64(*object.map("inner_a"), 0), 2u);   // through the outer map's slot 0
}

TEST(Loader, TailCallsStopAfterThirtyThreeInEitherEngine) {
  for (Engine engine : {Engine::kInterpreter, Engine::kJit}) {
    if (engine == Engine::kJit && !jit::jit_available()) continue;
    LoadedObject object = load(open("tail_loop"), engine);
    auto r = test_run(object.program("again")->runner(), TestRunRequest{BPF_PROG_TYPE_XDP, std::vector<uint8_t>(64, 0), {}, 1});
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->retval, static_cast<uint32_t>(XDP_TX));     // the 34th entry's tail call failed
    maps::Map* bss = object.map("tail_loo.bss");  // libbpf keeps 8 characters of the object name
    ASSERT_NE(bss, nullptr);
    EXPECT_EQ(read_u64(*bss, 0), 1u + kMaxTailCalls);
  }
}

TEST(Loader, BadObjectsGetClearErrors) {
  auto spec = object::open_object(std::string(BPFVM_OBJECT_PROGS_DIR) + "/legacy_maps.bpf.o");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.error().message.find("maps"), std::string::npos) << spec.error().message;
}

// ---- what programs send to user space (runtime/events.hpp) ----

int64_t read_global(const LoadedObject& object, std::string_view map, std::size_t offset) {
  EXPECT_NE(object.map(map), nullptr) << map;
  if (object.map(map) == nullptr) return INT64_MIN;
  auto value = object.map(map)->lookup(std::vector<uint8_t>(4, 0));
  EXPECT_TRUE(value.ok()) << value.error().to_string();
  int64_t v = 0;
  if (value.ok() && value->size() >= offset + 8) std::memcpy(&v, value->data() + offset, 8);
  return v;
}

std::vector<uint8_t> u32_bytes(uint32_t v) {
  std::vector<uint8_t> b(4);
  std::memcpy(b.data(), &v, 4);
  return b;
}

Result<TestRunResult> run_send(const LoadedObject& object, uint32_t repeat = 1) {
  return test_run(object.program("send")->runner(), TestRunRequest{BPF_PROG_TYPE_XDP, std::vector<uint8_t>(64, 0), {}, repeat});
}

TEST(Events, ReadsPerfSamplesThenRingbufRecordsInOrder) {
  LoadedObject object = load(open("events"));
  auto reader = EventReader::open(object);
  ASSERT_TRUE(reader.ok()) << reader.error().to_string();
  std::vector<SentRecord> records;
  EXPECT_EQ(reader->read(records), 0u);
  {
    cpu::ScopedCpu on(cpu::possible() - 1);  // BPF_F_CURRENT_CPU picks the slot of this CPU
    ASSERT_TRUE(run_send(object, 2).ok());
  }
  EXPECT_EQ(reader->read(records), 8u);
  ASSERT_EQ(records.size(), 8u);
  const uint32_t cpu = cpu::possible() - 1;
  for (uint32_t i = 0; i < 6; ++i) {
    EXPECT_EQ(records[i].map, "samples");
    EXPECT_EQ(records[i].cpu, std::optional<uint32_t>(cpu));
    EXPECT_EQ(records[i].data, u32_bytes(i % 3)) << i;  // two runs of 0, 1, 2
  }
  for (std::size_t i = 6; i < 8; ++i) {
    EXPECT_EQ(records[i].map, "records");
    EXPECT_EQ(records[i].cpu, std::nullopt);
    EXPECT_EQ(records[i].data, (std::vector<uint8_t>{0x0e, 0x0d, 0, 0, 0, 0, 0, 0}));
  }
  EXPECT_EQ(reader->read(records), 0u) << "records are read once";
  EXPECT_TRUE(reader->lost().empty());
  EXPECT_EQ(read_global(object, "events.data", 0), 0);  // perf_result
  EXPECT_EQ(read_global(object, "events.data", 8), 0);  // ringbuf_result
}

TEST(Events, AFullPerfBufferLosesSamplesAndSaysSo) {
  object::ObjectSpec spec = open("events");
  const uint32_t ten = 10;
  ASSERT_TRUE(spec.set_var("events.rodata", "count", {reinterpret_cast<const uint8_t*>(&ten), 4}).ok());
  LoadedObject object = load(spec);
  // Each 4-byte sample takes 16 bytes (perf header, size, padding to 8): 64 bytes hold 4.
  auto reader = EventReader::open(object, 64);
  ASSERT_TRUE(reader.ok()) << reader.error().to_string();
  cpu::ScopedCpu on(0);
  ASSERT_TRUE(run_send(object).ok());
  EXPECT_EQ(read_global(object, "events.data", 0), -ENOSPC);  // what the program saw
  std::vector<SentRecord> records;
  reader->read(records);
  ASSERT_EQ(records.size(), 5u);  // 4 samples and the ring buffer's record
  EXPECT_EQ(records[3].data, u32_bytes(3));
  const std::vector<LostRecords> lost = reader->lost();
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].map, "samples");
  EXPECT_EQ(lost[0].cpu, 0u);
  EXPECT_EQ(lost[0].count, 6u);
  // Read, the buffer has room again.
  ASSERT_TRUE(run_send(object).ok());
  records.clear();
  reader->read(records);
  EXPECT_EQ(records.size(), 5u);
  EXPECT_EQ(reader->lost()[0].count, 12u);
}

TEST(Events, WithoutAReaderPerfOutputFindsNoBuffer) {
  LoadedObject object = load(open("events"));
  ASSERT_TRUE(run_send(object).ok());
  EXPECT_EQ(read_global(object, "events.data", 0), -ENOENT);  // as the kernel: no perf event in the slot
  EXPECT_EQ(read_global(object, "events.data", 8), 0);        // a ring buffer needs no reader
}

}  // namespace
}  // namespace bpfvm
