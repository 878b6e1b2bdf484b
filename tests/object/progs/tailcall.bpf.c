// A tail-call chain through a statically initialised PROG_ARRAY, and map-in-maps.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int stage_two(struct xdp_md *ctx);
int stage_three(struct xdp_md *ctx);

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 4);
  __uint(key_size, sizeof(__u32));
  __array(values, int (void *));
} jump_table SEC(".maps") = {
  .values = {
    [1] = (void *)&stage_two,
    [3] = (void *)&stage_three,
  },
};

struct inner_map {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 8);
  __type(key, __u32);
  __type(value, __u64);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, 2);
  __type(key, __u32);
  __array(values, struct inner_map);
} outer SEC(".maps") = {
  .values = { [0] = &inner_a, [1] = &inner_b },
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
  __uint(max_entries, 16);
  __type(key, __u64);
  __array(values, struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 32);
    __type(key, __u32);
    __type(value, __u32);
  });
} outer_hash SEC(".maps");

SEC("xdp")
int stage_one(struct xdp_md *ctx) {
  __u32 key = 0;
  void *inner = bpf_map_lookup_elem(&outer, &key);
  if (inner) {
    __u64 *v = bpf_map_lookup_elem(inner, &key);
    if (v) (*v)++;
  }
  bpf_tail_call(ctx, &jump_table, 1);
  return XDP_PASS;
}

SEC("xdp")
int stage_two(struct xdp_md *ctx) {
  bpf_tail_call(ctx, &jump_table, 3);
  return XDP_DROP;
}

SEC("xdp")
int stage_three(struct xdp_md *ctx) {
  return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
