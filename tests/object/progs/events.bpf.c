// send: `count` samples (the numbers 0..count-1) through a perf event array and one record
// through a ring buffer per run, keeping the helpers' last results for the tests to read.
// flood: 1000 samples of 64 bytes in one run, more than a default perf buffer (32 KiB) holds.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(__u32));
} samples SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4096);
} records SEC(".maps");

const volatile __u32 count = 3;
long perf_result = 1;
long ringbuf_result = 1;

SEC("xdp")
int send(struct xdp_md *ctx) {
  for (__u32 i = 0; i < count && i < 1000; i++) {
    __u32 sample = i;  // the counter stays in a register: the kernel's verifier sees it grow
    perf_result = bpf_perf_event_output(ctx, &samples, BPF_F_CURRENT_CPU, &sample, sizeof(sample));
  }
  __u64 done = 0xd0e;
  ringbuf_result = bpf_ringbuf_output(&records, &done, sizeof(done), 0);
  return XDP_PASS;
}

SEC("xdp")
int flood(struct xdp_md *ctx) {
  __u64 sample[8] = {};
  for (__u32 i = 0; i < 1000; i++) {
    sample[0] = i;
    perf_result = bpf_perf_event_output(ctx, &samples, BPF_F_CURRENT_CPU, sample, sizeof(sample));
  }
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
