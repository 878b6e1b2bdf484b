// "Learning eBPF"'s hello-buffer: on each event, fill a record with who triggered it (process
// id, user id, command name) and a message, and send it to user space through a perf event
// array; user space (here `bpfvm run`) reads the records and prints them. The book attaches it
// to execve; here it is an XDP program, so every packet of a pcap is an event:
//   bpfvm run hello-buffer.bpf.o --pcap packets.pcap
// (a test run's "current process" is the one running it: bpfvm itself, as in the kernel's
// BPF_PROG_TEST_RUN it is the caller).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct data_t {
  int pid;
  int uid;
  char command[16];
  char message[12];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(__u32));
} output SEC(".maps");

const char message[12] = "Hello World";

SEC("xdp")
int hello_buffer(struct xdp_md *ctx) {
  struct data_t data = {};
  data.pid = bpf_get_current_pid_tgid() >> 32;
  data.uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;
  bpf_get_current_comm(&data.command, sizeof(data.command));
  bpf_probe_read_kernel(&data.message, sizeof(data.message), message);
  bpf_perf_event_output(ctx, &output, BPF_F_CURRENT_CPU, &data, sizeof(data));
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
