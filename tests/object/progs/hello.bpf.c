// The tutorials' hello world: a global counter in .bss and bpf_printk (format in .rodata).
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
