// The benchmark programs as C++ sees them: each one's native build (clang -O2, BPFVM_NATIVE)
// and the packet they all run on. Shared by the timing harness (bench/compare_runner.cpp) and
// the differential test (tests/kernel/bench_programs_test.cpp).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

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
BPFVM_DECLARE(hashmap)
BPFVM_DECLARE(parse)
BPFVM_DECLARE(empty)
#undef BPFVM_DECLARE
}

namespace bpfvm::bench {

using NativeFn = uint64_t (*)(const uint8_t*, const uint8_t*);

struct BenchProgram {
  const char* name;  // also the object's name: <name>.bpf.o
  NativeFn native;
};

// The eleven compute-bound programs (`empty`, the per-run overhead, is kEmpty).
inline constexpr BenchProgram kPrograms[] = {
    {"fnv1a", bench_native_fnv1a},         {"crc32", bench_native_crc32},
    {"ilog2", bench_native_ilog2},         {"sieve", bench_native_sieve},
    {"halves", bench_native_halves},       {"strmatch", bench_native_strmatch},
    {"bigswitch", bench_native_bigswitch}, {"bubble", bench_native_bubble},
    {"counters", bench_native_counters},   {"hashmap", bench_native_hashmap},
    {"parse", bench_native_parse},
};
inline constexpr BenchProgram kEmpty = {"empty", bench_native_empty};

// A 1500-byte UDP packet: headers, TLV records, "HTTP" a few times, then pseudo-random bytes.
inline std::vector<uint8_t> packet(uint32_t seed) {
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

// What the kernel returns for an XDP program: the low 32 bits.
inline uint32_t native_result(const BenchProgram& b, std::span<const uint8_t> data) {
  return static_cast<uint32_t>(b.native(data.data(), data.data() + data.size()));
}

}  // namespace bpfvm::bench
