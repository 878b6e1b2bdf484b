// A tail-call chain through a PROG_ARRAY initialised in the object, as libbpf does.
//   bpfvm run tail-calls.bpf.o --prog stage_one --pcap packets.pcap
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int stage_two(struct xdp_md *ctx);
int stage_three(struct xdp_md *ctx);

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 4);
  __uint(key_size, sizeof(__u32));
  __array(values, int(struct xdp_md *));
} stages SEC(".maps") = {
    .values = {[1] = (void *)&stage_two, [2] = (void *)&stage_three},
};

SEC("xdp")
int stage_one(struct xdp_md *ctx) {
  bpf_printk("stage one");
  bpf_tail_call(ctx, &stages, 1);
  return XDP_ABORTED;  // reached only if the tail call fails
}

SEC("xdp")
int stage_two(struct xdp_md *ctx) {
  bpf_printk("stage two");
  bpf_tail_call(ctx, &stages, 2);
  return XDP_ABORTED;
}

SEC("xdp")
int stage_three(struct xdp_md *ctx) {
  bpf_printk("stage three");
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
