// Verification time: bpfvm's verifier against the running kernel's on the same large programs,
// in one run. For each program: instructions processed and wall time per verification (median
// of --runs), for bpfvm (in process) and for the kernel (BPF_PROG_LOAD with BPF_LOG_STATS,
// whose "verification time N usec" line is the kernel's own measure). Only loads programs,
// never attaches them. Writes a Markdown table (stdout, or --markdown FILE).
//
//   ./build/default/bench/bpfvm_verifier_bench --runs 21 --markdown docs/verifier-benchmark.md
#include <fmt/format.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "../tests/kernel/load_case.hpp"
#include "helpers/linux_helpers.hpp"
#include "isa/assembler.hpp"
#include "object/object.hpp"
#include "verifier/object_input.hpp"
#include "verifier/verifier.hpp"

namespace {

using namespace bpfvm;

struct Program {
  std::string name;
  verifier::ProgramCase c;
  std::string license = "GPL";
};

verifier::ProgramCase from_asm(const std::string& text, uint32_t prog_type) {
  auto insns = isa::assemble(text);
  if (!insns) {
    std::cerr << "assembly: " << insns.error().to_string() << "\n";
    std::exit(1);
  }
  verifier::ProgramCase c;
  c.insns = isa::encode(*insns);
  c.options.prog_type = prog_type;
  return c;
}

// 1,000 instructions without a branch.
std::string straight_line() {
  std::string text;
  for (int r = 0; r <= 5; ++r) text += fmt::format("mov %r{}, {}\n", r, r);
  for (int i = 0; i < 993; ++i) {
    const int r = i % 6;
    text += (i % 3 == 0) ? fmt::format("add %r{}, %r{}\n", r, (r + 1) % 6)
            : (i % 3 == 1) ? fmt::format("xor %r{}, {}\n", r, i)
                           : fmt::format("lsh32 %r{}, 1\n", r);
  }
  return text + "exit\n";
}

// Two nested counted loops (20 x 20) around arithmetic.
const char* kNestedLoops = R"(mov %r0, 0
mov %r1, 0
outer:
mov %r2, 0
inner:
add %r0, %r2
xor %r0, 3
add %r2, 1
jlt %r2, 20, inner
add %r1, 1
jlt %r1, 20, outer
exit
)";

std::optional<Program> from_object(const std::string& name, const std::string& path) {
  auto spec = object::open_object(path);
  if (!spec || spec->programs.empty()) {
    std::cerr << path << ": " << (spec ? "no programs" : spec.error().to_string()) << " (skipped)\n";
    return std::nullopt;
  }
  auto c = verifier::program_case(*spec, spec->programs[0]);
  if (!c) return std::nullopt;
  return Program{name, std::move(*c), spec->license};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct KernelResult {
  uint64_t processed = 0;
  double usec = 0;
};

std::optional<KernelResult> kernel_once(const Program& p) {
  const kernel::CaseLoad load = kernel::load_case(p.c, p.license, 4 /* BPF_LOG_STATS */);
  const kernel::LoadResult& r = load.result;
  if (r.fd < 0) return std::nullopt;
  close(r.fd);
  static const std::regex time_re("verification time ([0-9]+) usec");
  static const std::regex processed_re("processed ([0-9]+) insns");
  std::smatch m;
  KernelResult out;
  if (std::regex_search(r.log, m, time_re)) out.usec = std::stod(m[1]);
  if (std::regex_search(r.log, m, processed_re)) out.processed = std::stoull(m[1]);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 11;
  std::string markdown;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
    else if (arg == "--markdown" && i + 1 < argc) markdown = argv[++i];
    else {
      std::cerr << "usage: bpfvm_verifier_bench [--runs N] [--markdown FILE]\n";
      return 2;
    }
  }
  const HelperTable helpers = linux_helpers();
  std::vector<Program> programs;
  programs.push_back({"straight line (1,000 insns)", from_asm(straight_line(), BPF_PROG_TYPE_SOCKET_FILTER)});
  programs.push_back({"nested loops (20 x 20)", from_asm(kNestedLoops, BPF_PROG_TYPE_SOCKET_FILTER)});
  if (auto p = from_object("packet parser (examples/xdp-filter)", BPFVM_EXAMPLES_DIR "/xdp-filter.bpf.o")) {
    programs.push_back(std::move(*p));
  }
  if (auto p = from_object("byte loop + switch (bench/progs/bigswitch)", BPFVM_BENCH_PROGS_DIR "/bigswitch.bpf.o")) {
    programs.push_back(std::move(*p));
  }
  const auto kernel_reason = kernel::unavailable_reason();

  std::string table =
      "| program | insns | bpfvm processed | bpfvm µs | bpfvm ns/insn | kernel processed | kernel µs | kernel ns/insn | "
      "bpfvm / kernel time |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const Program& p : programs) {
    verifier::Options options = p.c.options;
    options.helpers = &helpers;
    std::vector<double> ours_us, kernel_us;
    uint64_t ours_processed = 0, kernel_processed = 0;
    bool accepted = true;
    for (int r = 0; r < runs; ++r) {  // interleaved: bpfvm, then the kernel
      const auto t0 = std::chrono::steady_clock::now();
      const auto v = verifier::verify(p.c.insns, options);
      const auto t1 = std::chrono::steady_clock::now();
      ours_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      ours_processed = v.stats.insns_processed;
      accepted = accepted && v.accepted;
      if (!kernel_reason) {
        if (auto k = kernel_once(p)) {
          kernel_us.push_back(k->usec);
          kernel_processed = k->processed;
        }
      }
    }
    const double ours = median(ours_us);
    const double theirs = median(kernel_us);
    table += fmt::format("| {}{} | {} | {} | {:.0f} | {:.1f} | {} | {} | {} | {} |\n", p.name,
                         accepted ? "" : " (rejected by bpfvm)", p.c.insns.size(), ours_processed, ours,
                         ours_processed ? ours * 1000 / static_cast<double>(ours_processed) : 0.0,
                         kernel_us.empty() ? "-" : fmt::format("{}", kernel_processed),
                         kernel_us.empty() ? "-" : fmt::format("{:.0f}", theirs),
                         kernel_us.empty() || !kernel_processed ? "-" : fmt::format("{:.1f}", theirs * 1000 / static_cast<double>(kernel_processed)),
                         kernel_us.empty() || theirs == 0 ? "-" : fmt::format("{:.2f}×", ours / theirs));
  }
  std::string out = table;
  if (kernel_reason) out += "\nKernel columns empty: bpf() unavailable (" + *kernel_reason + ").\n";
  std::cout << out;
  if (!markdown.empty()) {
    std::ofstream f(markdown);
    f << "# Verification time\n\nProduced by\n\n```sh\n./build/default/bench/bpfvm_verifier_bench --runs " << runs
      << " --markdown " << markdown
      << "\n```\n\nMedians of " << runs
      << " interleaved runs. bpfvm: wall time of `verifier::verify()` in process. Kernel: the "
         "`verification time` it reports with BPF_LOG_STATS (BPF_PROG_LOAD, root; programs are "
         "loaded, never attached). \"processed\" is each verifier's own count of instructions "
         "walked; the two differ where their state pruning differs.\n\n"
      << out;
  }
  return 0;
}
