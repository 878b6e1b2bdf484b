// A hash map whose key has no size: refused with the map's name.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(key_size, 0);
  __uint(value_size, 8);
  __uint(max_entries, 16);
} bad_hash SEC(".maps");

SEC("xdp")
int use_it(struct xdp_md *ctx) {
  return bpf_map_lookup_elem(&bad_hash, ctx) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
