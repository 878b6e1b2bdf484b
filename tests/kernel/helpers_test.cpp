// Helpers against the kernel: the same program calling the same helper on the same input
// gives the same result in BPF_PROG_TEST_RUN and in bpfvm. Skipped where bpf() is unavailable.
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <string>

#include "differential.hpp"

namespace bpfvm::kernel {
namespace {

std::vector<uint8_t> udp_frame() {
  // Ethernet + IPv4 (checksum 0xb861 at offset 24) + UDP (checksum at offset 40) + payload.
  return {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00,                          //
          0x45, 0x00, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0xb8, 0x61,                // IPv4
          0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,                                        //
          0x30, 0x39, 0x00, 0x35, 0x00, 0x0c, 0x12, 0x34,                                        // UDP
          'h',  'e',  'y',  '!'};
}

std::string call(int id) { return "call " + std::to_string(id) + "\n"; }

TEST(HelpersVsKernel, CsumDiff) {
  SKIP_WITHOUT_BPF();
  const std::string setup = "stdw [%r10-8], 0x12345678\nstdw [%r10-16], 0x7abcdef0\nstw [%r10-20], -3\n";
  const struct {
    const char* args;
  } cases[] = {
      {"mov %r1, %r10\nadd %r1, -8\nmov %r2, 8\nmov %r3, %r10\nadd %r3, -16\nmov %r4, 8\nmov %r5, 0x1234\n"},
      {"mov %r1, 0\nmov %r2, 0\nmov %r3, %r10\nadd %r3, -20\nmov %r4, 20\nmov %r5, 0\n"},
      {"mov %r1, %r10\nadd %r1, -20\nmov %r2, 12\nmov %r3, 0\nmov %r4, 0\nmov %r5, -1\n"},
      {"mov %r1, %r10\nadd %r1, -8\nmov %r2, 6\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\n"},  // not a multiple of 4
      {"mov %r1, %r10\nadd %r1, -7\nmov %r2, 5\nmov %r3, %r10\nadd %r3, -15\nmov %r4, 3\nmov %r5, 9\n"},  // odd addresses
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args);
    expect_same(run_both(BPF_PROG_TYPE_SCHED_CLS, setup + c.args + call(BPF_FUNC_csum_diff) + "exit\n", udp_frame()));
  }
}

TEST(HelpersVsKernel, ChecksumReplace) {
  SKIP_WITHOUT_BPF();
  const struct {
    int helper;
    int offset;
    const char* from;
    const char* to;
    int flags;
  } cases[] = {
      {BPF_FUNC_l3_csum_replace, 24, "0x0140", "0x0240", 2},             // TTL/proto word changes
      {BPF_FUNC_l3_csum_replace, 24, "0x0100000a", "0x0200000a", 4},     // source address changes
      {BPF_FUNC_l3_csum_replace, 24, "0", "0x1234", 0},                  // by a precomputed diff
      {BPF_FUNC_l3_csum_replace, 25, "0", "1", 2},                       // odd offset
      {BPF_FUNC_l3_csum_replace, 24, "0", "1", 3},                       // bad size
      {BPF_FUNC_l4_csum_replace, 40, "0x0100000a", "0x0200000a", 4 | BPF_F_PSEUDO_HDR},
      {BPF_FUNC_l4_csum_replace, 40, "0x3930", "0x3a30", 2 | BPF_F_MARK_MANGLED_0},
      {BPF_FUNC_l4_csum_replace, 40, "0", "0xedcb", 0 | BPF_F_MARK_MANGLED_0},  // result 0 becomes 0xffff
      {BPF_FUNC_l4_csum_replace, 44, "0", "1", 2},                       // past the packet
  };
  for (const auto& c : cases) {
    const std::string program = "mov %r2, " + std::to_string(c.offset) + "\nmov %r3, " + c.from + "\nmov %r4, " + c.to +
                                "\nmov %r5, " + std::to_string(c.flags) + "\n" + call(c.helper) + "exit\n";
    SCOPED_TRACE(program);
    expect_same(run_both(BPF_PROG_TYPE_SCHED_CLS, program, udp_frame()));
  }
}

TEST(HelpersVsKernel, SkbLoadAndStoreBytes) {
  SKIP_WITHOUT_BPF();
  for (int offset : {0, 12, 38, 40, 300}) {
    const std::string load = "mov %r6, %r1\nmov %r2, " + std::to_string(offset) +
                             "\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 6\n" + call(BPF_FUNC_skb_load_bytes) +
                             "jne %r0, 0, out\nldxdw %r0, [%r10-8]\nout:\nexit\n";
    SCOPED_TRACE(load);
    expect_same(run_both(BPF_PROG_TYPE_SCHED_CLS, "stdw [%r10-8], 0\n" + load, udp_frame()));
    const std::string store = "stdw [%r10-8], 0x55667788\nmov %r2, " + std::to_string(offset) +
                              "\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 4\nmov %r5, 0\n" + call(BPF_FUNC_skb_store_bytes) +
                              "exit\n";
    SCOPED_TRACE(store);
    expect_same(run_both(BPF_PROG_TYPE_SCHED_CLS, store, udp_frame()));
  }
}

// Returns the helper's result in the high half and data_end - data in the low half.
std::string xdp_adjust_program(int helper, int delta) {
  return "mov %r6, %r1\nmov %r2, " + std::to_string(delta) + "\n" + call(helper) +
         "mov %r7, %r0\nlsh %r7, 32\nldxw %r2, [%r6+0]\nldxw %r3, [%r6+4]\nsub %r3, %r2\nor %r7, %r3\n"
         "mov %r0, %r7\nrsh %r0, 32\nexit\n";
}

TEST(HelpersVsKernel, XdpAdjustHeadTail) {
  SKIP_WITHOUT_BPF();
  for (const auto& [helper, delta] : std::vector<std::pair<int, int>>{{BPF_FUNC_xdp_adjust_head, 14},
                                                                      {BPF_FUNC_xdp_adjust_head, -14},
                                                                      {BPF_FUNC_xdp_adjust_head, -300},
                                                                      {BPF_FUNC_xdp_adjust_head, 40},
                                                                      {BPF_FUNC_xdp_adjust_tail, -10},
                                                                      {BPF_FUNC_xdp_adjust_tail, 10},
                                                                      {BPF_FUNC_xdp_adjust_tail, -40},
                                                                      {BPF_FUNC_xdp_adjust_tail, 4000}}) {
    const std::string program = xdp_adjust_program(helper, delta);
    SCOPED_TRACE(program);
    expect_same(run_both(BPF_PROG_TYPE_XDP, program, udp_frame()));
  }
}

TEST(HelpersVsKernel, XdpAdjustMeta) {
  SKIP_WITHOUT_BPF();
  // Some kernels refuse the helper to XDP programs at load time (seen on 6.18: "program of
  // this type cannot use helper"); there is nothing to compare with then.
  auto probe = isa::assemble(xdp_adjust_program(BPF_FUNC_xdp_adjust_meta, -8));
  ASSERT_TRUE(probe.ok());
  const LoadResult loaded = load_program(BPF_PROG_TYPE_XDP, isa::encode(*probe), 1);
  if (loaded.fd < 0 && loaded.log.find("cannot use helper") != std::string::npos) {
    GTEST_SKIP() << "this kernel does not offer bpf_xdp_adjust_meta to XDP programs";
  }
  if (loaded.fd >= 0) close(loaded.fd);
  for (int delta : {-8, -6, -36, 8}) {
    const std::string program = xdp_adjust_program(BPF_FUNC_xdp_adjust_meta, delta);
    SCOPED_TRACE(program);
    expect_same(run_both(BPF_PROG_TYPE_XDP, program, udp_frame()));
  }
}

TEST(HelpersVsKernel, CurrentTaskInATestRun) {
  SKIP_WITHOUT_BPF();
  // A raw_tracepoint test run executes in the calling thread: both see this test's task.
  const std::vector<uint8_t> args(8, 0);
  for (int helper : {BPF_FUNC_get_current_pid_tgid, BPF_FUNC_get_current_uid_gid}) {
    auto both = run_both(BPF_PROG_TYPE_RAW_TRACEPOINT, call(helper) + "rsh %r0, 32\nexit\n", {}, args);
    expect_same(both);
    both = run_both(BPF_PROG_TYPE_RAW_TRACEPOINT, call(helper) + "exit\n", {}, args);
    expect_same(both);
  }
  const std::string comm = "mov %r1, %r10\nadd %r1, -16\nmov %r2, 16\n" + call(BPF_FUNC_get_current_comm) +
                           "ldxdw %r0, [%r10-16]\nexit\n";
  expect_same(run_both(BPF_PROG_TYPE_RAW_TRACEPOINT, comm, {}, args));
}

TEST(HelpersVsKernel, StringToNumber) {
  SKIP_WITHOUT_BPF();
  const std::vector<std::pair<std::string, int>> inputs = {
      {"  -42xyz", 0}, {"0x1f", 0}, {"0x1f", 10}, {"0777", 0}, {"9", 8}, {"-", 0}, {"18446744073709551616", 10},
      {"-9223372036854775808", 10}, {"12", 7}};
  for (const auto& [text, base] : inputs) {
    // The string goes on the stack (8 bytes at a time), then strtol/strtoul into [r10-8].
    std::string program = "stdw [%r10-8], 0\n";
    std::string padded = text;
    padded.resize(((padded.size() + 7) / 8) * 8, '\0');
    for (std::size_t i = 0; i < padded.size(); i += 4) {
      uint32_t word = 0;
      std::memcpy(&word, padded.data() + i, 4);
      program += "stw [%r10-" + std::to_string(40 - i) + "], " + std::to_string(static_cast<int32_t>(word)) + "\n";
    }
    for (int helper : {BPF_FUNC_strtol, BPF_FUNC_strtoul}) {
      const std::string full = program + "mov %r1, %r10\nadd %r1, -40\nmov %r2, " + std::to_string(text.size()) +
                               "\nmov %r3, " + std::to_string(base) + "\nmov %r4, %r10\nadd %r4, -8\n" + call(helper) +
                               "ldxdw %r1, [%r10-8]\nlsh %r0, 48\nxor %r0, %r1\nexit\n";
      SCOPED_TRACE(text + " base " + std::to_string(base) + (helper == BPF_FUNC_strtol ? " strtol" : " strtoul"));
      expect_same(run_both(BPF_PROG_TYPE_RAW_TRACEPOINT, full, {}, std::vector<uint8_t>(8, 0)));
    }
  }
}

}  // namespace
}  // namespace bpfvm::kernel
