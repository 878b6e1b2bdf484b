// Fails: the lookup's result is read before it is checked against NULL.
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
int null_deref(struct xdp_md *ctx) {
  __u32 uid = bpf_get_current_uid_gid() & 0xffffffff;
  struct greeting *g = bpf_map_lookup_elem(&greetings, &uid);
  char first = g->text[0];  /* g may be NULL here */
  return first == 'H' ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
