// Fails: bpf_printk() (bpf_trace_printk) is GPL-only, and this object declares no license.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u32 calls = 0;

SEC("xdp")
int no_license(struct xdp_md *ctx) {
  calls++;
  bpf_printk("packet %u", calls);
  return XDP_PASS;
}
