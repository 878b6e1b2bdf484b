// The examples, run as the README shows: each prints and counts what it should.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <memory>
#include <string>

namespace {

struct Output {
  int status;
  std::string text;
};

Output run(const std::string& args) {
  const std::string command = std::string(BPFVM_CLI) + " " + args + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::string text;
  char buffer[4096];
  while (pipe && std::fgets(buffer, sizeof(buffer), pipe.get())) text += buffer;
  const int rc = pclose(pipe.release());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, text};
}

std::string example(const std::string& name) { return std::string(BPFVM_EXAMPLES_DIR) + "/" + name + ".bpf.o"; }
std::string packets() { return std::string(BPFVM_SOURCE_DIR) + "/examples/packets.pcap"; }

TEST(Examples, HelloPrintsAndCountsEveryPacket) {
  auto o = run("run " + example("hello") + " --pcap " + packets() + " --dump-maps");
  ASSERT_EQ(o.status, 0) << o.text;
  EXPECT_NE(o.text.find("bpf_trace_printk: Hello World 0\n"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("bpf_trace_printk: Hello World 5\n"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("  XDP_PASS: 6\n"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("map hello.bss (array):\nkey: 00 00 00 00  value: 06 00 00 00\n"), std::string::npos) << o.text;
}

TEST(Examples, HelloMapCountsByUid) {
  auto o = run("run " + example("hello-map") + " --ctx-in /dev/null --repeat 4 --dump-maps --json");
  ASSERT_EQ(o.status, 0) << o.text;
  EXPECT_NE(o.text.find("\"counter_table\":[{\"key\":[0,0,0,0],\"value\":[4,0,0,0,0,0,0,0]}]"), std::string::npos)
      << o.text;  // this test runs as root: uid 0
}

TEST(Examples, HelloFuncDropsIpv6) {
  auto o = run("run " + example("hello-func") + " --pcap " + packets() + " --json");
  ASSERT_EQ(o.status, 0) << o.text;
  EXPECT_NE(o.text.find("\"verdicts\":{\"XDP_DROP\":2,\"XDP_PASS\":4}"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("\"ethertype 0x86dd\""), std::string::npos) << o.text;
}

TEST(Examples, TailCallsRunTheChain) {
  auto o = run("run " + example("tail-calls") + " --prog stage_one --pcap " + packets() + " --json");
  ASSERT_EQ(o.status, 0) << o.text;
  EXPECT_NE(o.text.find("\"trace\":[\"stage one\",\"stage two\",\"stage three\",\"stage one\""), std::string::npos)
      << o.text;
  EXPECT_NE(o.text.find("\"verdicts\":{\"XDP_PASS\":6}"), std::string::npos) << o.text;
}

TEST(Examples, RunUsesTheJitByDefaultAndTheInterpreterOnRequest) {
  for (const char* engine : {"", " --jit", " --interpret"}) {
    auto o = run("run " + example("tail-calls") + " --prog stage_one --pcap " + packets() + " --json" + engine);
    ASSERT_EQ(o.status, 0) << engine << o.text;
    EXPECT_NE(o.text.find("\"trace\":[\"stage one\",\"stage two\",\"stage three\",\"stage one\""), std::string::npos)
        << engine << o.text;
    EXPECT_NE(o.text.find("\"verdicts\":{\"XDP_PASS\":6}"), std::string::npos) << engine << o.text;
  }
  auto o = run("run " + example("hello") + " --pcap " + packets() + " --jit --interpret");
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.text.find("--jit and --interpret exclude each other"), std::string::npos) << o.text;
}

TEST(Examples, XdpFilterDropsUdpAndCountsProtocols) {
  const std::string out = std::string(BPFVM_EXAMPLES_DIR) + "/passed.pcap";
  auto o = run("run " + example("xdp-filter") + " --pcap " + packets() + " --pcap-out " + out + " --dump-maps --json");
  ASSERT_EQ(o.status, 0) << o.text;
  EXPECT_NE(o.text.find("\"verdicts\":{\"XDP_DROP\":3,\"XDP_PASS\":3}"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("\"written\":3"), std::string::npos) << o.text;
  // 3 UDP packets (protocol 17) and 2 IPv6 packets whose next header is 0.
  EXPECT_NE(o.text.find("{\"key\":[0,0,0,0],\"value\":[2,0,0,0,0,0,0,0]}"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("{\"key\":[17,0,0,0],\"value\":[3,0,0,0,0,0,0,0]}"), std::string::npos) << o.text;
}

TEST(Examples, ProgDumpXlatedShowsMapsAndSourceLines) {
  auto o = run("prog dump xlated " + example("hello"));
  ASSERT_EQ(o.status, 0) << o.text;
  EXPECT_NE(o.text.find("hello:\n;   bpf_printk(\"Hello World %d\", counter);\n   0: (18) r6 = map[id:"),
            std::string::npos)
      << o.text;
  EXPECT_NE(o.text.find("][0]+0\n"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("   6: (85) call bpf_trace_printk#6\n;   counter++;\n"), std::string::npos) << o.text;
  o = run("prog dump xlated " + example("tail-calls") + " --prog stage_three --json");
  ASSERT_EQ(o.status, 0) << o.text;
  EXPECT_NE(o.text.find("{\"stage_three\":[{\"disasm\":\"(18) r1 = map[id:"), std::string::npos) << o.text;
  o = run("prog dump xlated " + example("hello") + " --prog nope");
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.text.find("no program named 'nope'"), std::string::npos) << o.text;
}

TEST(Examples, AnApplicationEmbedsExtensionCode) {
  const std::string command = std::string(BPFVM_EXAMPLES_DIR) + "/embed/bpfvm-embed-example " +
                              std::string(BPFVM_EXAMPLES_DIR) + "/embed/scorer.bpf.o hello queue 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::string text;
  char buffer[4096];
  while (pipe && std::fgets(buffer, sizeof(buffer), pipe.get())) text += buffer;
  ASSERT_EQ(pclose(pipe.release()), 0) << text;
  // vowel_weight 3 (set before load): hello = h l l + 2 vowels = 3 + 6; queue = q + 4 vowels = 1 + 12.
  EXPECT_EQ(text, "[extension] scored 9\nhello: 9\n[extension] scored 13\nqueue: 13\ncalls: 2\n");
}

}  // namespace
