// The benchmark programs as a differential test: each C source, compiled natively and for BPF,
// gives the same result natively, in bpfvm and in the kernel (loaded with libbpf as the
// oracle, run with BPF_PROG_TEST_RUN). The kernel part skips itself where bpf() is unavailable.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstring>
#include <string>
#include <vector>

#include "bpf_syscall.hpp"
#include "hooks/test_run.hpp"
#include "object/object.hpp"
#include "runtime/loader.hpp"

extern "C" {
#define BPFVM_DECLARE(name) uint64_t bench_native_##name(const uint8_t* data, const uint8_t* end);
BPFVM_DECLARE(fnv1a)
BPFVM_DECLARE(crc32)
BPFVM_DECLARE(ilog2)
BPFVM_DECLARE(sieve)
BPFVM_DECLARE(halves)
BPFVM_DECLARE(strmatch)
BPFVM_DECLARE(bigswitch)
BPFVM_DECLARE(bubble)
BPFVM_DECLARE(counters)
BPFVM_DECLARE(parse)
#undef BPFVM_DECLARE
}

namespace bpfvm {
namespace {

using NativeFn = uint64_t (*)(const uint8_t*, const uint8_t*);

struct Bench {
  const char* name;
  NativeFn native;
};

const Bench kBenches[] = {
    {"fnv1a", bench_native_fnv1a},       {"crc32", bench_native_crc32},
    {"ilog2", bench_native_ilog2},       {"sieve", bench_native_sieve},
    {"halves", bench_native_halves},     {"strmatch", bench_native_strmatch},
    {"bigswitch", bench_native_bigswitch}, {"bubble", bench_native_bubble},
    {"counters", bench_native_counters}, {"parse", bench_native_parse},
};

// A 1500-byte UDP packet: headers, TLV records, "HTTP" a few times, then pseudo-random bytes.
std::vector<uint8_t> packet(uint32_t seed) {
  std::vector<uint8_t> p(1500);
  uint32_t x = seed;
  for (auto& b : p) {
    x = x * 1103515245u + 12345u;
    b = static_cast<uint8_t>(x >> 16);
  }
  const uint8_t headers[] = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00,          // Ethernet
                             0x45, 0, 0x05, 0xce, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,  // IPv4
                             0x30, 0x39, 0x00, 0x35, 0x05, 0xba, 0, 0};                      // UDP
  std::memcpy(p.data(), headers, sizeof(headers));
  for (std::size_t at : {100u, 333u, 1200u}) std::memcpy(p.data() + at, "HTTP", 4);
  for (std::size_t at = 42; at < 42 + 5 * 6; at += 6) {  // five TLVs of 4 bytes
    p[at] = static_cast<uint8_t>(at);
    p[at + 1] = 4;
  }
  return p;
}

std::string object_path(const Bench& b) { return std::string(BPFVM_BENCH_PROGS_DIR) + "/" + b.name + ".bpf.o"; }

uint32_t run_bpfvm(const Bench& b, const std::vector<uint8_t>& data) {
  auto spec = object::open_object(object_path(b));
  EXPECT_TRUE(spec.ok()) << spec.error().to_string();
  auto loaded = LoadedObject::load(*spec);
  EXPECT_TRUE(loaded.ok()) << loaded.error().to_string();
  if (!loaded) return 0xdeadbeef;
  auto r = test_run(loaded->programs().front()->runner(), TestRunRequest{BPF_PROG_TYPE_XDP, data, {}, 1});
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  return r.ok() ? r->retval : 0xdeadbeef;
}

TEST(BenchPrograms, BpfvmComputesWhatNativeCodeComputes) {
  for (const Bench& b : kBenches) {
    SCOPED_TRACE(b.name);
    for (uint32_t seed : {1u, 2u, 3u}) {
      const auto data = packet(seed);
      const auto native = static_cast<uint32_t>(b.native(data.data(), data.data() + data.size()));
      EXPECT_EQ(run_bpfvm(b, data), native);
    }
  }
}

TEST(BenchPrograms, TheKernelComputesTheSame) {
  if (auto reason = kernel::unavailable_reason()) GTEST_SKIP() << "bpf() unavailable: " << *reason;
  for (const Bench& b : kBenches) {
    SCOPED_TRACE(b.name);
    bpf_object* obj = bpf_object__open_file(object_path(b).c_str(), nullptr);
    ASSERT_NE(obj, nullptr);
    ASSERT_EQ(bpf_object__load(obj), 0) << "the kernel's verifier rejected " << b.name;
    bpf_program* prog = bpf_object__next_program(obj, nullptr);
    ASSERT_NE(prog, nullptr);
    const auto data = packet(7);
    std::vector<uint8_t> out(data.size() + 256);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data.data(), .data_out = out.data(),
                .data_size_in = static_cast<uint32_t>(data.size()), .data_size_out = static_cast<uint32_t>(out.size()),
                .repeat = 1);
    ASSERT_EQ(bpf_prog_test_run_opts(bpf_program__fd(prog), &opts), 0);
    EXPECT_EQ(opts.retval, run_bpfvm(b, data));
    bpf_object__close(obj);
  }
}

}  // namespace
}  // namespace bpfvm
