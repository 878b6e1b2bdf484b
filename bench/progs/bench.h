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
/* A hash map of u32 -> u64 for at most 256 keys: open addressing, linear probing. Like a BPF
 * map it may be shared with other threads (other CPUs, user space), so each operation takes
 * its lock, as the kernel's and bpfvm's hash maps take a bucket's. */
struct bench_hash {
  int lock;
  __u8 used[512];
  __u32 keys[512];
  __u64 values[512];
};
static inline __u64 *bench_hash_slot(struct bench_hash *h, __u32 key, int insert) {
  while (__atomic_exchange_n(&h->lock, 1, __ATOMIC_ACQUIRE)) {
  }
  __u64 *value = 0;
  __u32 i = (key * 2654435761u) & 511;
  while (h->used[i] && h->keys[i] != key) i = (i + 1) & 511;
  if (h->used[i] || insert) {
    h->used[i] = 1;
    h->keys[i] = key;
    value = &h->values[i];
  }
  __atomic_store_n(&h->lock, 0, __ATOMIC_RELEASE);
  return value;
}
#define BENCH_MAP_HASH(name, n) \
  _Static_assert((n) <= 256, "bench_hash holds 256 keys"); \
  static struct bench_hash name
#define HASH_LOOKUP(map, key) bench_hash_slot(&(map), (key), 0)
#define HASH_UPDATE(map, key, value) (*bench_hash_slot(&(map), (key), 1) = (value))
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
#define BENCH_MAP_HASH(name, n)                                            \
  struct {                                                                 \
    __uint(type, BPF_MAP_TYPE_HASH);                                       \
    __uint(max_entries, n);                                                \
    __type(key, __u32);                                                    \
    __type(value, __u64);                                                  \
  } name SEC(".maps")
#define HASH_LOOKUP(map, key)                                              \
  ({                                                                       \
    __u32 key_ = (key);                                                    \
    (__u64 *)bpf_map_lookup_elem(&map, &key_);                             \
  })
#define HASH_UPDATE(map, key, value)                                       \
  do {                                                                     \
    __u32 key_ = (key);                                                    \
    __u64 value_ = (value);                                                \
    bpf_map_update_elem(&map, &key_, &value_, BPF_ANY);                    \
  } while (0)
#endif

#define PACKET_MAX 1500  /* every loop over the packet is bounded by this as well as by end */

#endif
