// Helper semantics that need no kernel: bpf_printk's format rules and output, callbacks,
// faulting reads, the table's rows. (tests/kernel/helpers_test.cpp compares with Linux.)
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include "exec/interpreter.hpp"
#include "helpers/linux_helpers.hpp"
#include "helpers/printk.hpp"
#include "isa/assembler.hpp"

namespace bpfvm {
namespace {

struct Lines final : TraceSink {
  std::vector<std::string> lines;
  void write(std::string_view message) override { lines.emplace_back(message); }
};

Result<uint64_t> run(std::string_view source, Lines* trace = nullptr, std::vector<uint8_t>* memory = nullptr) {
  auto insns = isa::assemble(source);
  if (!insns) return insns.error();
  auto interpreter = Interpreter::create(*insns, linux_helpers());
  if (!interpreter) return interpreter.error();
  RunOptions options;
  options.trace = trace;
  if (memory) {
    options.args[0] = reinterpret_cast<uint64_t>(memory->data());
    options.regions.push_back(MemoryRegion{memory->data(), memory->size(), true});
  }
  return interpreter->run(options);
}

// Pushes a NUL-terminated string to the stack at r10-off (off a multiple of 8 covering it).
std::string push_string(const std::string& text, int off) {
  std::string padded = text;
  padded.resize(static_cast<std::size_t>(off), '\0');
  std::string program;
  for (std::size_t i = 0; i < padded.size(); i += 4) {
    int32_t word;
    std::memcpy(&word, padded.data() + i, 4);
    program += "stw [%r10-" + std::to_string(off - static_cast<int>(i)) + "], " + std::to_string(word) + "\n";
  }
  return program;
}

MemoryReader no_memory() {
  return [](uint64_t, void*, std::size_t) { return false; };
}

TEST(Printk, FormatsLikeTheKernel) {
  const uint64_t args[] = {static_cast<uint64_t>(-5), 0xffffffff00000010ull, 255};
  auto s = bprintf("a=%d b=%u c=%x %%", args, no_memory());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "a=-5 b=16 c=ff %");  // %d/%u/%x take 32 bits
  s = bprintf("%ld %lu %llx %5d|%-4x|%05d", std::vector<uint64_t>{static_cast<uint64_t>(-5), 1ull << 40, 0xabc, 42, 10, static_cast<uint64_t>(-3)}, no_memory());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "-5 1099511627776 abc    42|a   |-0003");
  s = bprintf("%c%c %s", std::vector<uint64_t>{'o', 'k', 0x1000}, no_memory());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "ok (efault)");
}

TEST(Printk, RejectsWhatTheKernelRejects) {
  const uint64_t one[] = {1};
  EXPECT_FALSE(bprintf("%d %d", one, no_memory()).ok());      // more conversions than arguments
  EXPECT_FALSE(bprintf("%f", one, no_memory()).ok());         // no floating point
  EXPECT_FALSE(bprintf("%.3d", one, no_memory()).ok());       // no precision
  EXPECT_FALSE(bprintf("%pX", one, no_memory()).ok());        // unknown pointer extension
  EXPECT_FALSE(bprintf("caf\xc3\xa9", one, no_memory()).ok());  // not ASCII
  EXPECT_TRUE(bprintf("%pI4", one, [](uint64_t, void* out, std::size_t n) {
                std::memset(out, 7, n);
                return true;
              }).ok());
}

TEST(Printk, IpAddresses) {
  const uint64_t arg[] = {0};
  auto reader = [](uint64_t, void* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) static_cast<uint8_t*>(out)[i] = static_cast<uint8_t>(i + 1);
    return true;
  };
  EXPECT_EQ(*bprintf("%pI4", arg, reader), "1.2.3.4");
  EXPECT_EQ(*bprintf("%pi4", arg, reader), "001.002.003.004");
  EXPECT_EQ(*bprintf("%pI6", arg, reader), "0102:0304:0506:0708:090a:0b0c:0d0e:0f10");
  EXPECT_EQ(*bprintf("%pi6", arg, reader), "0102030405060708090a0b0c0d0e0f10");
}

TEST(Helpers, TracePrintkWritesALineAndReturnsItsLength) {
  Lines trace;
  const std::string program = push_string("Hello World %d\n", 16) + "mov %r1, %r10\nadd %r1, -16\nmov %r2, 16\nmov %r3, 7\n"
                              "call 6\nexit\n";
  auto r = run(program, &trace);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, 14u);
  ASSERT_EQ(trace.lines.size(), 1u);
  EXPECT_EQ(trace.lines[0], "Hello World 7");
}

TEST(Helpers, TracePrintkNeedsATerminatedFormat) {
  Lines trace;
  const std::string program = push_string("abcdefgh", 8) + "mov %r1, %r10\nadd %r1, -8\nmov %r2, 8\ncall 6\nexit\n";
  auto r = run(program, &trace);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(static_cast<int64_t>(*r), -EINVAL);
  EXPECT_TRUE(trace.lines.empty());
}

TEST(Helpers, VprintkTakesAnArgumentArray) {
  Lines trace;
  // Format at r10-16, "xyz" at r10-24, the argument array {1, 2, &"xyz"} at r10-56.
  const std::string program = push_string("%d-%d-%s", 16) + "stw [%r10-24], 0x7a7978\n" +
                              "stdw [%r10-56], 1\nstdw [%r10-48], 2\nmov %r1, %r10\nadd %r1, -24\nstxdw [%r10-40], %r1\n"
                              "mov %r1, %r10\nadd %r1, -16\nmov %r2, 16\nmov %r3, %r10\nadd %r3, -56\nmov %r4, 24\n"
                              "call 177\nexit\n";
  auto r = run(program, &trace);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(trace.lines.size(), 1u);
  EXPECT_EQ(trace.lines[0], "1-2-xyz");
}

TEST(Helpers, LoopRunsTheCallback) {
  auto r = run("stdw [%r10-8], 0\nmov %r1, 10\nlddw_func %r2, cb\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\ncall 181\n"
               "ldxdw %r1, [%r10-8]\nlsh %r0, 16\nor %r0, %r1\nexit\n"
               "cb:\nldxdw %r3, [%r2+0]\nadd %r3, %r1\nstxdw [%r2+0], %r3\nmov %r0, 0\njlt %r1, 5, +1\nmov %r0, 1\nexit\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, (6u << 16) | (0 + 1 + 2 + 3 + 4 + 5));  // stopped after index 5: 6 iterations
  r = run("mov %r1, 10\nlddw_func %r2, cb\nmov %r3, 0\nmov %r4, 1\ncall 181\nexit\ncb:\nmov %r0, 0\nexit\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(static_cast<int64_t>(*r), -EINVAL);  // flags must be 0
}

TEST(Helpers, ErrorsInCallbacksStopTheProgram) {
  auto r = run("mov %r1, 3\nlddw_func %r2, cb\nmov %r3, 0\nmov %r4, 0\ncall 181\nexit\n"
               "cb:\nmov %r5, 0\nldxdw %r0, [%r5+0]\nexit\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("invalid memory read"), std::string::npos);
  EXPECT_EQ(r.error().insn, 8u);
}

TEST(Helpers, ProbeReadFaultsInsteadOfCrashing) {
  auto r = run("mov %r1, %r10\nadd %r1, -8\nmov %r2, 8\nmov %r3, 16\ncall 113\nexit\n");  // address 16
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(static_cast<int64_t>(*r), -EFAULT);
  std::vector<uint8_t> memory = {'h', 'i', 0, 'x'};
  const std::string program = "mov %r3, %r1\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\ncall 115\nexit\n";  // _str
  r = run(program, nullptr, &memory);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, 3u);  // "hi" and its NUL
}

TEST(Helpers, SnprintfTruncatesAndReportsTheFullLength) {
  std::vector<uint8_t> memory(16, 0xff);
  const std::string program = push_string("n=%d", 8) + "stdw [%r10-16], 12345\nmov %r6, %r1\n"
                              "mov %r1, %r6\nmov %r2, 5\nmov %r3, %r10\nadd %r3, -8\nmov %r4, %r10\nadd %r4, -16\n"
                              "mov %r5, 8\ncall 165\nexit\n";
  auto r = run(program, nullptr, &memory);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, 8u);  // "n=12345" + NUL
  EXPECT_EQ(std::string(reinterpret_cast<char*>(memory.data())), "n=12");
}

TEST(Helpers, TableRowsCarryTheKernelsNamesAndPrototypes) {
  const Helper* printk = linux_helpers().find(BPF_FUNC_trace_printk);
  ASSERT_NE(printk, nullptr);
  EXPECT_EQ(printk->name, "bpf_trace_printk");
  EXPECT_TRUE(printk->proto.gpl_only);
  EXPECT_EQ(printk->proto.args[0], ArgType::kPtrToMem);
  EXPECT_EQ(printk->proto.args[1], ArgType::kConstSize);
  const Helper* ktime = linux_helpers().find(BPF_FUNC_ktime_get_ns);
  ASSERT_NE(ktime, nullptr);
  EXPECT_FALSE(ktime->proto.gpl_only);
  EXPECT_EQ(ktime->proto.args[0], ArgType::kNone);
  auto t1 = run("call 5\nmov %r6, %r0\ncall 5\nsub %r0, %r6\nexit\n");
  ASSERT_TRUE(t1.ok());
  EXPECT_LT(*t1, 1'000'000'000u);  // monotonic, and the two calls are close
}

}  // namespace
}  // namespace bpfvm
