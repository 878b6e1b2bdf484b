/* Shared by the benchmark programs: each is one C body compiled twice, as a BPF program
 * (clang -target bpf: an XDP program over the packet) and natively (BPFVM_NATIVE: a function
 * over the same bytes), so bpfvm, the kernel JIT and native code run the same source. */
#ifndef BPFVM_BENCH_H
#define BPFVM_BENCH_H

#ifdef BPFVM_NATIVE
#include <stdint.h>
typedef uint8_t __u8;
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint64_t __u64;
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define BENCH(name)                                                        \
  static __u64 name##_body(const __u8 *data, const __u8 *end);             \
  __u64 bench_native_##name(const __u8 *data, const __u8 *end) {           \
    return name##_body(data, end);                                         \
  }                                                                        \
  static __u64 name##_body(const __u8 *data, const __u8 *end)
#define BENCH_MAP_COUNTERS(name, n) static __u64 name[n]
#define COUNTER_ADD(map, index) ((map)[(index)]++)
#else
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#define BENCH(name)                                                        \
  static __always_inline __u64 name##_body(const __u8 *data, const __u8 *end); \
  SEC("xdp") int name(struct xdp_md *ctx) {                                \
    return (int)name##_body((const __u8 *)(long)ctx->data, (const __u8 *)(long)ctx->data_end); \
  }                                                                        \
  char LICENSE[] SEC("license") = "GPL";                                   \
  static __always_inline __u64 name##_body(const __u8 *data, const __u8 *end)
#define BENCH_MAP_COUNTERS(name, n)                                        \
  struct {                                                                 \
    __uint(type, BPF_MAP_TYPE_ARRAY);                                      \
    __uint(max_entries, n);                                                \
    __type(key, __u32);                                                    \
    __type(value, __u64);                                                  \
  } name SEC(".maps")
#define COUNTER_ADD(map, index)                                            \
  do {                                                                     \
    __u32 key_ = (index);                                                  \
    __u64 *value_ = bpf_map_lookup_elem(&map, &key_);                      \
    if (value_) (*value_)++;                                               \
  } while (0)
#endif

#define PACKET_MAX 1500  /* every loop over the packet is bounded by this as well as by end */

#endif
