// The interpreter and the JIT on every example object: every program, on every packet of
// examples/packets.pcap (packet types), on an empty context (the others) or on application
// memory (the embedding example), through bpfvm::Object. Return values, packets as the
// programs left them, trace lines, errors and the maps afterwards must be the same.
#include <gtest/gtest.h>

#include <bpfvm/bpfvm.hpp>
#include <fmt/format.h>
#include <linux/bpf.h>

#include <string>
#include <vector>

#include "hooks/pcap_run.hpp"
#include "progtypes/progtypes.hpp"

namespace bpfvm {
namespace {

struct Lines final : TraceSink {
  std::vector<std::string> lines;
  void write(std::string_view message) override { lines.emplace_back(message); }
};

// Everything observable of running an object's programs, in order.
struct Outcome {
  std::vector<std::string> runs;  // per run: "prog: retval data_out" or "prog: error ..."
  std::vector<std::string> trace;
  std::vector<std::string> maps;  // "map: key -> value" for every element afterwards
};

std::string hex(std::span<const uint8_t> bytes) {
  std::string s;
  for (uint8_t b : bytes) s += fmt::format("{:02x}", b);
  return s;
}

uint64_t app_log(uint64_t, uint64_t, uint64_t value, uint64_t, uint64_t, HelperContext&) { return value * 3; }

Outcome run_everything(const std::string& name, Engine engine) {
  Outcome out;
  auto object = Object::open(std::string(BPFVM_EXAMPLES_DIR) + "/" + name + ".bpf.o");
  EXPECT_TRUE(object.ok()) << object.error().to_string();
  if (!object) return out;
  EXPECT_TRUE(object->add_helper(Helper{1000, "app_log", app_log}).ok());  // the embedding example's
  auto loaded = object->load(LoadOptions{engine});
  EXPECT_TRUE(loaded.ok()) << loaded.error().to_string();
  if (!loaded) return out;
  auto packets = read_pcap(std::string(BPFVM_SOURCE_DIR) + "/examples/packets.pcap");
  EXPECT_TRUE(packets.ok() && !packets->empty());
  if (!packets) return out;

  Lines trace;
  auto record = [&](const std::string& prog, const Result<TestRunResult>& r) {
    out.runs.push_back(r ? fmt::format("{}: {} {}", prog, r->r0, hex(r->data_out))
                         : fmt::format("{}: error {}", prog, r.error().to_string()));
  };
  for (const object::ProgramSpec& spec : object->spec().programs) {
    auto program = object->program(spec.name);
    EXPECT_TRUE(program.has_value()) << spec.name;
    if (!program) continue;
    EXPECT_EQ(program->engine(), engine);
    const ProgTypeInfo* type = prog_type_info(program->type());
    const ContextKind context = type ? type->context : ContextKind::kNone;
    if (context == ContextKind::kXdp || context == ContextKind::kSkb) {
      for (const auto& packet : *packets) record(spec.name, program->test_run(TestRunRequest{0, packet, {}, 1}, &trace));
    } else if (context == ContextKind::kMemory || context == ContextKind::kNone) {
      for (std::string text : {"hello", "queue", "", "aeiou xyz"}) {
        auto r = program->run_on({reinterpret_cast<uint8_t*>(text.data()), text.size()}, &trace);
        out.runs.push_back(r ? fmt::format("{}: {}", spec.name, *r) : fmt::format("{}: error {}", spec.name, r.error().to_string()));
      }
    } else {
      for (int k = 0; k < 4; ++k) record(spec.name, program->test_run(TestRunRequest{0, {}, {}, 1}, &trace));
    }
  }
  out.trace = trace.lines;
  for (const object::MapSpec& m : object->spec().maps) {
    maps::Map* map = object->map(m.name);
    EXPECT_NE(map, nullptr) << m.name;
    if (map == nullptr || map->type() == BPF_MAP_TYPE_PROG_ARRAY) continue;  // program ids differ per load
    auto st = map->for_each([&](std::span<const uint8_t> key, std::span<const uint8_t> value) {
      out.maps.push_back(fmt::format("{}: {} -> {}", m.name, hex(key), hex(value)));
      return true;
    });
    EXPECT_TRUE(st.ok()) << m.name;
  }
  return out;
}

TEST(EnginesAgree, OnEveryExampleProgramPacketAndMap) {
  if (!jit::jit_available()) GTEST_SKIP() << "no JIT on this host";
  for (const char* name : {"hello", "hello-map", "hello-func", "tail-calls", "xdp-filter", "embed/scorer"}) {
    SCOPED_TRACE(name);
    const Outcome interpreted = run_everything(name, Engine::kInterpreter);
    const Outcome jitted = run_everything(name, Engine::kJit);
    EXPECT_FALSE(interpreted.runs.empty());
    EXPECT_EQ(jitted.runs, interpreted.runs);
    EXPECT_EQ(jitted.trace, interpreted.trace);
    EXPECT_EQ(jitted.maps, interpreted.maps);
  }
}

TEST(EnginesAgree, ObjectsRunJitCompiledByDefault) {
  if (!jit::jit_available()) GTEST_SKIP() << "no JIT on this host";
  auto object = Object::open(std::string(BPFVM_EXAMPLES_DIR) + "/tail-calls.bpf.o");
  ASSERT_TRUE(object.ok()) << object.error().to_string();
  ASSERT_TRUE(object->load().ok());
  auto program = object->program("stage_one");
  ASSERT_TRUE(program.has_value());
  EXPECT_EQ(program->engine(), Engine::kJit);
  // The chain of tail calls runs in JIT code from stage one to stage three.
  Lines trace;
  auto packets = read_pcap(std::string(BPFVM_SOURCE_DIR) + "/examples/packets.pcap");
  ASSERT_TRUE(packets.ok());
  auto r = program->test_run(TestRunRequest{0, packets->front(), {}, 1}, &trace);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(trace.lines, (std::vector<std::string>{"stage one", "stage two", "stage three"}));
}

}  // namespace
}  // namespace bpfvm
