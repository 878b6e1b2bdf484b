#include "progtypes/progtypes.hpp"

#include <array>
#include <string>

namespace bpfvm {
namespace {

// uapi enum bpf_prog_type, in order (Linux 6.18; the installed header may be older).
constexpr std::array<ProgTypeInfo, 33> kProgTypes = {{
    {0, "unspec", ContextKind::kMemory},
    {1, "socket_filter", ContextKind::kSkb, false},
    {2, "kprobe", ContextKind::kPtRegs},
    {3, "sched_cls", ContextKind::kSkb, true},
    {4, "sched_act", ContextKind::kSkb, true},
    {5, "tracepoint", ContextKind::kRawMemory},
    {6, "xdp", ContextKind::kXdp},
    {7, "perf_event", ContextKind::kNone},
    {8, "cgroup_skb", ContextKind::kSkb, false},
    {9, "cgroup_sock", ContextKind::kNone},
    {10, "lwt_in", ContextKind::kSkb, false},
    {11, "lwt_out", ContextKind::kSkb, false},
    {12, "lwt_xmit", ContextKind::kSkb, false},
    {13, "sock_ops", ContextKind::kNone},
    {14, "sk_skb", ContextKind::kNone},
    {15, "cgroup_device", ContextKind::kNone},
    {16, "sk_msg", ContextKind::kNone},
    {17, "raw_tracepoint", ContextKind::kRawMemory},
    {18, "cgroup_sock_addr", ContextKind::kNone},
    {19, "lwt_seg6local", ContextKind::kNone},
    {20, "lirc_mode2", ContextKind::kNone},
    {21, "sk_reuseport", ContextKind::kNone},
    {22, "flow_dissector", ContextKind::kNone},
    {23, "cgroup_sysctl", ContextKind::kNone},
    {24, "raw_tracepoint_writable", ContextKind::kRawMemory},
    {25, "cgroup_sockopt", ContextKind::kNone},
    {26, "tracing", ContextKind::kRawMemory},
    {27, "struct_ops", ContextKind::kNone},
    {28, "ext", ContextKind::kNone},
    {29, "lsm", ContextKind::kNone},
    {30, "sk_lookup", ContextKind::kNone},
    {31, "syscall", ContextKind::kRawMemory},
    {32, "netfilter", ContextKind::kNone},
}};

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

const ProgTypeInfo* prog_type_info(uint32_t type) {
  return type < kProgTypes.size() ? &kProgTypes[type] : nullptr;
}

const ProgTypeInfo* prog_type_by_name(std::string_view name) {
  for (const ProgTypeInfo& info : kProgTypes) {
    if (name == info.name || name == "BPF_PROG_TYPE_" + upper(info.name)) return &info;
  }
  return nullptr;
}

std::optional<std::string> verdict_name(uint32_t prog_type, uint64_t retval) {
  const auto value = static_cast<int32_t>(static_cast<uint32_t>(retval));
  const ProgTypeInfo* info = prog_type_info(prog_type);
  if (info == nullptr) return std::nullopt;
  if (info->context == ContextKind::kXdp) {
    static constexpr const char* kXdp[] = {"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"};
    if (value >= 0 && value < 5) return kXdp[value];
    return std::nullopt;
  }
  if (info->type == 3 || info->type == 4) {  // sched_cls, sched_act: TC_ACT_*
    static constexpr const char* kTc[] = {"TC_ACT_OK",     "TC_ACT_RECLASSIFY", "TC_ACT_SHOT",
                                          "TC_ACT_PIPE",   "TC_ACT_STOLEN",     "TC_ACT_QUEUED",
                                          "TC_ACT_REPEAT", "TC_ACT_REDIRECT",   "TC_ACT_TRAP"};
    if (value == -1) return "TC_ACT_UNSPEC";
    if (value >= 0 && value < 9) return kTc[value];
    return std::nullopt;
  }
  if (info->type == 8) {  // cgroup_skb: 1 allows, 0 drops
    if (value == 0) return "drop";
    if (value == 1) return "allow";
  }
  return std::nullopt;
}

}  // namespace bpfvm
