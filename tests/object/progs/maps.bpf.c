// BTF-defined maps of several kinds and every global data section.
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

struct data_t {
  __u32 pid;
  __u32 uid;
  char command[16];
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 10240);
} counter_table SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(__u32));
} output SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(key_size, 8);
  __type(value, struct data_t);
  __uint(max_entries, 64);
  __uint(map_flags, BPF_F_NO_COMMON_LRU);
  __uint(pinning, 1);
} pinned_lru SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4096);
} events SEC(".maps");

const volatile __u32 target_uid = 1000;      // .rodata, set before load
const volatile __u64 sample_rate = 7;
__u64 seen = 3;                               // .data
__u32 dropped;                                // .bss
static __u32 hidden_total;                    // .bss, static
__u64 by_cpu[4] SEC(".data.percpu_stats") = {1, 2, 3, 4};
const char banner[] SEC(".rodata.banner") = "bpfvm";

SEC("kprobe/do_sys_openat2")
int count_uid(void *ctx) {
  __u32 uid = (__u32)bpf_get_current_uid_gid();
  if (uid != target_uid) {
    dropped++;
    hidden_total += 2;
    return 0;
  }
  __u64 one = 1;
  __u64 *p = bpf_map_lookup_elem(&counter_table, &uid);
  if (p)
    *p += sample_rate;
  else
    bpf_map_update_elem(&counter_table, &uid, &one, BPF_ANY);
  seen++;
  by_cpu[bpf_get_smp_processor_id() & 3]++;
  return hidden_total;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int send_event(void *ctx) {
  struct data_t data = {};
  data.pid = bpf_get_current_pid_tgid() >> 32;
  data.uid = (__u32)bpf_get_current_uid_gid();
  bpf_get_current_comm(&data.command, sizeof(data.command));
  __builtin_memcpy(data.command, banner, 4);
  bpf_perf_event_output(ctx, &output, BPF_F_CURRENT_CPU, &data, sizeof(data));
  bpf_trace_printk("execve %d\n", sizeof("execve %d\n"), data.pid);
  bpf_map_update_elem(&pinned_lru, &data, &data, BPF_ANY);
  void *r = bpf_ringbuf_reserve(&events, 8, 0);
  if (r)
    bpf_ringbuf_discard(r, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0x050a00;
