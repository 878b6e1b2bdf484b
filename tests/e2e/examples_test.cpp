// The examples, run as the README shows: each prints and counts what it should.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "support/golden.hpp"

namespace {

struct Output {
  int status;
  std::string text;
};

// Runs a shell command line, both streams captured together.
Output run_shell(const std::string& command_line) {
  const std::string command = command_line + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::string text;
  char buffer[4096];
  while (pipe && std::fgets(buffer, sizeof(buffer), pipe.get())) text += buffer;
  const int rc = pclose(pipe.release());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, text};
}

Output run(const std::string& args) { return run_shell(std::string(BPFVM_CLI) + " " + args); }

std::string example(const std::string& name) { return std::string(BPFVM_EXAMPLES_DIR) + "/" + name + ".bpf.o"; }
std::string packets() { return std::string(BPFVM_SOURCE_DIR) + "/examples/packets.pcap"; }

TEST(Examples, HelloPrintsAndCountsEveryPacket) {
  auto o = run("run " + example("hello") + " --pcap " + packets() + " --dump-maps");
  ASSERT_EQ(o.status, 0) << o.text;
  EXPECT_NE(o.text.find("bpf_trace_printk: Hello World 0\n"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("bpf_trace_printk: Hello World 5\n"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("  XDP_PASS: 6\n"), std::string::npos) << o.text;
  // The counter, formatted by its BTF type as `bpftool map dump` prints global data.
  EXPECT_NE(o.text.find("map hello.bss (array):\n[{\n        \"value\": {\n            \".bss\": [{\n"
                        "                    \"counter\": 6\n                }\n            ]\n        }\n    }\n]\n"),
            std::string::npos)
      << o.text;
}

// A record as hello-buffer sends it: {int pid; int uid; char command[16]; char message[12]}.
std::string hello_record_hex(int pid, int uid) {
  uint8_t bytes[36] = {};
  std::memcpy(bytes, &pid, 4);
  std::memcpy(bytes + 4, &uid, 4);
  std::memcpy(bytes + 8, "bpfvm", 5);  // the command of the process running the program
  std::memcpy(bytes + 24, "Hello World", 11);
  std::string hex;
  for (uint8_t b : bytes) hex += (hex.empty() ? "" : " ") + fmt::format("{:02x}", b);
  return hex;
}

TEST(Examples, HelloBufferSendsARecordPerPacketThroughThePerfBuffer) {
  // `exec` keeps the shell's pid, which the shell prints first: the pid the records carry.
  auto o = run_shell("echo $$; exec " + std::string(BPFVM_CLI) + " run " + example("hello-buffer") + " --pcap " +
                     packets());
  ASSERT_EQ(o.status, 0) << o.text;
  const int pid = std::stoi(o.text);
  const std::string line = "perf_event_output: output cpu 0: " + hello_record_hex(pid, static_cast<int>(getuid())) + "\n";
  std::size_t count = 0;
  for (auto at = o.text.find(line); at != std::string::npos; at = o.text.find(line, at + 1)) ++count;
  EXPECT_EQ(count, 6u) << line << o.text;  // one per packet
  EXPECT_EQ(o.text.find("lost"), std::string::npos) << o.text;

  o = run("run " + example("hello-buffer") + " --pcap " + packets() + " --json");
  ASSERT_EQ(o.status, 0) << o.text;
  const auto json = nlohmann::json::parse(o.text);
  ASSERT_EQ(json["events"].size(), 6u) << o.text;
  const auto& event = json["events"][0];
  EXPECT_EQ(event["map"], "output");
  EXPECT_EQ(event["cpu"], 0);
  const std::vector<uint8_t> data = event["data"];
  ASSERT_EQ(data.size(), 36u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(data.data()) + 8), "bpfvm");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(data.data()) + 24), "Hello World");
  EXPECT_FALSE(json.contains("events_lost"));
}

TEST(Examples, HelloMapCountsByUid) {
  auto o = run("run " + example("hello-map") + " --ctx-in /dev/null --repeat 4 --dump-maps --json");
  ASSERT_EQ(o.status, 0) << o.text;
  EXPECT_NE(o.text.find("\"counter_table\":[{\"key\":[0,0,0,0],\"value\":[4,0,0,0,0,0,0,0],"
                        "\"formatted\":{\"key\":0,\"value\":4}}]"), std::string::npos)
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
  // Which of its three programs runs is not guessed.
  o = run("run " + example("tail-calls") + " --pcap " + packets());
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.text.find("the object has 3 programs ("), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("); choose one with --prog"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("stage_one"), std::string::npos) << o.text;
  o = run("run " + example("tail-calls") + " --prog nope --pcap " + packets());
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.text.find("no program named 'nope' (the object has: "), std::string::npos) << o.text;
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
  EXPECT_NE(o.text.find("{\"key\":[0,0,0,0],\"value\":[2,0,0,0,0,0,0,0],\"formatted\":{\"key\":0,\"value\":2}}"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("{\"key\":[17,0,0,0],\"value\":[3,0,0,0,0,0,0,0],\"formatted\":{\"key\":17,\"value\":3}}"), std::string::npos) << o.text;
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

TEST(Examples, EveryExampleVerifies) {
  for (const char* name : {"hello", "hello-map", "hello-func", "tail-calls", "xdp-filter"}) {
    SCOPED_TRACE(name);
    auto o = run("verify " + example(name) + " --log-level 0 --json");
    EXPECT_EQ(o.status, 0) << o.text;
    EXPECT_NE(o.text.find("\"accepted\":true"), std::string::npos) << o.text;
    EXPECT_EQ(o.text.find("\"accepted\":false"), std::string::npos) << o.text;
  }
}

TEST(Examples, VerifyRawProgramReportsTheKernelsMessage) {
  const std::string path = std::string(BPFVM_EXAMPLES_DIR) + "/null-deref.json";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(R"({"prog_type": "xdp", "maps": [{"type": "hash", "key_size": 8, "value_size": 8, "max_entries": 4}],
    "insns": ["b7010000 00000000", "7b1af8ff 00000000", "bfa20000 00000000", "07020000 f8ffffff",
              "18010000 00000000", "00000000 00000000", "85000000 01000000", "79000000 00000000",
              "95000000 00000000"],
    "map_fixups": [{"map": 0, "insns": [4]}]})", f);
  std::fclose(f);
  auto o = run("verify --insns " + path + " --json");
  EXPECT_EQ(o.status, 1) << o.text;
  EXPECT_NE(o.text.find("\"errno\":13"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("R0 invalid mem access 'map_value_or_null'"), std::string::npos) << o.text;
  auto bad = run("verify --insns " + path + ".missing");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.text.find("error"), std::string::npos) << bad.text;
}

TEST(Examples, VerifyShowsWhatTheVerifierProved) {
  // r1 = 5 makes the jump always taken, so `r0 = 1` is dead, and the divisor is always 2.
  const std::string path = std::string(BPFVM_EXAMPLES_DIR) + "/facts.json";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(R"({"prog_type": "xdp",
    "asm": "mov %r1, 5\njgt %r1, 3, +1\nmov %r0, 1\nmov %r0, 7\nmov %r2, 2\ndiv %r0, %r2\nexit"})", f);
  std::fclose(f);
  auto o = run("verify --insns " + path + " --facts");
  ASSERT_EQ(o.status, 0) << o.text;
  EXPECT_NE(o.text.find("facts (what the JIT uses):\n"
                        "        1: (25) if r1 > 0x3 goto pc+1: always taken\n"
                        "        2: (b7) r0 = 1: dead: no path reaches it\n"
                        "        5: (3f) r0 /= r2: divisor is always 2\n"),
            std::string::npos)
      << o.text;
  o = run("verify --insns " + path + " --facts --json");
  ASSERT_EQ(o.status, 0) << o.text;
  EXPECT_NE(o.text.find(R"("facts":[{"facts":["always taken"],"insn":1,"last":1,"text":"(25) if r1 > 0x3 goto pc+1"})"),
            std::string::npos)
      << o.text;
  // Nothing to say about hello.
  o = run("verify " + example("hello") + " --facts --log-level 0");
  ASSERT_EQ(o.status, 0) << o.text;
  EXPECT_NE(o.text.find("hello (xdp): accepted\nfacts: none\n"), std::string::npos) << o.text;
}

// The mistakes of "Learning eBPF" chapter 6: the kernel's message (checked against the kernel
// in kernel_test) and bpfvm's explanation, as golden files.
TEST(Examples, VerifierFailuresAreExplained) {
  auto ok = run("verify " + std::string(BPFVM_EXAMPLES_DIR) + "/verifier/hello-verifier.bpf.o --log-level 0");
  EXPECT_EQ(ok.status, 0) << ok.text;
  for (const char* name : {"no-license", "wrong-map", "null-deref", "past-end"}) {
    SCOPED_TRACE(name);
    auto o = run("verify " + std::string(BPFVM_EXAMPLES_DIR) + "/verifier/" + name + ".bpf.o --log-level 0");
    EXPECT_EQ(o.status, 1) << o.text;
    bpfvm::test::check_golden(std::string("verifier/") + name + ".txt", o.text);
  }
}

}  // namespace
