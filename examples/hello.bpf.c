// The hello world of every eBPF tutorial: an XDP program that says hello and counts the
// packets it sees in a global variable, then lets them pass.
//   bpfvm run hello.bpf.o --pcap packets.pcap --dump-maps
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int counter = 0;

SEC("xdp")
int hello(struct xdp_md *ctx) {
  bpf_printk("Hello World %d", counter);
  counter++;
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
