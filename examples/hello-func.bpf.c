// A bpf-to-bpf call: the verifier and the runtime see two functions.
//   bpfvm run hello-func.bpf.o --pcap packets.pcap --pcap-out passed.pcap
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline)) int ethertype(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  unsigned char *p = data;
  if (data + 14 > data_end)
    return -1;
  return (p[12] << 8) | p[13];
}

SEC("xdp")
int hello_func(struct xdp_md *ctx) {
  int type = ethertype(ctx);
  bpf_printk("ethertype 0x%x", type);
  return type == 0x86dd ? XDP_DROP : XDP_PASS;  // drop IPv6
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
