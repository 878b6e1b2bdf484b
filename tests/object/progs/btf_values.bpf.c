// Map keys and values of many BTF shapes, for `--dump-maps`' formatting (compared with
// `bpftool map dump` of the same maps in the kernel).
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

enum color { RED, GREEN = 5, BLUE = -1 };
typedef unsigned long long counter_t;

struct flags {
  unsigned int low : 3;
  unsigned int mid : 5;
  int negative : 7;
  unsigned int wide : 17;
};

union number {
  __u32 word;
  __s16 halves[2];
};

struct value {
  char name[8];
  __s8 small;
  __s16 medium;
  __s32 plain;
  __s64 big;
  counter_t counter;
  enum color color;
  struct flags flags;
  union number number;
  __u16 ports[3];
  unsigned char bytes[4];
  char unterminated[2];
  const volatile __u32 qualified;
  unsigned __int128 wide;
  void *pointer;
  bool ok;
};

struct key {
  __u32 address;
  __u16 port;
  __u8 protocol;
  __u8 pad;
};

struct pair {
  __u32 a;
  __s32 b;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, struct value);
} values SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4);
  __type(key, struct key);
  __type(value, counter_t);
} by_key SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, struct pair);
} per_cpu SEC(".maps");

int total = 7;
char greeting[6] = "hi";
__u64 hits;
const volatile enum color favourite = GREEN;

SEC("xdp")
int touch(struct xdp_md *ctx) {
  __u32 zero = 0;
  struct value *v = bpf_map_lookup_elem(&values, &zero);
  if (v)
    v->counter++;
  hits += total + greeting[0] + favourite;
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
