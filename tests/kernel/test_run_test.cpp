// bpfvm's test runs against the kernel's BPF_PROG_TEST_RUN: the same program on the same
// input must give the same return value, packet and context. Programs are small and
// loop-free. Skipped, saying why, where bpf() is unavailable.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "bpf_syscall.hpp"
#include "differential.hpp"
#include "conformance/data_file.hpp"
#include "hooks/test_run.hpp"
#include "isa/assembler.hpp"

namespace bpfvm::kernel {
namespace {

std::vector<uint8_t> ipv4_frame(std::size_t payload = 32) {
  std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 0x02, 0x04, 0, 0, 0, 0, 0x01, 0x08, 0x00};  // dst, src, IPv4
  for (std::size_t i = 0; i < payload; ++i) f.push_back(static_cast<uint8_t>(0x45 + i));
  return f;
}

const char* const kXdpPacketLength = "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r0, %r3\nsub %r0, %r2\nexit\n";

TEST(TestRun, XdpPass) {
  SKIP_WITHOUT_BPF();
  expect_same(run_both(BPF_PROG_TYPE_XDP, "mov %r0, 2\nexit\n", ipv4_frame()));
}

TEST(TestRun, XdpSeesThePacketBetweenDataAndDataEnd) {
  SKIP_WITHOUT_BPF();
  for (std::size_t payload : {0, 1, 46, 1000}) expect_same(run_both(BPF_PROG_TYPE_XDP, kXdpPacketLength, ipv4_frame(payload)));
}

TEST(TestRun, XdpReadsAndRewritesThePacket) {
  SKIP_WITHOUT_BPF();
  // Bounds check, then swap the two MAC addresses' first bytes and return the EtherType.
  const char* program =
      "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, out\n"
      "ldxb %r5, [%r2+0]\nldxb %r6, [%r2+6]\nstxb [%r2+0], %r6\nstxb [%r2+6], %r5\n"
      "ldxh %r0, [%r2+12]\nexit\nout:\nmov %r0, 1\nexit\n";
  expect_same(run_both(BPF_PROG_TYPE_XDP, program, ipv4_frame()));
}

TEST(TestRun, XdpMetadataFromCtxIn) {
  SKIP_WITHOUT_BPF();
  const auto frame = ipv4_frame();
  xdp_md md{};
  md.data = 8;  // 8 bytes of metadata
  md.data_end = static_cast<uint32_t>(frame.size());
  std::vector<uint8_t> ctx(sizeof(md));
  std::memcpy(ctx.data(), &md, sizeof(md));
  // r0 = data - data_meta
  expect_same(run_both(BPF_PROG_TYPE_XDP, "ldxw %r2, [%r1+8]\nldxw %r3, [%r1+0]\nmov %r0, %r3\nsub %r0, %r2\nexit\n",
                       frame, ctx, sizeof(md)),
              true);
}

TEST(TestRun, SkbFieldsMatchTheKernel) {
  SKIP_WITHOUT_BPF();
  __sk_buff in{};
  in.mark = 0x1234;
  in.priority = 7;
  in.cb[0] = 11;
  in.cb[4] = 55;
  in.tstamp = 999;
  std::vector<uint8_t> ctx(sizeof(in));
  std::memcpy(ctx.data(), &in, sizeof(in));
  struct Field {
    const char* name;
    std::size_t offset;
  };
  const Field fields[] = {
      {"len", offsetof(__sk_buff, len)},           {"pkt_type", offsetof(__sk_buff, pkt_type)},
      {"mark", offsetof(__sk_buff, mark)},         {"queue_mapping", offsetof(__sk_buff, queue_mapping)},
      {"protocol", offsetof(__sk_buff, protocol)}, {"vlan_present", offsetof(__sk_buff, vlan_present)},
      {"priority", offsetof(__sk_buff, priority)}, {"ingress_ifindex", offsetof(__sk_buff, ingress_ifindex)},
      {"ifindex", offsetof(__sk_buff, ifindex)},   {"tc_index", offsetof(__sk_buff, tc_index)},
      {"cb[0]", offsetof(__sk_buff, cb)},          {"cb[4]", offsetof(__sk_buff, cb) + 16},
      {"tc_classid", offsetof(__sk_buff, tc_classid)}, {"wire_len", offsetof(__sk_buff, wire_len)},
      {"gso_size", offsetof(__sk_buff, gso_size)},
  };
  for (uint32_t type : {BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_SOCKET_FILTER}) {
    for (const Field& f : fields) {
      if (type == BPF_PROG_TYPE_SOCKET_FILTER &&
          (f.offset == offsetof(__sk_buff, tc_classid) || f.offset == offsetof(__sk_buff, tc_index) ||
           f.offset == offsetof(__sk_buff, wire_len))) {
        continue;  // not readable by socket filters
      }
      SCOPED_TRACE(std::string(f.name) + (type == BPF_PROG_TYPE_SCHED_CLS ? " (sched_cls)" : " (socket_filter)"));
      expect_same(run_both(type, "ldxw %r0, [%r1+" + std::to_string(f.offset) + "]\nexit\n", ipv4_frame(), ctx));
    }
  }
}

TEST(TestRun, SkbDataStartsAtL2ForTcAndAtL3ForSocketFilters) {
  SKIP_WITHOUT_BPF();
  const char* length = "ldxw %r2, [%r1+76]\nldxw %r3, [%r1+80]\nmov %r0, %r3\nsub %r0, %r2\nexit\n";
  expect_same(run_both(BPF_PROG_TYPE_SCHED_CLS, length, ipv4_frame()));
  // Socket filters read packets through LD_ABS, relative to the network header.
  expect_same(run_both(BPF_PROG_TYPE_SOCKET_FILTER, "mov %r6, %r1\nldabsb 0\nexit\n", ipv4_frame()));
  expect_same(run_both(BPF_PROG_TYPE_SOCKET_FILTER, "mov %r6, %r1\nldabsw 200\nexit\n", ipv4_frame()));
}

TEST(TestRun, SkbWritesComeBackInCtxOut) {
  SKIP_WITHOUT_BPF();
  std::vector<uint8_t> ctx(sizeof(__sk_buff), 0);
  const std::string program = "mov %r2, 77\nstxw [%r1+" + std::to_string(offsetof(__sk_buff, mark)) +
                              "], %r2\nstxw [%r1+" + std::to_string(offsetof(__sk_buff, cb) + 8) +
                              "], %r2\nmov %r0, 0\nexit\n";
  expect_same(run_both(BPF_PROG_TYPE_SCHED_CLS, program, ipv4_frame(), ctx, sizeof(__sk_buff)), true);
}

TEST(TestRun, BadInputIsRejectedLikeTheKernel) {
  SKIP_WITHOUT_BPF();
  // Too short for an Ethernet header; a ctx_in field the kernel does not accept.
  auto short_packet = run_both(BPF_PROG_TYPE_XDP, "mov %r0, 2\nexit\n", {1, 2, 3});
  EXPECT_EQ(short_packet.kernel.error, EINVAL);
  EXPECT_FALSE(short_packet.ours.ok());
  __sk_buff in{};
  in.len = 5;
  std::vector<uint8_t> ctx(sizeof(in));
  std::memcpy(ctx.data(), &in, sizeof(in));
  auto bad_ctx = run_both(BPF_PROG_TYPE_SCHED_CLS, "mov %r0, 0\nexit\n", ipv4_frame(), ctx);
  EXPECT_EQ(bad_ctx.kernel.error, EINVAL);
  ASSERT_FALSE(bad_ctx.ours.ok());
  EXPECT_NE(bad_ctx.ours.error().message.find("only mark, priority"), std::string::npos);
}

}  // namespace
}  // namespace bpfvm::kernel
