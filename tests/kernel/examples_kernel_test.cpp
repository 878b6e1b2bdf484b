// The examples against the kernel: the same clang-built object, loaded by libbpf into the
// kernel (the oracle) and by bpfvm, run on the same packets, must return the same values,
// leave the same packets and the same map contents. Skipped where bpf() is unavailable.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <string>
#include <vector>

#include "bpf_syscall.hpp"
#include "hooks/pcap_run.hpp"
#include "hooks/test_run.hpp"
#include "object/object.hpp"
#include "runtime/loader.hpp"

namespace bpfvm {
namespace {

std::string example(const std::string& name) { return std::string(BPFVM_EXAMPLES_DIR) + "/" + name + ".bpf.o"; }

std::vector<std::vector<uint8_t>> packets() {
  auto p = read_pcap(std::string(BPFVM_SOURCE_DIR) + "/examples/packets.pcap");
  EXPECT_TRUE(p.ok()) << p.error().to_string();
  return p.ok() ? *p : std::vector<std::vector<uint8_t>>{};
}

// Every element of a kernel map, in get_next_key order, as (key, value) bytes.
std::vector<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>> kernel_map(bpf_map* map) {
  std::vector<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>> out;
  std::vector<uint8_t> key(bpf_map__key_size(map)), next(key.size()), value(bpf_map__value_size(map));
  const void* prev = nullptr;
  while (bpf_map__get_next_key(map, prev, next.data(), next.size()) == 0) {
    if (bpf_map__lookup_elem(map, next.data(), next.size(), value.data(), value.size(), 0) == 0) out.emplace_back(next, value);
    key = next;
    prev = key.data();
  }
  return out;
}

void compare_example(const std::string& name, const std::string& prog_name) {
  SCOPED_TRACE(name);
  bpf_object* obj = bpf_object__open_file(example(name).c_str(), nullptr);
  ASSERT_NE(obj, nullptr);
  ASSERT_EQ(bpf_object__load(obj), 0) << "the kernel rejected " << name;
  bpf_program* kprog = bpf_object__find_program_by_name(obj, prog_name.c_str());
  ASSERT_NE(kprog, nullptr);

  auto spec = object::open_object(example(name));
  ASSERT_TRUE(spec.ok()) << spec.error().to_string();
  auto loaded = LoadedObject::load(*spec);
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  const LoadedProgram* ours = loaded->program(prog_name);
  ASSERT_NE(ours, nullptr);

  for (const auto& packet : packets()) {
    std::vector<uint8_t> out(packet.size() + 256);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(), .data_out = out.data(),
                .data_size_in = static_cast<uint32_t>(packet.size()), .data_size_out = static_cast<uint32_t>(out.size()),
                .repeat = 1);
    ASSERT_EQ(bpf_prog_test_run_opts(bpf_program__fd(kprog), &opts), 0);
    out.resize(opts.data_size_out);
    auto r = test_run(ours->runner(), TestRunRequest{ours->prog_type(), packet, {}, 1});
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->retval, opts.retval);
    EXPECT_EQ(r->data_out, out);
  }
  // Maps the programs wrote (global data, counters): the same contents.
  bpf_map* kmap;
  bpf_object__for_each_map(kmap, obj) {
    if (bpf_map__type(kmap) == BPF_MAP_TYPE_PROG_ARRAY) continue;  // holds fds vs ids
    if (bpf_map__type(kmap) == BPF_MAP_TYPE_PERF_EVENT_ARRAY) continue;  // no elements to read
    maps::Map* m = loaded->map(bpf_map__name(kmap));
    ASSERT_NE(m, nullptr) << bpf_map__name(kmap);
    std::vector<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>> ours_entries;
    ASSERT_TRUE(m->for_each([&](std::span<const uint8_t> k, std::span<const uint8_t> v) {
                   ours_entries.emplace_back(std::vector<uint8_t>(k.begin(), k.end()), std::vector<uint8_t>(v.begin(), v.end()));
                   return true;
                 }).ok());
    EXPECT_EQ(ours_entries, kernel_map(kmap)) << "map " << bpf_map__name(kmap);
  }
  bpf_object__close(obj);
}

TEST(ExamplesVsKernel, SameVerdictsPacketsAndMaps) {
  if (auto reason = kernel::unavailable_reason()) GTEST_SKIP() << "bpf() unavailable: " << *reason;
  compare_example("hello", "hello");
  compare_example("hello-buffer", "hello_buffer");  // its perf_event_output fails in both: no reader
  compare_example("hello-func", "hello_func");
  compare_example("tail-calls", "stage_one");
  compare_example("xdp-filter", "xdp_filter");
}

}  // namespace
}  // namespace bpfvm
