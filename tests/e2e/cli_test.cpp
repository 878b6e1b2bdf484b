// The bpfvm command line, run as a user or script would run it.
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "conformance/data_file.hpp"
#include "support/cli_runner.hpp"
#include "hooks/pcap_run.hpp"

namespace {

using namespace bpfvm::test;

TEST(Cli, AsmPrintsHexAndWritesRawBytes) {
  const auto src = write("a.s", "mov %r0, 42\nexit\n");
  auto o = run_cli("asm " + src.string());
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, "b7 00 00 00 2a 00 00 00\n95 00 00 00 00 00 00 00\n");
  const auto bin = temp("a.bin");
  o = run_cli("asm " + src.string() + " -o " + bin.string());
  EXPECT_EQ(o.status, 0) << o.err;
  const std::string bytes = slurp(bin);
  ASSERT_EQ(bytes.size(), 16u);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 0xb7);
  EXPECT_EQ(static_cast<uint8_t>(bytes[4]), 42);
}

TEST(Cli, AsmTakesTheAsmSectionOfADataFile) {
  auto o = run_cli("asm " + std::string(BPFVM_CONFORMANCE_DIR) + "/exit.data");
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, "b7 00 00 00 00 00 00 00\n95 00 00 00 00 00 00 00\n");
}

TEST(Cli, DisasmReadsRawHexAndAssembly) {
  const auto src = write("d.s", "lddw %r1, 0x1122334455667788\nldxw %r3, [%r6+0]\nexit\n");
  const std::string kernel = "   0: (18) r1 = 0x1122334455667788\n   2: (61) r3 = *(u32 *)(r6 +0)\n   3: (95) exit\n";
  auto o = run_cli("disasm " + src.string());
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, kernel);
  const auto bin = temp("d.bin");
  ASSERT_EQ(run_cli("asm " + src.string() + " -o " + bin.string()).status, 0);
  EXPECT_EQ(run_cli("disasm " + bin.string()).out, kernel);
  const auto hex = write("d.hex", run_cli("asm " + src.string()).out);
  EXPECT_EQ(run_cli("disasm " + hex.string()).out, kernel);
  o = run_cli("disasm --syntax conformance " + bin.string());
  EXPECT_EQ(o.out, "lddw %r1, 0x1122334455667788\nldxw %r3, [%r6+0]\nexit\n");
}

TEST(Cli, RunRawPrintsR0) {
  const auto src = write("r.s", "ldxh %r0, [%r1+1]\nadd %r0, %r2\nexit\n");
  auto o = run_cli("run-raw " + src.string() + " --mem '01 02 03 04'");
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out, "0x306\n");  // u16 at offset 1 is 0x0302, plus the length in r2
}

TEST(Cli, ErrorsAreOneLineOnStderrWithANonZeroExit) {
  auto o = run_cli("run-raw /nonexistent/prog.s");
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(o.err, "bpfvm: error: cannot open /nonexistent/prog.s: No such file or directory\n");

  const auto bad = write("bad.s", "mov %r0, 1\nmov %r0, %r11\nexit\n");
  o = run_cli("asm " + bad.string());
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.err, "bpfvm: error: " + bad.string() + ":2: Invalid register: %r11\n");

  const auto oob = write("oob.s", "ldxdw %r0, [%r1+0]\nexit\n");
  o = run_cli("run-raw " + oob.string() + " --mem '01 02'");
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("insn 0: invalid memory read of 8 bytes"), std::string::npos) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1);

  const auto trunc = write("trunc.bin", std::string("\xb7\x00\x00\x00\x2a\x00\x00\x00\x95\x00", 10));
  o = run_cli("disasm " + trunc.string());
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("not a whole number of 8-byte instructions"), std::string::npos) << o.err;
}

TEST(Cli, HelpEverywhere) {
  for (const char* sub : {"", "asm", "disasm", "run-raw", "run", "jit-dump", "conformance-plugin"}) {
    auto o = run_cli(std::string(sub) + " --help");
    EXPECT_EQ(o.status, 0) << sub;
    EXPECT_NE(o.out.find("Usage"), std::string::npos) << sub;
  }
}

const char* const kXdpProgram =
    "mov %r6, %r1\nstdw [%r10-8], 0\nstw [%r10-8], 0x3d6e656c\nstw [%r10-4], 0x6425\n"  // "len=%d"
    "ldxw %r2, [%r6+0]\nldxw %r3, [%r6+4]\nsub %r3, %r2\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\ncall 6\n"
    "ldxw %r2, [%r6+0]\nstb [%r2+0], 0xee\nmov %r0, 2\nldxb %r3, [%r2+13]\njne %r3, 1, +1\nmov %r0, 1\nexit\n";

TEST(Cli, RunPrintsTheResultTheTraceAndTheVerdict) {
  const auto prog = write("xdp.s", kXdpProgram);
  const auto packet = write("packet.bin", std::string(20, '\x07'));
  auto o = run_cli("run " + prog.string() + " --type xdp --data-in " + packet.string());
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("bpf_trace_printk: len=20\n"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("Return value: 2 (XDP_PASS), duration (average): "), std::string::npos) << o.out;

  const auto out = temp("packet.out");
  o = run_cli("run " + prog.string() + " --type xdp --data-in " + packet.string() + " --data-out " + out.string() +
            " --json --repeat 3");
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("\"retval\":2"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("\"trace\":[\"len=20\",\"len=20\",\"len=20\"]"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("\"data_out\":[238,7,7"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("\"duration\":"), std::string::npos) << o.out;
  const std::string written = slurp(out);
  ASSERT_EQ(written.size(), 20u);
  EXPECT_EQ(static_cast<uint8_t>(written[0]), 0xee);
}

TEST(Cli, RunOverAPcapCountsVerdicts) {
  const auto prog = write("xdp2.s", kXdpProgram);
  const auto in = temp("in.pcap"), out = temp("out.pcap");
  std::vector<std::vector<uint8_t>> packets = {std::vector<uint8_t>(30, 0), std::vector<uint8_t>(30, 1),
                                               std::vector<uint8_t>(40, 0)};
  ASSERT_TRUE(bpfvm::write_pcap(in.string(), packets).ok());
  auto o = run_cli("run " + prog.string() + " --type xdp --pcap " + in.string() + " --pcap-out " + out.string() + " --json");
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("\"verdicts\":{\"XDP_DROP\":1,\"XDP_PASS\":2}"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("\"packets\":3"), std::string::npos) << o.out;
  auto written = bpfvm::read_pcap(out.string());
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->size(), 2u);
  o = run_cli("run " + prog.string() + " --pcap " + in.string());
  EXPECT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("Packets: 3, written: 0"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("  XDP_PASS: 2\n"), std::string::npos) << o.out;
}

TEST(Cli, RunErrors) {
  const auto prog = write("xdp3.s", kXdpProgram);
  auto o = run_cli("run " + prog.string() + " --type nonsense");
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.err, "bpfvm: error: unknown program type 'nonsense'\n");
  o = run_cli("run " + prog.string() + " --type xdp --data-in " + write("short.bin", "abc").string());
  EXPECT_EQ(o.status, 1);
  EXPECT_EQ(o.err, "bpfvm: error: XDP test runs need at least 14 bytes (an Ethernet header)\n");
  o = run_cli("run " + prog.string() + " --type xdp --pcap /nonexistent.pcap");
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find("cannot read pcap /nonexistent.pcap"), std::string::npos) << o.err;
  const auto oob = write("oob_xdp.s", "ldxw %r2, [%r1+0]\nldxdw %r0, [%r2+4000]\nexit\n");
  o = run_cli("run " + oob.string() + " --type xdp --data-in " + write("p.bin", std::string(20, 'x')).string());
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.err.find(oob.string() + ": insn 1: invalid memory read of 8 bytes"), std::string::npos) << o.err;
}

// The bpf_conformance runner's protocol, on every conformance program.
TEST(Cli, RunPrintsPerfAndRingbufRecordsAndWhatWasLost) {
  const std::string object = std::string(BPFVM_OBJECT_PROGS_DIR) + "/events.bpf.o";
  const auto packet = write("p60", std::string(60, '\0'));
  auto o = run_cli("run " + object + " --prog send --data-in " + packet.string() + " --repeat 2");
  ASSERT_EQ(o.status, 0) << o.err;
  const std::string run_once =
      "perf_event_output: samples cpu 0: 00 00 00 00\nperf_event_output: samples cpu 0: 01 00 00 00\n"
      "perf_event_output: samples cpu 0: 02 00 00 00\nringbuf: records: 0e 0d 00 00 00 00 00 00\n";
  EXPECT_TRUE(o.out.starts_with(run_once + run_once + "Return value: 2 (XDP_PASS)")) << o.out;

  o = run_cli("run " + object + " --prog send --data-in " + packet.string() + " --json");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("\"events\":[{\"map\":\"samples\",\"cpu\":0,\"data\":[0,0,0,0]},"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("{\"map\":\"records\",\"data\":[14,13,0,0,0,0,0,0]}]"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find("events_lost"), std::string::npos) << o.out;

  // 1000 samples of 64 bytes (80 with the perf header) in one run: 409 fit in 32 KiB.
  o = run_cli("run " + object + " --prog flood --data-in " + packet.string());
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("perf_event_output: samples cpu 0: 98 01 00 00"), std::string::npos);  // sample 408
  EXPECT_EQ(o.out.find("perf_event_output: samples cpu 0: 99 01 00 00"), std::string::npos);
  EXPECT_NE(o.out.find("perf_event_output: samples cpu 0: lost 591 samples (perf buffer full)\n"), std::string::npos)
      << o.out;
  o = run_cli("run " + object + " --prog flood --data-in " + packet.string() + " --json");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("\"events_lost\":[{\"map\":\"samples\",\"cpu\":0,\"count\":591}]"), std::string::npos);
}

TEST(ConformancePlugin, PassesTheWholeSuite) { EXPECT_EQ(run_conformance_plugin("''"), 313); }

TEST(ConformancePlugin, WrapperScriptSpeaksTheRunnersArgumentOrder) {
  const fs::path wrapper = fs::path(BPFVM_SOURCE_DIR) / "scripts" / "bpfvm-conformance-plugin";
  const fs::path in = temp("wrapper_stdin"), out = temp("wrapper_stdout");
  std::ofstream(in) << "71 10 01 00 00 00 00 00 95 00 00 00 00 00 00 00\n";  // r0 = *(u8 *)(r1 + 1)
  const std::string command = "BPFVM=" + std::string(BPFVM_CLI) + " " + wrapper.string() + " '0a 0b 0c' '' <" +
                              in.string() + " >" + out.string();
  ASSERT_EQ(std::system(command.c_str()), 0);
  EXPECT_EQ(slurp(out), "b\n");
}

TEST(ConformancePlugin, ReportsErrorsOnStdout) {
  auto o = run_cli("conformance-plugin ''", "ff 00 00 00 00 00 00 00 95 00 00 00 00 00 00 00");
  EXPECT_NE(o.status, 0);
  EXPECT_EQ(o.out, "insn 0: unknown opcode ff\n");
  o = run_cli("conformance-plugin '' --jit", "b7 00 00 00 2a 00 00 00 95 00 00 00 00 00 00 00");
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.out, "2a\n");
  o = run_cli("conformance-plugin '' --jit", "ff 00 00 00 00 00 00 00 95 00 00 00 00 00 00 00");
  EXPECT_NE(o.status, 0);
  EXPECT_EQ(o.out, "insn 0: unknown opcode ff\n");
  o = run_cli("conformance-plugin '' --interpret", "b7 00 00 00 2a 00 00 00 95 00 00 00 00 00 00 00");
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.out, "2a\n");
}

}  // namespace
