#include "hooks/test_run.hpp"

#include <fmt/format.h>
#include <linux/bpf.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>

#include "progtypes/contexts.hpp"
#include "progtypes/progtypes.hpp"
#include "runtime/low_memory.hpp"

namespace bpfvm {
namespace {

constexpr std::size_t kPageSize = 4096;
constexpr std::size_t kXdpHeadroom = 256;         // XDP_PACKET_HEADROOM
constexpr std::size_t kSkbHeadroom = 64 + 2;      // NET_SKB_PAD + NET_IP_ALIGN
constexpr std::size_t kTailroom = 320;            // SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
constexpr std::size_t kEthHeader = 14;            // ETH_HLEN
constexpr std::size_t kMaxLinear = kPageSize - kXdpHeadroom - kTailroom;

Error einval(std::string message) { return Error{ErrorKind::kInput, std::move(message), std::nullopt, std::nullopt}; }

bool all_zero(const uint8_t* p, std::size_t from, std::size_t to) {
  return std::all_of(p + from, p + to, [](uint8_t b) { return b == 0; });
}

// Runs `repeat` times: the last run's r0 and the average duration. `after_each_run` is not
// timed: it is user space's work, not the program's.
Result<TestRunResult> timed(const ProgramRunner& run, const RunOptions& options, uint32_t repeat,
                            const std::function<void()>& after_each_run) {
  repeat = std::max<uint32_t>(repeat, 1);
  TestRunResult result;
  std::chrono::steady_clock::duration elapsed{};
  if (after_each_run) {
    for (uint32_t i = 0; i < repeat; ++i) {
      const auto start = std::chrono::steady_clock::now();
      auto r0 = run(options);
      elapsed += std::chrono::steady_clock::now() - start;
      after_each_run();
      if (!r0) return r0.error();
      result.r0 = *r0;
    }
  } else {
    // One clock read around the whole loop, as the kernel's test-run timer does: reading the
    // clock around each run would cost more than a short program (two reads: ~70 ns).
    const auto start = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < repeat; ++i) {
      auto r0 = run(options);
      if (!r0) return r0.error();
      result.r0 = *r0;
    }
    elapsed = std::chrono::steady_clock::now() - start;
  }
  result.duration_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()) / repeat;
  result.retval = static_cast<uint32_t>(result.r0);
  return result;
}

uint8_t* ptr32(uint32_t address) { return reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(address)); }

Result<TestRunResult> run_xdp(const ProgramRunner& run, const TestRunRequest& req) {
  if (req.data_in.size() < kEthHeader) return einval("XDP test runs need at least 14 bytes (an Ethernet header)");
  if (req.data_in.size() > kMaxLinear) {
    return einval(fmt::format("packets over {} bytes need XDP multi-buffer (frags) support, which bpfvm lacks",
                              kMaxLinear));
  }
  xdp_md md{};
  if (!req.ctx_in.empty()) {
    if (req.ctx_in.size() > sizeof(md) && !all_zero(req.ctx_in.data(), sizeof(md), req.ctx_in.size())) {
      return einval("ctx_in is larger than struct xdp_md and the extra bytes are not zero");
    }
    std::memcpy(&md, req.ctx_in.data(), std::min(req.ctx_in.size(), sizeof(md)));
    // As the kernel: metadata comes from the headroom; nothing else may precede the data.
    if (md.data_meta != 0 || md.data_end != req.data_in.size() || md.data > md.data_end || md.data > kXdpMaxMetadata ||
        md.data % 4 != 0) {
      return einval("ctx_in: xdp_md must have data_meta = 0, data = metadata length (a multiple of 4, at most 255) "
                    "and data_end = the size of data_in");
    }
    if (md.egress_ifindex != 0) return einval("ctx_in: egress_ifindex must be 0");
    if (md.ingress_ifindex == 0 && md.rx_queue_index != 0) return einval("ctx_in: rx_queue_index needs ingress_ifindex");
  }
  auto memory = LowMemory::allocate(kPageSize + sizeof(XdpContext));
  if (!memory) return memory.error();
  uint8_t* buffer = memory->data();
  auto* full = reinterpret_cast<XdpContext*>(buffer + kPageSize);
  full->hard_start = buffer;
  full->hard_end = buffer + kPageSize - kTailroom;
  xdp_md* ctx = &full->md;
  // As the kernel: the first ctx_in.data bytes of data_in are the metadata, right before data.
  const uint32_t meta_len = md.data;
  uint8_t* meta = buffer + kXdpHeadroom;
  std::memcpy(meta, req.data_in.data(), req.data_in.size());
  ctx->data_meta = LowMemory::address32(meta);
  ctx->data = LowMemory::address32(meta + meta_len);
  ctx->data_end = LowMemory::address32(meta + req.data_in.size());
  ctx->ingress_ifindex = md.ingress_ifindex;
  ctx->rx_queue_index = md.rx_queue_index;

  RunOptions options;
  options.prog_type = req.prog_type;
  options.context = full;
  options.args[0] = reinterpret_cast<uint64_t>(ctx);
  options.regions.push_back(MemoryRegion{reinterpret_cast<uint8_t*>(ctx), sizeof(xdp_md), false});
  // The whole page: headroom (for adjust_head/meta), packet and tailroom are all bpfvm's memory.
  options.regions.push_back(MemoryRegion{buffer, kPageSize, true});
  options.packet = std::span<const uint8_t>(meta + meta_len, req.data_in.size() - meta_len);

  auto timed_result = timed(run, options, req.repeat, req.after_each_run);
  if (!timed_result) return timed_result.error();
  TestRunResult& result = *timed_result;
  const uint8_t* out_meta = ptr32(ctx->data_meta);
  const uint8_t* end = ptr32(ctx->data_end);
  if (out_meta < buffer || end > buffer + kPageSize || out_meta > end) {
    return Error{ErrorKind::kRuntime, "the program left xdp_md pointing outside its packet buffer", std::nullopt,
                 std::nullopt};
  }
  // Like the kernel: data_out starts at the metadata; ctx_out offsets are relative to it.
  result.data_out.assign(out_meta, end);
  xdp_md out{};
  out.data = ctx->data - ctx->data_meta;
  out.data_end = ctx->data_end - ctx->data_meta;
  out.ingress_ifindex = ctx->ingress_ifindex;
  out.rx_queue_index = ctx->rx_queue_index;
  if (!req.ctx_in.empty()) {
    result.ctx_out.resize(sizeof(out));
    std::memcpy(result.ctx_out.data(), &out, sizeof(out));
  }
  return timed_result;
}

// PACKET_* classification of eth_type_trans() on the loopback device (all-zero address).
uint32_t packet_type(const uint8_t* eth) {
  if (eth[0] & 1) {
    return std::all_of(eth, eth + 6, [](uint8_t b) { return b == 0xff; }) ? 1u /*BROADCAST*/ : 2u /*MULTICAST*/;
  }
  return std::all_of(eth, eth + 6, [](uint8_t b) { return b == 0; }) ? 0u /*HOST*/ : 3u /*OTHERHOST*/;
}

Result<TestRunResult> run_skb(const ProgramRunner& run, const TestRunRequest& req, bool l2) {
  if (req.data_in.size() < kEthHeader) return einval("skb test runs need at least 14 bytes (an Ethernet header)");
  if (req.data_in.size() > kPageSize - kSkbHeadroom - kTailroom) {
    return einval(fmt::format("packets over {} bytes are not supported in skb test runs",
                              kPageSize - kSkbHeadroom - kTailroom));
  }
  __sk_buff in{};
  if (!req.ctx_in.empty()) {
    if (req.ctx_in.size() > sizeof(in) && !all_zero(req.ctx_in.data(), sizeof(in), req.ctx_in.size())) {
      return einval("ctx_in is larger than struct __sk_buff and the extra bytes are not zero");
    }
    std::memcpy(&in, req.ctx_in.data(), std::min(req.ctx_in.size(), sizeof(in)));
    // As the kernel's convert___skb_to_skb: only these fields may be set.
    const auto* p = reinterpret_cast<const uint8_t*>(&in);
    const bool ok = all_zero(p, 0, offsetof(__sk_buff, mark)) &&
                    all_zero(p, offsetof(__sk_buff, mark) + 4, offsetof(__sk_buff, priority)) &&
                    all_zero(p, offsetof(__sk_buff, ifindex) + 4, offsetof(__sk_buff, cb)) &&
                    all_zero(p, offsetof(__sk_buff, cb) + sizeof(in.cb), offsetof(__sk_buff, tstamp)) &&
                    all_zero(p, offsetof(__sk_buff, gso_segs) + 4, offsetof(__sk_buff, gso_size)) &&
                    all_zero(p, offsetof(__sk_buff, gso_size) + 4, offsetof(__sk_buff, hwtstamp)) &&
                    all_zero(p, offsetof(__sk_buff, hwtstamp) + 8, sizeof(__sk_buff));
    if (!ok) {
      return einval("ctx_in: only mark, priority, ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, "
                    "gso_size and hwtstamp of __sk_buff may be set");
    }
    if (in.ifindex > 1) return einval(fmt::format("ctx_in: ifindex {} is not a device bpfvm has", in.ifindex));
    if (in.wire_len != 0 && in.wire_len < req.data_in.size()) return einval("ctx_in: wire_len is below the packet size");
  }
  auto memory = LowMemory::allocate(kPageSize + sizeof(SkbContext));
  if (!memory) return memory.error();
  uint8_t* buffer = memory->data();
  auto* full = reinterpret_cast<SkbContext*>(buffer + kPageSize);
  full->head = buffer;
  full->end = buffer + kPageSize - kTailroom;
  __sk_buff* ctx = &full->skb;
  uint8_t* frame = buffer + kSkbHeadroom;
  std::memcpy(frame, req.data_in.data(), req.data_in.size());
  uint8_t* data = l2 ? frame : frame + kEthHeader;
  uint8_t* end = frame + req.data_in.size();

  *ctx = in;
  ctx->len = static_cast<uint32_t>(end - data);
  ctx->pkt_type = packet_type(frame);
  uint16_t proto = 0;
  std::memcpy(&proto, frame + 12, 2);  // network order, as skb->protocol holds it
  ctx->protocol = proto;
  ctx->ifindex = 1;  // the loopback device, as test runs use
  ctx->data = LowMemory::address32(data);
  ctx->data_end = LowMemory::address32(end);
  ctx->data_meta = ctx->data;
  if (ctx->wire_len == 0) ctx->wire_len = static_cast<uint32_t>(req.data_in.size());

  RunOptions options;
  options.prog_type = req.prog_type;
  options.context = full;
  options.args[0] = reinterpret_cast<uint64_t>(ctx);
  options.regions.push_back(MemoryRegion{reinterpret_cast<uint8_t*>(ctx), sizeof(__sk_buff), true});
  options.regions.push_back(MemoryRegion{buffer, kPageSize, true});
  options.packet = std::span<const uint8_t>(data, static_cast<std::size_t>(end - data));

  auto timed_result = timed(run, options, req.repeat, req.after_each_run);
  if (!timed_result) return timed_result.error();
  TestRunResult& result = *timed_result;
  const uint8_t* out_data = ptr32(ctx->data);
  const uint8_t* out_end = ptr32(ctx->data_end);
  if (out_data < buffer || out_end > buffer + kPageSize || out_data > out_end) {
    return Error{ErrorKind::kRuntime, "the program left __sk_buff pointing outside its packet buffer", std::nullopt,
                 std::nullopt};
  }
  // Socket filters and other L3 types get a zeroed Ethernet header pushed back, as the kernel does.
  if (!l2) result.data_out.assign(kEthHeader, 0);
  result.data_out.insert(result.data_out.end(), out_data, out_end);
  if (!req.ctx_in.empty()) {
    __sk_buff out{};
    out.mark = ctx->mark;
    out.priority = ctx->priority;
    out.ingress_ifindex = in.ingress_ifindex;
    out.ifindex = 1;
    out.tstamp = ctx->tstamp;
    std::memcpy(out.cb, ctx->cb, sizeof(out.cb));
    out.wire_len = ctx->wire_len;
    out.gso_segs = in.gso_segs;
    out.hwtstamp = in.hwtstamp;
    result.ctx_out.resize(sizeof(out));
    std::memcpy(result.ctx_out.data(), &out, sizeof(out));
  }
  return timed_result;
}

// r1 = a copy of ctx_in (tracepoint records, raw_tracepoint arguments, pt_regs, syscall args).
Result<TestRunResult> run_raw_context(const ProgramRunner& run, const TestRunRequest& req, bool writable) {
  if (!req.data_in.empty()) return einval("this program type takes ctx_in, not data_in");
  std::vector<uint8_t> ctx = req.ctx_in;
  RunOptions options;
  options.prog_type = req.prog_type;
  options.context = ctx.data();
  options.args[0] = ctx.empty() ? 0 : reinterpret_cast<uint64_t>(ctx.data());
  options.regions.push_back(MemoryRegion{ctx.data(), ctx.size(), writable});
  auto timed_result = timed(run, options, req.repeat, req.after_each_run);
  if (!timed_result) return timed_result.error();
  TestRunResult& result = *timed_result;
  if (writable && !ctx.empty()) result.ctx_out = ctx;
  return timed_result;
}

// The embedding mode: r1 = memory, r2 = its length; the memory comes back as data_out.
Result<TestRunResult> run_memory(const ProgramRunner& run, const TestRunRequest& req) {
  std::vector<uint8_t> memory = req.data_in;
  RunOptions options = memory_run_options(memory);
  options.prog_type = req.prog_type;
  auto result = timed(run, options, req.repeat, req.after_each_run);
  if (result) result->data_out = std::move(memory);
  return result;
}

}  // namespace

Result<TestRunResult> test_run(const ProgramRunner& run, const TestRunRequest& request) {
  const ProgTypeInfo* info = prog_type_info(request.prog_type);
  if (info == nullptr) return einval(fmt::format("unknown program type {}", request.prog_type));
  switch (info->context) {
    case ContextKind::kXdp: return run_xdp(run, request);
    case ContextKind::kSkb: return run_skb(run, request, info->l2);
    case ContextKind::kPtRegs: return run_raw_context(run, request, false);
    case ContextKind::kRawMemory: return run_raw_context(run, request, info->type == 24);
    case ContextKind::kMemory: return run_memory(run, request);
    case ContextKind::kNone: break;
  }
  return Error{ErrorKind::kInput, fmt::format("test runs of {} programs are not supported yet", info->name),
               std::nullopt, std::nullopt};
}

}  // namespace bpfvm
