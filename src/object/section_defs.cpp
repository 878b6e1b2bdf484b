// libbpf's SEC() conventions: which program type and expected attach type a section name
// means. The rows and their order are libbpf's (first match wins); the numbers are the uapi's.
#include <linux/bpf.h>

#include <array>

#include "object/object.hpp"

namespace bpfvm::object {
namespace {

// Newer than Debian 12's <linux/bpf.h> (6.1); values from the current uapi header.
constexpr uint32_t kProgTypeNetfilter = 32;
constexpr uint32_t kAttachStructOps = 44;
constexpr uint32_t kAttachNetfilter = 45;
constexpr uint32_t kAttachTcxIngress = 46;
constexpr uint32_t kAttachTcxEgress = 47;
constexpr uint32_t kAttachTraceUprobeMulti = 48;
constexpr uint32_t kAttachCgroupUnixConnect = 49;
constexpr uint32_t kAttachCgroupUnixSendmsg = 50;
constexpr uint32_t kAttachCgroupUnixRecvmsg = 51;
constexpr uint32_t kAttachCgroupUnixGetpeername = 52;
constexpr uint32_t kAttachCgroupUnixGetsockname = 53;
constexpr uint32_t kAttachNetkitPrimary = 54;
constexpr uint32_t kAttachNetkitPeer = 55;
constexpr uint32_t kAttachTraceKprobeSession = 56;
constexpr uint32_t kAttachTraceUprobeSession = 57;
static_assert(BPF_LSM_CGROUP == 43, "uapi attach types are fixed numbers");
static_assert(BPF_PROG_TYPE_SYSCALL == 31, "uapi program types are fixed numbers");
static_assert(kAttachStructOps == BPF_LSM_CGROUP + 1);

struct Flags {
  bool sleepable = false;
  bool frags = false;
  bool btf = false;
};
constexpr Flags kNone{};
constexpr Flags kSleepable{.sleepable = true};
constexpr Flags kFrags{.frags = true};
constexpr Flags kBtf{.btf = true};
constexpr Flags kBtfSleepable{.sleepable = true, .btf = true};

constexpr SectionDef def(std::string_view prefix, bpf_prog_type type, uint32_t attach, Flags f = kNone) {
  return SectionDef{prefix, static_cast<uint32_t>(type), attach, f.sleepable, f.frags, f.btf};
}
constexpr SectionDef def(std::string_view prefix, uint32_t type, uint32_t attach, Flags f = kNone) {
  return SectionDef{prefix, type, attach, f.sleepable, f.frags, f.btf};
}

constexpr auto kDefs = std::to_array<SectionDef>({
    def("socket", BPF_PROG_TYPE_SOCKET_FILTER, 0),
    def("sk_reuseport/migrate", BPF_PROG_TYPE_SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT_OR_MIGRATE),
    def("sk_reuseport", BPF_PROG_TYPE_SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT),
    def("kprobe+", BPF_PROG_TYPE_KPROBE, 0),
    def("uprobe+", BPF_PROG_TYPE_KPROBE, 0),
    def("uprobe.s+", BPF_PROG_TYPE_KPROBE, 0, kSleepable),
    def("kretprobe+", BPF_PROG_TYPE_KPROBE, 0),
    def("uretprobe+", BPF_PROG_TYPE_KPROBE, 0),
    def("uretprobe.s+", BPF_PROG_TYPE_KPROBE, 0, kSleepable),
    def("kprobe.multi+", BPF_PROG_TYPE_KPROBE, BPF_TRACE_KPROBE_MULTI),
    def("kretprobe.multi+", BPF_PROG_TYPE_KPROBE, BPF_TRACE_KPROBE_MULTI),
    def("kprobe.session+", BPF_PROG_TYPE_KPROBE, kAttachTraceKprobeSession),
    def("uprobe.multi+", BPF_PROG_TYPE_KPROBE, kAttachTraceUprobeMulti),
    def("uretprobe.multi+", BPF_PROG_TYPE_KPROBE, kAttachTraceUprobeMulti),
    def("uprobe.multi.s+", BPF_PROG_TYPE_KPROBE, kAttachTraceUprobeMulti, kSleepable),
    def("uretprobe.multi.s+", BPF_PROG_TYPE_KPROBE, kAttachTraceUprobeMulti, kSleepable),
    def("uprobe.session+", BPF_PROG_TYPE_KPROBE, kAttachTraceUprobeSession),
    def("uprobe.session.s+", BPF_PROG_TYPE_KPROBE, kAttachTraceUprobeSession, kSleepable),
    def("ksyscall+", BPF_PROG_TYPE_KPROBE, 0),
    def("kretsyscall+", BPF_PROG_TYPE_KPROBE, 0),
    def("usdt+", BPF_PROG_TYPE_KPROBE, 0),
    def("usdt.s+", BPF_PROG_TYPE_KPROBE, 0, kSleepable),
    def("tc/ingress", BPF_PROG_TYPE_SCHED_CLS, kAttachTcxIngress),  // alias of tcx/ingress
    def("tc/egress", BPF_PROG_TYPE_SCHED_CLS, kAttachTcxEgress),
    def("tcx/ingress", BPF_PROG_TYPE_SCHED_CLS, kAttachTcxIngress),
    def("tcx/egress", BPF_PROG_TYPE_SCHED_CLS, kAttachTcxEgress),
    def("tc", BPF_PROG_TYPE_SCHED_CLS, 0),
    def("classifier", BPF_PROG_TYPE_SCHED_CLS, 0),
    def("action", BPF_PROG_TYPE_SCHED_ACT, 0),
    def("netkit/primary", BPF_PROG_TYPE_SCHED_CLS, kAttachNetkitPrimary),
    def("netkit/peer", BPF_PROG_TYPE_SCHED_CLS, kAttachNetkitPeer),
    def("tracepoint+", BPF_PROG_TYPE_TRACEPOINT, 0),
    def("tp+", BPF_PROG_TYPE_TRACEPOINT, 0),
    def("raw_tracepoint+", BPF_PROG_TYPE_RAW_TRACEPOINT, 0),
    def("raw_tp+", BPF_PROG_TYPE_RAW_TRACEPOINT, 0),
    def("raw_tracepoint.w+", BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE, 0),
    def("raw_tp.w+", BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE, 0),
    def("tp_btf+", BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, kBtf),
    def("fentry+", BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, kBtf),
    def("fmod_ret+", BPF_PROG_TYPE_TRACING, BPF_MODIFY_RETURN, kBtf),
    def("fexit+", BPF_PROG_TYPE_TRACING, BPF_TRACE_FEXIT, kBtf),
    def("fentry.s+", BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, kBtfSleepable),
    def("fmod_ret.s+", BPF_PROG_TYPE_TRACING, BPF_MODIFY_RETURN, kBtfSleepable),
    def("fexit.s+", BPF_PROG_TYPE_TRACING, BPF_TRACE_FEXIT, kBtfSleepable),
    def("freplace+", BPF_PROG_TYPE_EXT, 0, kBtf),
    def("lsm+", BPF_PROG_TYPE_LSM, BPF_LSM_MAC, kBtf),
    def("lsm.s+", BPF_PROG_TYPE_LSM, BPF_LSM_MAC, kBtfSleepable),
    def("lsm_cgroup+", BPF_PROG_TYPE_LSM, BPF_LSM_CGROUP, kBtf),
    def("iter+", BPF_PROG_TYPE_TRACING, BPF_TRACE_ITER, kBtf),
    def("iter.s+", BPF_PROG_TYPE_TRACING, BPF_TRACE_ITER, kBtfSleepable),
    def("syscall", BPF_PROG_TYPE_SYSCALL, 0, kSleepable),
    def("xdp.frags/devmap", BPF_PROG_TYPE_XDP, BPF_XDP_DEVMAP, kFrags),
    def("xdp/devmap", BPF_PROG_TYPE_XDP, BPF_XDP_DEVMAP),
    def("xdp.frags/cpumap", BPF_PROG_TYPE_XDP, BPF_XDP_CPUMAP, kFrags),
    def("xdp/cpumap", BPF_PROG_TYPE_XDP, BPF_XDP_CPUMAP),
    def("xdp.frags", BPF_PROG_TYPE_XDP, BPF_XDP, kFrags),
    def("xdp", BPF_PROG_TYPE_XDP, BPF_XDP),
    def("perf_event", BPF_PROG_TYPE_PERF_EVENT, 0),
    def("lwt_in", BPF_PROG_TYPE_LWT_IN, 0),
    def("lwt_out", BPF_PROG_TYPE_LWT_OUT, 0),
    def("lwt_xmit", BPF_PROG_TYPE_LWT_XMIT, 0),
    def("lwt_seg6local", BPF_PROG_TYPE_LWT_SEG6LOCAL, 0),
    def("sockops", BPF_PROG_TYPE_SOCK_OPS, BPF_CGROUP_SOCK_OPS),
    def("sk_skb/stream_parser", BPF_PROG_TYPE_SK_SKB, BPF_SK_SKB_STREAM_PARSER),
    def("sk_skb/stream_verdict", BPF_PROG_TYPE_SK_SKB, BPF_SK_SKB_STREAM_VERDICT),
    def("sk_skb", BPF_PROG_TYPE_SK_SKB, 0),
    def("sk_msg", BPF_PROG_TYPE_SK_MSG, BPF_SK_MSG_VERDICT),
    def("lirc_mode2", BPF_PROG_TYPE_LIRC_MODE2, BPF_LIRC_MODE2),
    def("flow_dissector", BPF_PROG_TYPE_FLOW_DISSECTOR, BPF_FLOW_DISSECTOR),
    def("cgroup_skb/ingress", BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_INGRESS),
    def("cgroup_skb/egress", BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS),
    def("cgroup/skb", BPF_PROG_TYPE_CGROUP_SKB, 0),
    def("cgroup/sock_create", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE),
    def("cgroup/sock_release", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_RELEASE),
    def("cgroup/sock", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE),
    def("cgroup/post_bind4", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET4_POST_BIND),
    def("cgroup/post_bind6", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET6_POST_BIND),
    def("cgroup/bind4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_BIND),
    def("cgroup/bind6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_BIND),
    def("cgroup/connect4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT),
    def("cgroup/connect6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_CONNECT),
    def("cgroup/connect_unix", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, kAttachCgroupUnixConnect),
    def("cgroup/sendmsg4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_SENDMSG),
    def("cgroup/sendmsg6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP6_SENDMSG),
    def("cgroup/sendmsg_unix", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, kAttachCgroupUnixSendmsg),
    def("cgroup/recvmsg4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_RECVMSG),
    def("cgroup/recvmsg6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP6_RECVMSG),
    def("cgroup/recvmsg_unix", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, kAttachCgroupUnixRecvmsg),
    def("cgroup/getpeername4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_GETPEERNAME),
    def("cgroup/getpeername6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_GETPEERNAME),
    def("cgroup/getpeername_unix", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, kAttachCgroupUnixGetpeername),
    def("cgroup/getsockname4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_GETSOCKNAME),
    def("cgroup/getsockname6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_GETSOCKNAME),
    def("cgroup/getsockname_unix", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, kAttachCgroupUnixGetsockname),
    def("cgroup/sysctl", BPF_PROG_TYPE_CGROUP_SYSCTL, BPF_CGROUP_SYSCTL),
    def("cgroup/getsockopt", BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_CGROUP_GETSOCKOPT),
    def("cgroup/setsockopt", BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_CGROUP_SETSOCKOPT),
    def("cgroup/dev", BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE),
    def("struct_ops+", BPF_PROG_TYPE_STRUCT_OPS, 0),
    def("struct_ops.s+", BPF_PROG_TYPE_STRUCT_OPS, 0, kSleepable),
    def("sk_lookup", BPF_PROG_TYPE_SK_LOOKUP, BPF_SK_LOOKUP),
    def("netfilter", kProgTypeNetfilter, kAttachNetfilter),
});

bool matches(std::string_view prefix, std::string_view section) {
  if (prefix.ends_with('/')) return section.starts_with(prefix);
  if (prefix.ends_with('+')) {
    prefix.remove_suffix(1);
    if (!section.starts_with(prefix)) return false;
    return section.size() == prefix.size() || section[prefix.size()] == '/';
  }
  return section == prefix;
}

}  // namespace

std::span<const SectionDef> section_defs() { return kDefs; }

const SectionDef* find_section_def(std::string_view section) {
  for (const SectionDef& d : kDefs) {
    if (matches(d.prefix, section)) return &d;
  }
  return nullptr;
}

}  // namespace bpfvm::object
