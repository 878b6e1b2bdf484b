// Test runs and program types without a kernel (the kernel comparison is tests/kernel/).
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstddef>
#include <cstring>

#include "hooks/pcap_run.hpp"
#include "hooks/test_run.hpp"

#include <fstream>
#include "isa/assembler.hpp"
#include "progtypes/progtypes.hpp"

namespace bpfvm {
namespace {

Result<TestRunResult> run(uint32_t type, std::string_view source, std::vector<uint8_t> data,
                          std::vector<uint8_t> ctx = {}, uint32_t repeat = 1) {
  auto insns = isa::assemble(source);
  EXPECT_TRUE(insns.ok()) << insns.error().to_string();
  static const HelperTable helpers;
  auto interpreter = Interpreter::create(*insns, helpers);
  EXPECT_TRUE(interpreter.ok()) << interpreter.error().to_string();
  return test_run([&](const RunOptions& o) { return interpreter->run(o); },
                  TestRunRequest{type, std::move(data), std::move(ctx), repeat});
}

std::vector<uint8_t> frame(std::size_t size) {
  std::vector<uint8_t> f(size);
  for (std::size_t i = 0; i < size; ++i) f[i] = static_cast<uint8_t>(i);
  return f;
}

TEST(ProgTypes, NamesAndNumbersFollowTheUapi) {
  ASSERT_NE(prog_type_info(BPF_PROG_TYPE_XDP), nullptr);
  EXPECT_EQ(prog_type_info(BPF_PROG_TYPE_XDP)->name, "xdp");
  EXPECT_EQ(prog_type_info(BPF_PROG_TYPE_SCHED_CLS)->name, "sched_cls");
  EXPECT_EQ(prog_type_info(BPF_PROG_TYPE_SYSCALL)->name, "syscall");
  EXPECT_EQ(prog_type_by_name("socket_filter")->type, static_cast<uint32_t>(BPF_PROG_TYPE_SOCKET_FILTER));
  EXPECT_EQ(prog_type_by_name("BPF_PROG_TYPE_KPROBE")->type, static_cast<uint32_t>(BPF_PROG_TYPE_KPROBE));
  EXPECT_EQ(prog_type_by_name("nonsense"), nullptr);
  EXPECT_EQ(prog_type_info(1000), nullptr);
}

TEST(ProgTypes, VerdictNames) {
  EXPECT_EQ(verdict_name(BPF_PROG_TYPE_XDP, 2), "XDP_PASS");
  EXPECT_EQ(verdict_name(BPF_PROG_TYPE_XDP, 1), "XDP_DROP");
  EXPECT_EQ(verdict_name(BPF_PROG_TYPE_XDP, 9), std::nullopt);
  EXPECT_EQ(verdict_name(BPF_PROG_TYPE_SCHED_CLS, 2), "TC_ACT_SHOT");
  EXPECT_EQ(verdict_name(BPF_PROG_TYPE_SCHED_CLS, 0xffffffff), "TC_ACT_UNSPEC");
  EXPECT_EQ(verdict_name(BPF_PROG_TYPE_SOCKET_FILTER, 0), std::nullopt);
}

TEST(TestRunHook, XdpPacketPointersFitThirtyTwoBitFields) {
  auto r = run(BPF_PROG_TYPE_XDP, "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nldxb %r0, [%r2+13]\nexit\n", frame(64));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->retval, 13u);
  EXPECT_EQ(r->data_out, frame(64));
}

TEST(TestRunHook, ProgramsThatCorruptTheContextAreCaught) {
  // Points data_end far away: the run must not copy from there.
  auto r = run(BPF_PROG_TYPE_XDP, "mov %r2, -1\nstxw [%r1+4], %r2\nmov %r0, 2\nexit\n", frame(64));
  // The XDP context is read-only for programs.
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("invalid memory write"), std::string::npos) << r.error().message;
  r = run(BPF_PROG_TYPE_SCHED_CLS, "mov %r2, -1\nstxw [%r1+80], %r2\nmov %r0, 0\nexit\n", frame(64));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "the program left __sk_buff pointing outside its packet buffer");
}

TEST(TestRunHook, PacketWritesComeBack) {
  auto r = run(BPF_PROG_TYPE_SCHED_CLS, "ldxw %r2, [%r1+76]\nstb [%r2+0], 0xee\nmov %r0, 0\nexit\n", frame(20));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->data_out.size(), 20u);
  EXPECT_EQ(r->data_out[0], 0xee);
  EXPECT_EQ(r->data_out[1], 1);
}

TEST(TestRunHook, SocketFiltersStartAtTheNetworkHeader) {
  auto r = run(BPF_PROG_TYPE_SOCKET_FILTER, "ldxw %r0, [%r1+0]\nexit\n", frame(40));  // skb->len
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->retval, 26u);
  ASSERT_EQ(r->data_out.size(), 40u);
  EXPECT_EQ(r->data_out[0], 0);  // the Ethernet header comes back zeroed
  EXPECT_EQ(r->data_out[14], 14);
}

TEST(TestRunHook, MemoryModeAndRawContexts) {
  auto r = run(BPF_PROG_TYPE_UNSPEC, "add %r1, 1\nstb [%r1+0], 9\nmov %r0, %r2\nexit\n", {1, 2, 3});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->retval, 3u);
  EXPECT_EQ(r->data_out, (std::vector<uint8_t>{1, 9, 3}));
  r = run(BPF_PROG_TYPE_RAW_TRACEPOINT, "ldxdw %r0, [%r1+8]\nexit\n", {}, {1, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->retval, 42u);
}

TEST(TestRunHook, RepeatReportsAnAverageDuration) {
  auto r = run(BPF_PROG_TYPE_XDP, "mov %r0, 0\nloop:\nadd %r0, 1\njlt %r0, 100000, loop\nmov %r0, 2\nexit\n", frame(14),
               {}, 3);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_GT(r->duration_ns, 1000u);  // 100k iterations cannot take a microsecond
}

TEST(TestRunHook, UnsupportedAndBadInputs) {
  auto r = run(BPF_PROG_TYPE_CGROUP_SOCK, "mov %r0, 1\nexit\n", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "test runs of cgroup_sock programs are not supported yet");
  r = run(BPF_PROG_TYPE_XDP, "mov %r0, 2\nexit\n", frame(5000));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("multi-buffer"), std::string::npos);
  r = run(BPF_PROG_TYPE_KPROBE, "mov %r0, 0\nexit\n", frame(8));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "this program type takes ctx_in, not data_in");
}

}  // namespace
}  // namespace bpfvm

namespace bpfvm {
namespace {

TEST(PcapRun, CountsVerdictsAndWritesThePacketsThatGoOn) {
  // Drop IPv6, bounce (XDP_TX) ARP with its first byte rewritten, pass the rest.
  const char* program =
      "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\nmov %r0, 1\njgt %r4, %r3, out\n"
      "ldxh %r5, [%r2+12]\nmov %r0, 1\njeq %r5, 0xdd86, out\nmov %r0, 2\njne %r5, 0x0608, out\n"
      "stb [%r2+0], 0xaa\nmov %r0, 3\nout:\nexit\n";
  auto insns = isa::assemble(program);
  ASSERT_TRUE(insns.ok()) << insns.error().to_string();
  static const HelperTable helpers;
  auto interpreter = Interpreter::create(*insns, helpers);
  ASSERT_TRUE(interpreter.ok());
  auto packet = [](uint16_t ethertype, uint8_t fill) {
    std::vector<uint8_t> p(60, fill);
    p[12] = static_cast<uint8_t>(ethertype >> 8);
    p[13] = static_cast<uint8_t>(ethertype);
    return p;
  };
  const std::string in = ::testing::TempDir() + "/bpfvm_in.pcap", out = ::testing::TempDir() + "/bpfvm_out.pcap";
  ASSERT_TRUE(write_pcap(in, {packet(0x0800, 1), packet(0x86dd, 2), packet(0x0806, 3), packet(0x0800, 4)}).ok());
  auto r = run_pcap([&](const RunOptions& o) { return interpreter->run(o); },
                    PcapRunOptions{BPF_PROG_TYPE_XDP, in, out, 1});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->packets, 4u);
  EXPECT_EQ(r->written, 3u);
  EXPECT_EQ(r->verdicts["XDP_PASS"], 2u);
  EXPECT_EQ(r->verdicts["XDP_DROP"], 1u);
  EXPECT_EQ(r->verdicts["XDP_TX"], 1u);
  auto written = read_pcap(out);
  ASSERT_TRUE(written.ok()) << written.error().to_string();
  ASSERT_EQ(written->size(), 3u);
  EXPECT_EQ((*written)[0], packet(0x0800, 1));
  auto bounced = packet(0x0806, 3);
  bounced[0] = 0xaa;
  EXPECT_EQ((*written)[1], bounced);
  EXPECT_EQ((*written)[2], packet(0x0800, 4));
}

TEST(PcapRun, BadInputsAreClearErrors) {
  static const HelperTable helpers;
  auto insns = isa::assemble("mov %r0, 2\nexit\n");
  auto interpreter = Interpreter::create(*insns, helpers);
  auto runner = [&](const RunOptions& o) { return interpreter->run(o); };
  auto r = run_pcap(runner, PcapRunOptions{BPF_PROG_TYPE_XDP, "/nonexistent.pcap", std::nullopt, 1});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot read pcap /nonexistent.pcap"), std::string::npos) << r.error().message;
  r = run_pcap(runner, PcapRunOptions{BPF_PROG_TYPE_KPROBE, "/nonexistent.pcap", std::nullopt, 1});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("do not run on packets"), std::string::npos);
  const std::string not_pcap = ::testing::TempDir() + "/bpfvm_not.pcap";
  std::ofstream(not_pcap) << "this is not a pcap file";
  r = run_pcap(runner, PcapRunOptions{BPF_PROG_TYPE_XDP, not_pcap, std::nullopt, 1});
  ASSERT_FALSE(r.ok());
  // A packet too short for Ethernet: the error names the packet.
  const std::string tiny = ::testing::TempDir() + "/bpfvm_tiny.pcap";
  ASSERT_TRUE(write_pcap(tiny, {std::vector<uint8_t>(60, 0), std::vector<uint8_t>(5, 0)}).ok());
  r = run_pcap(runner, PcapRunOptions{BPF_PROG_TYPE_XDP, tiny, std::nullopt, 1});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("packet 2 of"), std::string::npos) << r.error().message;
}

TEST(PcapRun, PacketsHeldInMemoryTakeTheSamePath) {
  static const HelperTable helpers;
  auto returning = [](int value) {
    auto insns = isa::assemble("mov %r0, " + std::to_string(value) + "\nexit\n");
    auto interpreter = Interpreter::create(*insns, helpers);
    EXPECT_TRUE(interpreter.ok());
    return std::make_shared<Interpreter>(std::move(*interpreter));
  };
  auto runner = [](std::shared_ptr<Interpreter> i) {
    return ProgramRunner([i](const RunOptions& o) { return i->run(o); });
  };
  const std::vector<uint8_t> packet(60, 7);
  PcapRunResult totals;
  auto passed = run_packet(runner(returning(2)), BPF_PROG_TYPE_XDP, packet, 1, totals);
  ASSERT_TRUE(passed.ok()) << passed.error().to_string();
  EXPECT_EQ(*passed, std::optional<std::vector<uint8_t>>(packet));
  auto dropped = run_packet(runner(returning(1)), BPF_PROG_TYPE_XDP, packet, 1, totals);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, std::nullopt);
  // A socket filter keeps as many bytes as it returns (from the network header on).
  auto kept = run_packet(runner(returning(20)), BPF_PROG_TYPE_SOCKET_FILTER, packet, 1, totals);
  ASSERT_TRUE(kept.ok());
  ASSERT_TRUE(kept->has_value());
  EXPECT_EQ((*kept)->size(), 20u);
  EXPECT_EQ(totals.packets, 3u);
  EXPECT_EQ(totals.verdicts["XDP_PASS"], 1u);
  EXPECT_EQ(totals.verdicts["XDP_DROP"], 1u);

  auto wrong_type = run_packet(runner(returning(0)), BPF_PROG_TYPE_KPROBE, packet, 1, totals);
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_NE(wrong_type.error().message.find("do not run on packets"), std::string::npos);
  auto too_short = run_packet(runner(returning(2)), BPF_PROG_TYPE_XDP, std::vector<uint8_t>(5, 0), 1, totals);
  EXPECT_FALSE(too_short.ok());
}

}  // namespace
}  // namespace bpfvm
