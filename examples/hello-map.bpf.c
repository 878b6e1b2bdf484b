// Counts events per user id in a hash map, as the tutorials' execve counter does.
//   bpfvm run hello-map.bpf.o --ctx-in <(head -c 168 /dev/zero) --repeat 3 --dump-maps
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, __u64);
} counter_table SEC(".maps");

SEC("kprobe/__x64_sys_execve")
int hello_map(void *ctx) {
  __u32 uid = bpf_get_current_uid_gid() & 0xffffffff;
  __u64 one = 1;
  __u64 *count = bpf_map_lookup_elem(&counter_table, &uid);
  if (count)
    __sync_fetch_and_add(count, 1);
  else
    bpf_map_update_elem(&counter_table, &uid, &one, BPF_ANY);
  return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
