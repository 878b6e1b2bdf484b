// A CO-RE field access: recorded as a core relocation, left for src/btf to apply.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct task_info {
  int pid;
  int tgid;
} __attribute__((preserve_access_index));

SEC("kprobe/wake_up_new_task")
int read_tgid(struct task_info *task) {
  return task->tgid;
}

char LICENSE[] SEC("license") = "GPL";

// A value with a spin lock: its offset comes from BTF.
struct locked_value {
  __u64 packets;
  __u32 flags;
  struct bpf_spin_lock lock;
  __u64 bytes;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16);
  __type(key, __u32);
  __type(value, struct locked_value);
} locked SEC(".maps");
