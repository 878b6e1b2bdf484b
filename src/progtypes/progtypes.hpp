// Program types: the context each type sees, how a test run builds it, and what its return
// value means. Numbers are the uapi BPF_PROG_TYPE_* values; names are bpftool's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bpfvm {

enum class ContextKind {
  kNone,          // bpfvm cannot build a context for this type yet
  kMemory,        // r1 = memory, r2 = its length (embedders; the conformance suite)
  kXdp,           // struct xdp_md over a packet
  kSkb,           // struct __sk_buff over a packet
  kPtRegs,        // struct pt_regs (kprobe, uprobe, perf_event)
  kRawMemory,     // r1 = the bytes of ctx_in (tracepoint records, raw_tracepoint args, syscall)
};

struct ProgTypeInfo {
  uint32_t type;              // BPF_PROG_TYPE_*
  std::string_view name;      // bpftool's name: "xdp", "sched_cls", ...
  ContextKind context;
  // For packet types: whether skb->data starts at the Ethernet header (tc) or after it
  // (socket filters, cgroup_skb), as BPF_PROG_TEST_RUN arranges it.
  bool l2 = false;
};

// Every uapi program type, in uapi order; nullptr for an unknown number.
[[nodiscard]] const ProgTypeInfo* prog_type_info(uint32_t type);
// By bpftool name ("xdp") or uapi enumerator name ("BPF_PROG_TYPE_XDP").
[[nodiscard]] const ProgTypeInfo* prog_type_by_name(std::string_view name);

// What a return value means for the type: "XDP_PASS", "TC_ACT_SHOT", ...; nullopt when the
// type gives it no name (socket filters return a length).
[[nodiscard]] std::optional<std::string> verdict_name(uint32_t prog_type, uint64_t retval);

}  // namespace bpfvm
