#include "hooks/pcap_run.hpp"

#include <fmt/format.h>
#include <pcap/pcap.h>

#include <memory>

#include "progtypes/progtypes.hpp"

namespace bpfvm {
namespace {

// <linux/bpf.h> cannot be included beside <pcap/pcap.h> (both define struct bpf_insn).
constexpr uint32_t kSocketFilter = 1, kSchedCls = 3, kSchedAct = 4, kCgroupSkb = 8;
constexpr uint32_t kXdpPass = 2, kXdpTx = 3, kXdpRedirect = 4;

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};
struct DumperCloser {
  void operator()(pcap_dumper_t* d) const { pcap_dump_close(d); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;
using DumperHandle = std::unique_ptr<pcap_dumper_t, DumperCloser>;

Error pcap_error(std::string message) {
  return Error{ErrorKind::kInput, std::move(message), std::nullopt, std::nullopt};
}

Result<PcapHandle> open_input(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  PcapHandle in(pcap_open_offline(path.c_str(), errbuf));
  if (!in) return pcap_error(fmt::format("cannot read pcap {}: {}", path, errbuf));
  if (pcap_datalink(in.get()) != DLT_EN10MB) {
    return pcap_error(fmt::format("{}: link type {} is not Ethernet; bpfvm's packet programs need Ethernet frames",
                                  path, pcap_datalink_val_to_name(pcap_datalink(in.get()))));
  }
  return in;
}

// Whether the packet continues after the program's verdict, and how many bytes of it.
std::optional<std::size_t> kept_bytes(uint32_t prog_type, uint32_t retval, std::size_t size) {
  const ProgTypeInfo* info = prog_type_info(prog_type);
  if (info == nullptr) return std::nullopt;
  if (info->context == ContextKind::kXdp) {
    if (retval == kXdpPass || retval == kXdpTx || retval == kXdpRedirect) return size;
    return std::nullopt;
  }
  if (prog_type == kSchedCls || prog_type == kSchedAct) {
    const auto v = static_cast<int32_t>(retval);
    if (v == -1 || v == 0 || v == 1 || v == 3 || v == 7) return size;
    return std::nullopt;
  }
  if (prog_type == kSocketFilter) {
    if (retval == 0) return std::nullopt;
    return std::min<std::size_t>(size, retval);
  }
  if (prog_type == kCgroupSkb) return retval == 1 ? std::optional<std::size_t>(size) : std::nullopt;
  return size;
}

Status check_packet_type(uint32_t prog_type) {
  const ProgTypeInfo* info = prog_type_info(prog_type);
  if (info != nullptr && (info->context == ContextKind::kXdp || info->context == ContextKind::kSkb)) return ok_status();
  return pcap_error(fmt::format("programs of type {} do not run on packets; use xdp, tc (sched_cls), "
                                "socket_filter or cgroup_skb",
                                info ? std::string(info->name) : std::to_string(prog_type)));
}

// run_packet without the type check, which run_pcap makes once.
Result<std::optional<std::vector<uint8_t>>> run_checked_packet(const ProgramRunner& run, uint32_t prog_type,
                                                               std::span<const uint8_t> packet, uint32_t repeat,
                                                               PcapRunResult& totals) {
  ++totals.packets;
  auto r = test_run(run, TestRunRequest{prog_type, std::vector<uint8_t>(packet.begin(), packet.end()), {}, repeat});
  if (!r) return r.error();
  totals.total_duration_ns += r->duration_ns;
  totals.verdicts[verdict_name(prog_type, r->retval).value_or(std::to_string(r->retval))]++;
  const auto keep = kept_bytes(prog_type, r->retval, r->data_out.size());
  if (!keep) return std::optional<std::vector<uint8_t>>();
  r->data_out.resize(*keep);
  return std::optional<std::vector<uint8_t>>(std::move(r->data_out));
}

}  // namespace

Result<std::optional<std::vector<uint8_t>>> run_packet(const ProgramRunner& run, uint32_t prog_type,
                                                       std::span<const uint8_t> packet, uint32_t repeat,
                                                       PcapRunResult& totals) {
  if (auto st = check_packet_type(prog_type); !st) return st.error();
  return run_checked_packet(run, prog_type, packet, repeat, totals);
}

Result<PcapRunResult> run_pcap(const ProgramRunner& run, const PcapRunOptions& options) {
  if (auto st = check_packet_type(options.prog_type); !st) return st.error();
  auto in = open_input(options.input);
  if (!in) return in.error();
  DumperHandle out;
  PcapHandle dead;
  if (options.output) {
    dead.reset(pcap_open_dead(DLT_EN10MB, 65535));
    out.reset(pcap_dump_open(dead.get(), options.output->c_str()));
    if (!out) return pcap_error(fmt::format("cannot write pcap {}: {}", *options.output, pcap_geterr(dead.get())));
  }
  PcapRunResult result;
  pcap_pkthdr* header = nullptr;
  const u_char* bytes = nullptr;
  int status;
  while ((status = pcap_next_ex(in->get(), &header, &bytes)) == 1) {
    auto passed = run_checked_packet(run, options.prog_type, {bytes, header->caplen}, options.repeat, result);
    if (!passed) {
      Error e = passed.error();
      e.message = fmt::format("packet {} of {}: {}", result.packets, options.input, e.message);
      return e;
    }
    if (*passed && out) {
      pcap_pkthdr h = *header;
      h.caplen = h.len = static_cast<bpf_u_int32>((*passed)->size());
      pcap_dump(reinterpret_cast<u_char*>(out.get()), &h, (*passed)->data());
      ++result.written;
    }
  }
  if (status == PCAP_ERROR) return pcap_error(fmt::format("{}: {}", options.input, pcap_geterr(in->get())));
  return result;
}

Status write_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& packets) {
  PcapHandle dead(pcap_open_dead(DLT_EN10MB, 65535));
  DumperHandle out(pcap_dump_open(dead.get(), path.c_str()));
  if (!out) return pcap_error(fmt::format("cannot write pcap {}: {}", path, pcap_geterr(dead.get())));
  for (std::size_t i = 0; i < packets.size(); ++i) {
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(i);
    h.caplen = h.len = static_cast<bpf_u_int32>(packets[i].size());
    pcap_dump(reinterpret_cast<u_char*>(out.get()), &h, packets[i].data());
  }
  return ok_status();
}

Result<std::vector<std::vector<uint8_t>>> read_pcap(const std::string& path) {
  auto in = open_input(path);
  if (!in) return in.error();
  std::vector<std::vector<uint8_t>> packets;
  pcap_pkthdr* header = nullptr;
  const u_char* bytes = nullptr;
  int status;
  while ((status = pcap_next_ex(in->get(), &header, &bytes)) == 1) packets.emplace_back(bytes, bytes + header->caplen);
  if (status == PCAP_ERROR) return pcap_error(fmt::format("{}: {}", path, pcap_geterr(in->get())));
  return packets;
}

}  // namespace bpfvm
