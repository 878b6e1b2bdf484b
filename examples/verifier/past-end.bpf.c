// Fails: `<=` lets the index reach sizeof(banner), one byte past the end of the array.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char banner[12] = "Hello World";
__u32 calls = 0;

SEC("xdp")
int past_end(struct xdp_md *ctx) {
  __u32 i = calls++;
  if (i <= sizeof(banner))  /* should be < */
    return banner[i] == 'H' ? XDP_PASS : XDP_DROP;
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
