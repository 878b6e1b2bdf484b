// The pre-BTF way to declare maps, dropped by libbpf 1.0.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct legacy_map_def {
  unsigned int type;
  unsigned int key_size;
  unsigned int value_size;
  unsigned int max_entries;
  unsigned int map_flags;
};

struct legacy_map_def counts SEC("maps") = {
  .type = BPF_MAP_TYPE_ARRAY,
  .key_size = 4,
  .value_size = 8,
  .max_entries = 1,
};

SEC("xdp")
int use_it(struct xdp_md *ctx) {
  __u32 k = 0;
  return bpf_map_lookup_elem(&counts, &k) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
