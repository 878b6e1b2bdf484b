// A program that tail-calls itself: the chain stops after MAX_TAIL_CALL_CNT (33) tail calls,
// so one run counts 34 entries, then the last bpf_tail_call fails and the program returns.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int again(struct xdp_md *ctx);

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 1);
  __uint(key_size, sizeof(__u32));
  __array(values, int(struct xdp_md *));
} self SEC(".maps") = {
    .values = {[0] = (void *)&again},
};

__u64 entries = 0;

SEC("xdp")
int again(struct xdp_md *ctx) {
  entries++;
  bpf_tail_call(ctx, &self, 0);
  return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
