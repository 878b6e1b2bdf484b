// The interpreter and the JIT on every example object (the verifier's examples too: unverified,
// they run with run-time checks): every program, on every packet of examples/packets.pcap
// (packet types), on an empty context (the others) or on application memory (the embedding
// example). Return values, packets as the programs left them, what they sent through perf
// and ring buffers, trace lines, errors and the maps afterwards must be the same.
#include <gtest/gtest.h>

#include <bpfvm/bpfvm.hpp>
#include <fmt/format.h>
#include <linux/bpf.h>

#include <string>
#include <vector>

#include "hooks/pcap_run.hpp"
#include "runtime/events.hpp"
#include "runtime/loader.hpp"
#include "object/object.hpp"
#include "hooks/test_run.hpp"
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
  auto spec = object::open_object(std::string(BPFVM_EXAMPLES_DIR) + "/" + name + ".bpf.o");
  EXPECT_TRUE(spec.ok()) << spec.error().to_string();
  if (!spec) return out;
  auto helpers = std::make_shared<HelperTable>(linux_helpers());
  helpers->add(Helper{1000, "app_log", app_log});  // the embedding example's
  auto loaded = LoadedObject::load(*spec, helpers, LoadOptions{engine});
  if (!loaded) {  // both engines must refuse it alike
    out.runs.push_back("load: " + loaded.error().to_string());
    return out;
  }
  auto events = EventReader::open(*loaded);  // perf buffers and ring buffers, as a consumer
  EXPECT_TRUE(events.ok()) << events.error().to_string();
  if (!events) return out;
  auto packets = read_pcap(std::string(BPFVM_SOURCE_DIR) + "/examples/packets.pcap");
  EXPECT_TRUE(packets.ok() && !packets->empty());
  if (!packets) return out;

  Lines trace;
  std::vector<SentRecord> sent;
  auto record = [&](const std::string& prog, const std::string& result) {
    out.runs.push_back(prog + ": " + result);
    sent.clear();
    events->read(sent);
    for (const SentRecord& r : sent) out.runs.push_back(fmt::format("  sent to {}: {}", r.map, hex(r.data)));
  };
  auto tested = [&](const Result<TestRunResult>& r) {
    return r ? fmt::format("{} {}", r->r0, hex(r->data_out)) : "error " + r.error().to_string();
  };
  for (const auto& program : loaded->programs()) {
    EXPECT_EQ(program->engine(), engine);
    const ProgTypeInfo* type = prog_type_info(program->prog_type());
    const ContextKind context = type ? type->context : ContextKind::kNone;
    const ProgramRunner runner = program->runner(&trace);
    if (context == ContextKind::kXdp || context == ContextKind::kSkb) {
      for (const auto& packet : *packets) {
        record(program->name(), tested(test_run(runner, TestRunRequest{program->prog_type(), packet, {}, 1})));
      }
    } else if (context == ContextKind::kMemory || context == ContextKind::kNone) {
      for (std::string text : {"hello", "queue", "", "aeiou xyz"}) {
        auto r = runner(memory_run_options({reinterpret_cast<uint8_t*>(text.data()), text.size()}));
        record(program->name(), r ? std::to_string(*r) : "error " + r.error().to_string());
      }
    } else {
      for (int k = 0; k < 4; ++k) {
        record(program->name(), tested(test_run(runner, TestRunRequest{program->prog_type(), {}, {}, 1})));
      }
    }
  }
  out.trace = trace.lines;
  for (const NamedMap& m : loaded->maps()) {
    if (m.map->type() == BPF_MAP_TYPE_PROG_ARRAY) continue;  // program ids differ per load
    auto st = m.map->for_each([&](std::span<const uint8_t> key, std::span<const uint8_t> value) {
      out.maps.push_back(fmt::format("{}: {} -> {}", m.name, hex(key), hex(value)));
      return true;
    });
    if (!st) out.maps.push_back(m.name + ": " + st.error().message);  // not iterable (perf event arrays)
  }
  return out;
}

TEST(EnginesAgree, OnEveryExampleProgramPacketAndMap) {
  if (!jit::jit_available()) GTEST_SKIP() << "no JIT on this host";
  for (const char* name : {"hello", "hello-map", "hello-buffer", "hello-func", "tail-calls", "xdp-filter",
                           "embed/scorer", "verifier/hello-verifier", "verifier/no-license", "verifier/wrong-map",
                           "verifier/null-deref", "verifier/past-end"}) {
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

// Verified programs run as the kernel runs them, without run-time checks; programs that skip
// verification keep the checks.
TEST(EnginesAgree, VerifiedProgramsRunUncheckedOthersChecked) {
  if (!jit::jit_available()) GTEST_SKIP() << "no JIT on this host";
  auto spec = object::open_object(std::string(BPFVM_EXAMPLES_DIR) + "/xdp-filter.bpf.o");
  ASSERT_TRUE(spec.ok()) << spec.error().to_string();
  auto verified = LoadedObject::load(*spec);
  ASSERT_TRUE(verified.ok()) << verified.error().to_string();
  ASSERT_NE(verified->programs().front()->jit(), nullptr);
  EXPECT_FALSE(verified->programs().front()->jit()->checked());
  auto unverified = LoadedObject::load(*spec, nullptr, LoadOptions{.engine = Engine::kJit, .verify = false});
  ASSERT_TRUE(unverified.ok()) << unverified.error().to_string();
  EXPECT_TRUE(unverified->programs().front()->jit()->checked());
  // The interpreter too (every program has one, for tail calls from interpreted programs).
  EXPECT_FALSE(verified->programs().front()->tail_call_target().interpreter->checked());
  EXPECT_TRUE(unverified->programs().front()->tail_call_target().interpreter->checked());
  // Both give the same verdicts on the sample packets.
  auto packets = read_pcap(std::string(BPFVM_SOURCE_DIR) + "/examples/packets.pcap");
  ASSERT_TRUE(packets.ok());
  for (const auto& packet : *packets) {
    auto a = test_run(verified->programs().front()->runner(), TestRunRequest{BPF_PROG_TYPE_XDP, packet, {}, 1});
    auto b = test_run(unverified->programs().front()->runner(), TestRunRequest{BPF_PROG_TYPE_XDP, packet, {}, 1});
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->retval, b->retval);
    EXPECT_EQ(a->data_out, b->data_out);
  }
}

}  // namespace
}  // namespace bpfvm
