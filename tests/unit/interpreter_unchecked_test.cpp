// The interpreter's unchecked executor (verified programs): pre-decoded slots,
// superinstructions, threaded jumps and inline ARRAY lookups must compute exactly what the
// checked executor computes. Each case exercises one superinstruction family, including the
// ways it must not fire (a register that differs, a jump into the middle of a fused pair).
#include <gtest/gtest.h>

#include <linux/bpf.h>

#include <cstring>

#include "conformance/data_file.hpp"
#include "exec/interpreter.hpp"
#include "helpers/linux_helpers.hpp"
#include "isa/assembler.hpp"
#include "maps/map.hpp"

namespace bpfvm {
namespace {

const HelperTable& helpers() {
  static const HelperTable table = conformance::conformance_helpers();
  return table;
}

struct Both {
  uint64_t checked = 0;
  uint64_t unchecked = 0;
  std::vector<uint8_t> checked_memory;
  std::vector<uint8_t> unchecked_memory;
};

// Runs the program in both modes on copies of `memory` (r1 = it, r2 = its size).
Both run_both(std::string_view source, const std::vector<uint8_t>& memory = std::vector<uint8_t>(64),
              const HelperTable& table = helpers()) {
  auto insns = isa::assemble(source);
  EXPECT_TRUE(insns.ok()) << (insns.ok() ? "" : insns.error().to_string());
  if (!insns) return {};
  Both out;
  for (bool checked : {true, false}) {
    auto interpreter = Interpreter::create(*insns, table, InterpreterOptions{.checked = checked});
    EXPECT_TRUE(interpreter.ok()) << interpreter.error().to_string();
    if (!interpreter) return {};
    EXPECT_EQ(interpreter->checked(), checked);
    std::vector<uint8_t> m = memory;
    auto r = interpreter->run(memory_run_options(m));
    EXPECT_TRUE(r.ok()) << (checked ? "checked: " : "unchecked: ") << r.error().to_string();
    (checked ? out.checked : out.unchecked) = r.ok() ? *r : 0xdeadbeef;
    (checked ? out.checked_memory : out.unchecked_memory) = m;
  }
  return out;
}

// The result, after checking both modes agree on it and on memory.
uint64_t agreed(std::string_view source, const std::vector<uint8_t>& memory = std::vector<uint8_t>(64),
                const HelperTable& table = helpers()) {
  const Both b = run_both(source, memory, table);
  EXPECT_EQ(b.checked, b.unchecked) << source;
  EXPECT_EQ(b.checked_memory, b.unchecked_memory) << source;
  return b.checked;
}

TEST(UncheckedInterpreter, StraightLineArithmetic) {
  EXPECT_EQ(agreed("mov %r0, 5\nadd %r0, 7\nmul %r0, 3\nexit\n"), 36u);
  EXPECT_EQ(agreed("lddw %r0, 0x123456789\nmov32 %r1, %r0\nmov %r0, %r1\nexit\n"), 0x23456789u);
}

TEST(UncheckedInterpreter, ThreeAddressArithmetic) {
  // a = b; a op= x, with x an immediate, another register, or a itself (not fused).
  EXPECT_EQ(agreed("mov %r1, 40\nmov %r0, %r1\nadd %r0, 2\nexit\n"), 42u);
  EXPECT_EQ(agreed("mov %r1, 40\nmov %r2, 3\nmov %r0, %r1\nsub %r0, %r2\nexit\n"), 37u);
  EXPECT_EQ(agreed("mov %r1, 40\nmov %r0, %r1\nadd %r0, %r0\nexit\n"), 80u);
  EXPECT_EQ(agreed("mov %r1, 40\nmov %r0, %r1\nadd %r0, %r1\nexit\n"), 80u);
  EXPECT_EQ(agreed("mov %r1, -64\nmov %r0, %r1\narsh %r0, 3\nexit\n"), static_cast<uint64_t>(-8));
  EXPECT_EQ(agreed("mov %r1, 1\nmov %r2, 65\nmov %r0, %r1\nlsh %r0, %r2\nexit\n"), 2u);  // amount masked
  // The move's destination differs from the operation's: a generic pair, not three-address.
  EXPECT_EQ(agreed("mov %r1, 40\nmov %r0, 1\nmov %r2, %r1\nadd %r0, 2\nadd %r0, %r2\nexit\n"), 43u);
}

TEST(UncheckedInterpreter, ZeroAndSignExtension) {
  EXPECT_EQ(agreed("lddw %r0, 0xffffffff80000001\nlsh %r0, 32\nrsh %r0, 32\nexit\n"), 0x80000001u);
  EXPECT_EQ(agreed("lddw %r0, 0x80000001\nlsh %r0, 32\narsh %r0, 32\nexit\n"), 0xffffffff80000001u);
  // Other amounts are plain shifts.
  EXPECT_EQ(agreed("lddw %r0, 0xffffffff80000001\nlsh %r0, 32\nrsh %r0, 31\nexit\n"), 0x100000002u);
  EXPECT_EQ(agreed("lddw %r0, 0xffffffff80000001\nlsh %r0, 31\nrsh %r0, 32\nexit\n"), 0xc0000000u);
  EXPECT_EQ(agreed("lddw %r0, 0xffffffff80000001\nlsh %r0, 32\nrsh %r1, 32\nexit\n"), 0x8000000100000000u);
}

TEST(UncheckedInterpreter, LoopCounterAndItsTest) {
  // r1 += 1; if r1 != 10 goto: every condition of the list, and a test of another register.
  EXPECT_EQ(agreed("mov %r0, 0\nmov %r1, 0\nloop:\nadd %r0, 3\nadd %r1, 1\njne %r1, 10, loop\nexit\n"), 30u);
  EXPECT_EQ(agreed("mov %r0, 0\nmov %r1, 0\nloop:\nadd %r0, 1\nadd %r1, 2\njlt %r1, 9, loop\nexit\n"), 5u);
  EXPECT_EQ(agreed("mov %r0, 0\nmov %r1, 5\nloop:\nadd %r0, 1\nadd %r1, -1\njsgt %r1, -3, loop\nexit\n"), 8u);
  EXPECT_EQ(agreed("mov %r0, 0\nmov %r1, 0\nloop:\nadd %r0, 1\nadd %r1, 1\njeq %r1, 4, out\nja loop\nout:\nexit\n"), 4u);
  EXPECT_EQ(agreed("mov %r0, 0\nmov %r1, 0\nmov %r2, 0\nloop:\nadd %r0, 1\nadd %r1, 1\njne %r2, 0, loop\nexit\n"), 1u);
}

TEST(UncheckedInterpreter, BoundsCheck) {
  // r3 = r1; r3 += k; if r3 > r2 goto: in and out of bounds, and with the limit in the register
  // being written (not fused).
  const char* source =
      "mov %r0, 0\n"
      "mov %r4, %r1\n"
      "add %r4, %r2\n"
      "loop:\n"
      "mov %r3, %r1\n"
      "add %r3, 8\n"
      "jgt %r3, %r4, out\n"
      "add %r0, 1\n"
      "add %r1, 8\n"
      "ja loop\n"
      "out:\n"
      "exit\n";
  EXPECT_EQ(agreed(source), 8u);
  // A packet loop: p = data; p += i; then the bounds check of p + 1, over 64 bytes.
  const char* indexed =
      "mov %r0, 0\n"
      "mov %r6, 0\n"
      "mov %r4, %r1\n"
      "add %r4, %r2\n"
      "loop:\n"
      "mov %r5, %r1\n"
      "add %r5, %r6\n"
      "mov %r3, %r5\n"
      "add %r3, 1\n"
      "jgt %r3, %r4, out\n"
      "ldxb %r3, [%r5]\n"
      "add %r0, %r3\n"
      "add %r6, 1\n"
      "ja loop\n"
      "out:\n"
      "exit\n";
  std::vector<uint8_t> bytes(64);
  for (std::size_t k = 0; k < bytes.size(); ++k) bytes[k] = static_cast<uint8_t>(k);
  EXPECT_EQ(agreed(indexed, bytes), 63u * 64u / 2u);
  EXPECT_EQ(agreed("mov %r3, 5\nmov %r0, %r3\nadd %r0, 1\njgt %r0, %r0, +1\nmov %r0, 99\nexit\n"), 99u);
}

TEST(UncheckedInterpreter, StackArrayAddress) {
  // r3 = r10; r3 += -16; r3 += r4, then a store through it; and with r3 as the added register
  // (not fused).
  const char* source =
      "mov %r4, 3\n"
      "stxdw [%r10-16], %r4\n"
      "stxdw [%r10-8], %r4\n"
      "mov %r3, %r10\n"
      "add %r3, -16\n"
      "add %r3, %r4\n"
      "mov %r5, 7\n"
      "stxb [%r3], %r5\n"
      "mov %r3, %r10\n"
      "add %r3, -8\n"
      "add %r3, %r3\n"
      "ldxdw %r0, [%r10-16]\n"
      "exit\n";
  EXPECT_EQ(agreed(source), 0x07000003u);
}

TEST(UncheckedInterpreter, LoadAndTest) {
  std::vector<uint8_t> memory(16);
  memory[0] = 0x48;
  memory[1] = 0x54;
  const char* source =
      "mov %r0, 0\n"
      "ldxb %r3, [%r1]\n"
      "jne %r3, 0x48, out\n"
      "or %r0, 1\n"
      "ldxb %r3, [%r1+1]\n"
      "jeq %r3, 0x54, two\n"
      "ja out\n"
      "two:\n"
      "or %r0, 2\n"
      "ldxh %r3, [%r1+2]\n"
      "jeq %r3, 1, out\n"
      "or %r0, 4\n"
      "out:\n"
      "exit\n";
  EXPECT_EQ(agreed(source, memory), 7u);
  memory[0] = 0x49;
  EXPECT_EQ(agreed(source, memory), 0u);
  memory[0] = 0x48;
  memory[1] = 0x55;
  EXPECT_EQ(agreed(source, memory), 1u);
}

TEST(UncheckedInterpreter, JumpIntoTheMiddleOfAFusedPair) {
  // The second instruction of each superinstruction is also reached directly.
  const char* source =
      "mov %r0, 1\n"
      "mov %r1, 10\n"
      "jeq %r0, 1, middle\n"
      "mov %r0, %r1\n"
      "middle:\n"
      "add %r0, 5\n"
      "lsh %r0, 32\n"
      "jeq %r0, 0, +0\n"
      "rsh %r0, 32\n"
      "exit\n";
  EXPECT_EQ(agreed(source), 6u);
}

TEST(UncheckedInterpreter, JumpsThroughGotos) {
  // A conditional jump to a chain of gotos lands where the chain ends.
  const char* source =
      "mov %r0, 0\n"
      "jeq %r0, 0, first\n"
      "mov %r0, 99\n"
      "exit\n"
      "first:\n"
      "ja second\n"
      "mov %r0, 98\n"
      "second:\n"
      "ja third\n"
      "mov %r0, 97\n"
      "third:\n"
      "add %r0, 7\n"
      "exit\n";
  EXPECT_EQ(agreed(source), 7u);
}

TEST(UncheckedInterpreter, CallsAndStack) {
  const char* source =
      "mov %r1, 6\n"
      "stxdw [%r10-8], %r1\n"
      "call local f\n"
      "ldxdw %r1, [%r10-8]\n"
      "add %r0, %r1\n"
      "exit\n"
      "f:\n"
      "stxdw [%r10-8], %r1\n"
      "ldxdw %r0, [%r10-8]\n"
      "mul %r0, 7\n"
      "exit\n";
  EXPECT_EQ(agreed(source), 48u);
}

TEST(UncheckedInterpreter, CallbacksRunInTheSameExecutor) {
  // bpf_loop calls back into the program: the callback runs unchecked too, and the loop
  // resumes after it (sums the indexes until the callback says stop at 5).
  const char* source =
      "stdw [%r10-8], 0\nmov %r1, 10\nlddw_func %r2, cb\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\ncall 181\n"
      "ldxdw %r1, [%r10-8]\nlsh %r0, 16\nor %r0, %r1\nexit\n"
      "cb:\nldxdw %r3, [%r2+0]\nadd %r3, %r1\nstxdw [%r2+0], %r3\nmov %r0, 0\njlt %r1, 5, +1\nmov %r0, 1\nexit\n";
  EXPECT_EQ(agreed(source, std::vector<uint8_t>(8), linux_helpers()), (6u << 16) | (0 + 1 + 2 + 3 + 4 + 5));
}

TEST(UncheckedInterpreter, RunsWithoutChecks) {
  // What the checked executor stops, the unchecked one does not look at: a verifier has
  // proved it cannot happen. Here a read of r3, never written, which the unchecked executor
  // reads as whatever the register holds (zero).
  auto insns = isa::assemble("mov %r0, %r3\nexit\n");
  ASSERT_TRUE(insns.ok());
  auto checked = Interpreter::create(*insns, helpers());
  auto unchecked = Interpreter::create(*insns, helpers(), InterpreterOptions{.checked = false});
  ASSERT_TRUE(checked.ok() && unchecked.ok());
  std::vector<uint8_t> m(8);
  auto c = checked->run(memory_run_options(m));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("R3 !read_ok"), std::string::npos);
  auto u = unchecked->run(memory_run_options(m));
  ASSERT_TRUE(u.ok()) << u.error().to_string();
  EXPECT_EQ(*u, 0u);
}

TEST(UncheckedInterpreter, InlineArrayLookups) {
  // An ARRAY map of 4 u64 values; r1 = the map (an ld_imm64 resolved by a loader), key on the
  // stack. Looked up with the NULL test fused, without it, and with the map in a register
  // (the general inline path).
  alignas(8) std::array<uint64_t, 4> values = {10, 20, 30, 40};
  const uint64_t map_ref = 0x1000;  // what the resolved ld_imm64 loads; never dereferenced
  MapLookup array{map_ref, reinterpret_cast<uint64_t>(values.data()), 8, 4};
  auto program = [&](int key, bool tested) {
    std::string s = "mov %r6, " + std::to_string(key) + "\nstxw [%r10-4], %r6\nmov %r2, %r10\nadd %r2, -4\n";
    s += "lddw_map_fd %r1, 1\ncall 1\n";
    s += tested ? "jeq %r0, 0, none\nldxdw %r0, [%r0]\nexit\nnone:\nmov %r0, 777\nexit\n"
                : "mov %r1, %r0\nmov %r0, 777\njeq %r1, 0, +1\nldxdw %r0, [%r1]\nexit\n";
    return s;
  };
  HelperTable table;
  table.add(Helper{BPF_FUNC_map_lookup_elem, "map_lookup_elem",
                   [](uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext&) -> uint64_t { return 0; }});
  for (bool tested : {true, false}) {
    for (int key : {0, 2, 3, 4, 100}) {
      auto insns = isa::assemble(program(key, tested));
      ASSERT_TRUE(insns.ok()) << insns.error().to_string();
      (*insns)[5].imm64 = map_ref;  // the loader's resolution, in the ld_imm64's second slot
      auto interpreter = Interpreter::create(*insns, table,
                                             InterpreterOptions{.relocated = true, .checked = false, .map_lookups = {array}});
      ASSERT_TRUE(interpreter.ok()) << interpreter.error().to_string();
      std::vector<uint8_t> m(8);
      auto r = interpreter->run(memory_run_options(m));
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      EXPECT_EQ(*r, key < 4 ? values[static_cast<std::size_t>(key)] : 777u) << "key " << key << " tested " << tested;
    }
  }
  // A map that is not inline goes to the helper (which here finds nothing).
  auto insns = isa::assemble(program(1, true));
  ASSERT_TRUE(insns.ok());
  (*insns)[5].imm64 = map_ref + 8;
  auto other = Interpreter::create(*insns, table, InterpreterOptions{.relocated = true, .checked = false, .map_lookups = {array}});
  ASSERT_TRUE(other.ok());
  std::vector<uint8_t> m(8);
  auto r = other->run(memory_run_options(m));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*r, 777u);
}

const Interpreter* g_tail_call_target = nullptr;

TEST(UncheckedInterpreter, TailCallsNeverRunUnverifiedCodeUnchecked) {
  // Helper 12 tail-calls g_tail_call_target. A checked run may continue in any program (it
  // stays checked); an unchecked run only in one loaded unchecked too.
  HelperTable table;
  table.add(Helper{BPF_FUNC_tail_call, "tail_call",
                   [](uint64_t r1, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext& ctx) -> uint64_t {
                     return ctx.host->tail_call(TailCallTarget{g_tail_call_target, nullptr}, r1) ? 0 : 1;
                   }});
  auto caller_insns = isa::assemble("call 12\nmov %r0, 99\nexit\n");
  auto target_insns = isa::assemble("mov %r0, 42\nexit\n");
  ASSERT_TRUE(caller_insns.ok() && target_insns.ok());
  for (bool caller_checked : {true, false}) {
    for (bool target_checked : {true, false}) {
      auto caller = Interpreter::create(*caller_insns, table, InterpreterOptions{.checked = caller_checked});
      auto target = Interpreter::create(*target_insns, table, InterpreterOptions{.checked = target_checked});
      ASSERT_TRUE(caller.ok() && target.ok());
      g_tail_call_target = &*target;
      std::vector<uint8_t> m(8);
      auto r = caller->run(memory_run_options(m));
      SCOPED_TRACE(testing::Message() << "caller checked " << caller_checked << ", target checked " << target_checked);
      if (!caller_checked && target_checked) {
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().message.find("the target program was not verified"), std::string::npos)
            << r.error().message;
      } else {
        ASSERT_TRUE(r.ok()) << r.error().to_string();
        EXPECT_EQ(*r, 42u);
      }
    }
  }
  g_tail_call_target = nullptr;
}

}  // namespace
}  // namespace bpfvm
