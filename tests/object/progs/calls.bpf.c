// bpf-to-bpf calls: global and static subprograms in .text, a callback passed by address,
// several programs in one section and the usual section kinds.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

__u64 total;

static __attribute__((noinline)) int twice(int x) {
  return x * 2 + (int)total;
}

__attribute__((noinline)) int add_one(int x) {
  total += x;
  return twice(x) + 1;
}

__attribute__((noinline)) int leaf(int x) {
  return x - 3;
}

static long loop_body(__u32 index, void *ctx) {
  total += index;
  return 0;
}

SEC("tc")
int tc_first(struct __sk_buff *skb) {
  return add_one(skb->len) > 10 ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("tc")
int tc_second(struct __sk_buff *skb) {
  return twice(skb->len) + leaf(skb->len);
}

SEC("socket")
int sock_prog(struct __sk_buff *skb) {
  bpf_loop(4, loop_body, 0, 0);
  return leaf(skb->len);
}

SEC("kprobe/tcp_v4_connect")
int kprobe_prog(void *ctx) { return add_one(1); }

SEC("kretprobe/tcp_v4_connect")
int kretprobe_prog(void *ctx) { return 0; }

SEC("tracepoint/sched/sched_switch")
int tp_prog(void *ctx) { return 0; }

SEC("raw_tp/sys_enter")
int raw_tp_prog(void *ctx) { return 0; }

SEC("fentry/do_unlinkat")
int fentry_prog(void *ctx) { return 0; }

SEC("cgroup_skb/egress")
int cgroup_egress(struct __sk_buff *skb) { return 1; }

SEC("xdp.frags")
int xdp_frags_prog(struct xdp_md *ctx) { return XDP_PASS; }

SEC("perf_event")
int perf_prog(void *ctx) { return 0; }

SEC("sk_msg")
int sk_msg_prog(void *ctx) { return SK_PASS; }

SEC("lsm/file_open")
int lsm_prog(void *ctx) { return 0; }

SEC("unknown_section_name")
int mystery(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
