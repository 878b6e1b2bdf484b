// Test runs and program types without a kernel (the kernel comparison is tests/kernel/).
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstddef>
#include <cstring>

#include "hooks/test_run.hpp"
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
