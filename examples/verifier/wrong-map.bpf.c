// Fails: the lookup is given a variable on the stack where the helper wants a map.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct greeting {
  char text[12];
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, __u32);
  __type(value, struct greeting);
} greetings SEC(".maps");

SEC("xdp")
int wrong_map(struct xdp_md *ctx) {
  struct greeting local = {};
  __u32 uid = bpf_get_current_uid_gid() & 0xffffffff;
  struct greeting *g = bpf_map_lookup_elem(&local, &uid);  /* should be &greetings */
  if (g)
    return g->text[0] == 'H' ? XDP_PASS : XDP_DROP;
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
