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
