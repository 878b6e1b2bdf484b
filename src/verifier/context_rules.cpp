#include "verifier/context_rules.hpp"

#include <linux/bpf.h>

#include <cstddef>

namespace bpfvm::verifier {
namespace {

using R = std::optional<CtxResult>;

constexpr int kSkbSize = 192;                   // sizeof(struct __sk_buff)
constexpr int kCb0 = 48, kCbEnd = 68;           // cb[0] .. end of cb[4]
constexpr int kTcClassid = 72, kData = 76, kDataEnd = 80, kWireLen = 160;
constexpr int kFamily = 88, kLocalPortEnd = 140;  // family .. end of local_port
constexpr int kRemoteIp4 = 92, kIp6End = 132;     // remote_ip4 .. end of local_ip6
constexpr int kDataMeta = 140, kFlowKeys = 144, kTstamp = 152, kSk = 168, kTstampType = 180, kHwtstamp = 184;
constexpr int kMark = 8, kQueueMapping = 12, kPriority = 32, kTcIndex = 44;

bool in(int off, int begin, int end) { return off >= begin && off < end; }

// bpf_skb_is_valid_access(): the rules every __sk_buff type shares.
R skb_common(int off, int size, bool write) {
  if (off < 0 || off >= kSkbSize || off % size != 0) return std::nullopt;
  if (in(off, kCb0, kCbEnd)) {
    if (off + size > kCbEnd) return std::nullopt;
    return CtxResult::kScalar;
  }
  if (in(off, kRemoteIp4, kIp6End) || in(off, kData, kData + 4) || in(off, kDataMeta, kDataMeta + 4) ||
      in(off, kDataEnd, kDataEnd + 4)) {
    if (size != 4) return std::nullopt;
    if (off == kData) return CtxResult::kPacket;
    if (off == kDataMeta) return CtxResult::kPacketMeta;
    if (off == kDataEnd) return CtxResult::kPacketEnd;
    return CtxResult::kScalar;
  }
  if (in(off, kFlowKeys, kFlowKeys + 8)) return std::nullopt;
  if (in(off, kHwtstamp, kHwtstamp + 8)) {
    if (write || size != 8) return std::nullopt;
    return CtxResult::kScalar;
  }
  if (in(off, kTstamp, kTstamp + 8)) {
    if (size != 8) return std::nullopt;
    return CtxResult::kScalar;
  }
  if (in(off, kSk, kSk + 8)) return std::nullopt;  // a socket pointer: not modelled by bpfvm
  if (in(off, kTstampType, kHwtstamp)) return std::nullopt;
  // Plain u32 fields: full-size writes, narrow reads.
  if (size > 4) return std::nullopt;
  return CtxResult::kScalar;
}

R socket_filter(int off, int size, bool write) {
  if (in(off, kTcClassid, kTcClassid + 4) || in(off, kData, kData + 4) || in(off, kDataMeta, kDataMeta + 4) ||
      in(off, kDataEnd, kDataEnd + 4) || in(off, kFamily, kLocalPortEnd) || in(off, kTstamp, kTstamp + 8) ||
      in(off, kWireLen, kWireLen + 4) || in(off, kHwtstamp, kHwtstamp + 8)) {
    return std::nullopt;
  }
  if (write && !in(off, kCb0, kCbEnd)) return std::nullopt;
  return skb_common(off, size, write);
}

R tc(int off, int size, bool write) {
  if (write) {
    const bool writable = in(off, kMark, kMark + 4) || in(off, kTcIndex, kTcIndex + 4) ||
                          in(off, kPriority, kPriority + 4) || in(off, kTcClassid, kTcClassid + 4) ||
                          in(off, kCb0, kCbEnd) || in(off, kTstamp, kTstamp + 8) ||
                          in(off, kQueueMapping, kQueueMapping + 4);
    if (!writable) return std::nullopt;
  }
  if (in(off, kFamily, kLocalPortEnd)) return std::nullopt;
  return skb_common(off, size, write);
}

R cgroup_skb(int off, int size, bool write) {
  if (in(off, kTcClassid, kTcClassid + 4) || in(off, kDataMeta, kDataMeta + 4) || in(off, kWireLen, kWireLen + 4)) {
    return std::nullopt;
  }
  if (write && !(in(off, kMark, kMark + 4) || in(off, kPriority, kPriority + 4) || in(off, kCb0, kCbEnd) ||
                 in(off, kTstamp, kTstamp + 8))) {
    return std::nullopt;
  }
  return skb_common(off, size, write);
}

R xdp(uint32_t attach, int off, int size, bool write) {
  constexpr int kXdpMdSize = 24, kEgressIfindex = 20;
  if (attach != BPF_XDP_DEVMAP && off == kEgressIfindex) return std::nullopt;
  if (write) return std::nullopt;
  if (off < 0 || off >= kXdpMdSize || off % size != 0 || size != 4) return std::nullopt;
  switch (off) {
    case 0: return CtxResult::kPacket;
    case 4: return CtxResult::kPacketEnd;
    case 8: return CtxResult::kPacketMeta;
    default: return CtxResult::kScalar;
  }
}

R read_only_record(int off, int size, bool write, int begin, int end) {
  if (write || off < begin || off >= end || off % size != 0 || off + size > end) return std::nullopt;
  return CtxResult::kScalar;
}

}  // namespace

std::optional<CtxResult> ctx_access(uint32_t prog_type, uint32_t attach, int off, int size, bool write) {
  constexpr int kPtRegsSize = 168;        // struct pt_regs on x86-64
  constexpr int kPerfEventDataSize = 184; // struct bpf_perf_event_data
  constexpr int kMaxTraceSize = 8192;     // PERF_MAX_TRACE_SIZE
  constexpr int kRawTpArgs = 12 * 8;      // MAX_BPF_FUNC_ARGS u64s
  switch (prog_type) {
    case BPF_PROG_TYPE_SOCKET_FILTER: return socket_filter(off, size, write);
    case BPF_PROG_TYPE_SCHED_CLS:
    case BPF_PROG_TYPE_SCHED_ACT: return tc(off, size, write);
    case BPF_PROG_TYPE_CGROUP_SKB: return cgroup_skb(off, size, write);
    case BPF_PROG_TYPE_XDP: return xdp(attach, off, size, write);
    case BPF_PROG_TYPE_KPROBE: return read_only_record(off, size, write, 0, kPtRegsSize);
    case BPF_PROG_TYPE_PERF_EVENT: return read_only_record(off, size, write, 0, kPerfEventDataSize);
    case BPF_PROG_TYPE_TRACEPOINT: return read_only_record(off, size, write, 8, kMaxTraceSize);
    case BPF_PROG_TYPE_RAW_TRACEPOINT: return read_only_record(off, size, write, 0, kRawTpArgs);
    default: return std::nullopt;
  }
}

bool may_write_packet(uint32_t prog_type) {
  switch (prog_type) {
    case BPF_PROG_TYPE_SCHED_CLS:
    case BPF_PROG_TYPE_SCHED_ACT:
    case BPF_PROG_TYPE_XDP:
    case BPF_PROG_TYPE_LWT_XMIT:
    case BPF_PROG_TYPE_SK_SKB:
    case BPF_PROG_TYPE_SK_MSG:
      return true;
    default:
      return false;
  }
}

}  // namespace bpfvm::verifier
