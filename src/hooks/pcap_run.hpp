// Runs a packet program over every packet of a pcap file (libpcap), counting verdicts and
// writing the packets the program passes or transmits, as it left them, to an output pcap.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hooks/test_run.hpp"

namespace bpfvm {

struct PcapRunOptions {
  uint32_t prog_type = 0;           // XDP or an skb type
  std::string input;                // pcap file to read
  std::optional<std::string> output;  // pcap file to write (packets that go on)
  uint32_t repeat = 1;
};

struct PcapRunResult {
  uint64_t packets = 0;
  uint64_t written = 0;
  std::map<std::string, uint64_t> verdicts;  // "XDP_PASS" -> count; unnamed values as numbers
  uint64_t total_duration_ns = 0;           // sum over packets of the average run time
};

// A packet goes on (is written out) after XDP_PASS, XDP_TX and XDP_REDIRECT; after TC_ACT_OK,
// TC_ACT_PIPE, TC_ACT_RECLASSIFY, TC_ACT_UNSPEC and TC_ACT_REDIRECT; and, for socket filters,
// when the program keeps a non-zero length (truncated to it).
[[nodiscard]] Result<PcapRunResult> run_pcap(const ProgramRunner& run, const PcapRunOptions& options);

// What run_pcap does with each packet, for packets held in memory (benchmarks, embedders):
// runs the program on it `repeat` times, counts the packet, its verdict and duration in
// `totals`, and returns the packet as it goes on, or nullopt when the program dropped it.
// Fails for program types that do not run on packets, and when the run fails.
[[nodiscard]] Result<std::optional<std::vector<uint8_t>>> run_packet(const ProgramRunner& run, uint32_t prog_type,
                                                                     std::span<const uint8_t> packet, uint32_t repeat,
                                                                     PcapRunResult& totals);

// Writes packets to a pcap file (Ethernet link type); for tests and tools.
[[nodiscard]] Status write_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& packets);
// Reads every packet of a pcap file.
[[nodiscard]] Result<std::vector<std::vector<uint8_t>>> read_pcap(const std::string& path);

}  // namespace bpfvm
