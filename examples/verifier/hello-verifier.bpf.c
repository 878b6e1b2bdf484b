// The program the four failing examples next to it break, each in one place (the mistakes
// of "Learning eBPF" chapter 6). This one verifies:
//   bpfvm verify hello-verifier.bpf.o
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

char banner[12] = "Hello World";
__u32 calls = 0;

SEC("xdp")
int hello_verifier(struct xdp_md *ctx) {
  __u32 uid = bpf_get_current_uid_gid() & 0xffffffff;
  struct greeting *g = bpf_map_lookup_elem(&greetings, &uid);
  if (g)
    bpf_printk("greeting starts with %c", g->text[0]);
  __u32 i = calls++;
  if (i < sizeof(banner))
    bpf_printk("banner[%u] = %c", i, banner[i]);
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
