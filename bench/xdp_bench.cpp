// Packets per second of the XDP parser example (examples/xdp-filter.bpf.c) on packets held in
// memory, through the path `bpfvm run --pcap` takes for each packet (run_packet: a test run
// that builds the XDP context, runs the loaded program, counts the verdict and keeps the
// packet that goes on). Run: ./build/default/bench/bpfvm_xdp_bench and read items_per_second.
#include <benchmark/benchmark.h>

#include <stdexcept>

#include "hooks/pcap_run.hpp"
#include "object/object.hpp"
#include "runtime/loader.hpp"

namespace {

using namespace bpfvm;

template <typename T>
T or_throw(Result<T> r) {
  if (!r) throw std::runtime_error(r.error().to_string());
  return std::move(*r);
}

struct Setup {
  LoadedObject object;
  std::vector<std::vector<uint8_t>> packets;  // examples/packets.pcap: IPv4 TCP and UDP, IPv6, ARP
};

const Setup& setup() {
  static Setup s{or_throw(LoadedObject::load(or_throw(object::open_object(BPFVM_EXAMPLES_DIR "/xdp-filter.bpf.o")))),
                 or_throw(read_pcap(BPFVM_SOURCE_DIR "/examples/packets.pcap"))};
  return s;
}

void BM_XdpFilterPackets(benchmark::State& state) {
  const Setup& s = setup();
  const LoadedProgram* program = s.object.program("xdp_filter");
  if (program == nullptr) throw std::runtime_error("xdp-filter.bpf.o has no program xdp_filter");
  const ProgramRunner runner = program->runner();
  PcapRunResult totals;
  for (auto _ : state) {
    for (const auto& packet : s.packets) {
      auto passed = run_packet(runner, program->prog_type(), packet, 1, totals);
      if (!passed) {
        state.SkipWithError(passed.error().to_string().c_str());
        return;
      }
      benchmark::DoNotOptimize(passed);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(totals.packets));
  const double dropped = totals.packets ? static_cast<double>(totals.verdicts["XDP_DROP"]) / static_cast<double>(totals.packets) : 0;
  state.counters["dropped_share"] = benchmark::Counter(dropped, benchmark::Counter::kAvgThreads);
}

BENCHMARK(BM_XdpFilterPackets)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
