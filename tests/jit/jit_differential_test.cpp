// Differential testing: thousands of random, well-formed programs generated from the opcode
// table run on the interpreter and the JIT. Both must give the same r0 and leave the same
// memory, or both fail with the same error (never a crash).
//
// Programs are well-formed so that the interpreter runs them to the end: every register is
// written before it is read, jumps go forward (loops are counted down in r8), memory operations
// use the stack through r10 or the region whose address r9 holds (a few on purpose outside),
// and calls go to the test helpers or to subprograms placed after the main program.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <regex>

#include "exec/interpreter.hpp"
#include "exec/jit/x86_64/jit.hpp"
#include "isa/disasm.hpp"

namespace bpfvm::jit {
namespace {

using isa::Insn;
using isa::Kind;
using isa::Op;
using isa::OpInfo;

constexpr std::size_t kRegionSize = 64;  // where the programs' loads and stores go
constexpr std::size_t kTraceSlots = 64;  // then 8-byte slots recording register values
constexpr uint8_t kRegionReg = 9;   // holds the region's address; never written
constexpr uint8_t kCounterReg = 8;  // loop counter; written only by loop code

HelperTable test_helpers() {
  HelperTable t;
  t.add(Helper{1, "mix", [](uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e, HelperContext&) -> uint64_t {
                 return (a * 0x9e3779b97f4a7c15ull) ^ (b + c) ^ (d << 3) ^ e;
               }});
  t.add(Helper{5, "unwind", [](uint64_t a, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext& ctx) -> uint64_t {
                 if (a == 0) ctx.stop = true;
                 return a;
               }});
  return t;
}

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  std::vector<Insn> program() {
    out_.clear();
    subprograms_.clear();
    trace_ = 0;
    // Every register the program reads is written first; except, in one program of ten, one
    // such write is left out: both engines must then report the read ("R%d !read_ok") alike.
    inits_ = 0;
    skipped_init_ = chance(10) ? pick(0, 30) : -1;
    for (uint8_t r = 0; r <= 8; ++r) init_reg(r);
    const int length = pick(5, 40);
    for (int k = 0; k < length; ++k) {
      if (chance(8)) loop();
      else step(false, 0, 7);
    }
    fold_into_r0(8);
    emit(isa::make_insn(Op::Exit));
    // Subprograms after the main program; calls were recorded with their index.
    for (auto& [call_pc, sub] : subprograms_) {
      const std::size_t start = out_.size();
      emit(isa::make_insn(Op::Mov64Imm, 0, 0, 0, value32()));
      // Reached through callx: the register held the subprogram's address, which differs
      // between the engines (each has its own copy of the program). Not an argument, then.
      if (out_[call_pc].op != Op::CallLocal) init_reg(out_[call_pc].dst, /*may_skip=*/false);
      for (int k = 0; k < sub; ++k) step(true, 0, 5);
      fold_into_r0(5);
      emit(isa::make_insn(Op::Exit));
      Insn& call = out_[call_pc];
      const int32_t rel = static_cast<int32_t>(start) - static_cast<int32_t>(call_pc) - 1;
      if (call.op == Op::CallLocal) call.imm = rel;
      else call = isa::make_insn(Op::LdFunc, call.dst, 0, 0, rel, static_cast<uint64_t>(static_cast<uint32_t>(rel)));
    }
    return out_;
  }

 private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(int percent) { return pick(0, 99) < percent; }
  uint8_t reg(uint8_t lo, uint8_t hi) { return static_cast<uint8_t>(pick(lo, hi)); }

  int32_t value32() {
    static constexpr int32_t kInteresting[] = {0, 1, -1, 2, 7, 8, 31, 32, 33, 63, 64, 255, 0x7fffffff,
                                               INT32_MIN, -2, 0x10000, 0x8000, -0x8000};
    if (chance(50)) return kInteresting[pick(0, std::size(kInteresting) - 1)];
    return static_cast<int32_t>(rng_());
  }
  uint64_t value64() {
    if (chance(30)) return static_cast<uint64_t>(static_cast<int64_t>(value32()));
    if (chance(20)) return uint64_t{1} << pick(0, 63);
    return rng_();
  }

  void emit(const Insn& i) {
    out_.push_back(i);
    if (i.info().kind == Kind::kLdImm64) {
      Insn tail;
      tail.op = Op::LdImm64Tail;
      out_.push_back(tail);
    }
  }
  void init_reg(uint8_t r, bool may_skip = true) {
    if (may_skip && inits_++ == skipped_init_) return;
    if (chance(50)) emit(isa::make_insn(Op::Mov64Imm, r, 0, 0, value32()));
    else emit(isa::make_insn(Op::LdImm64, r, 0, 0, 0, value64()));
  }
  // Makes every register's final value count in r0, so a difference anywhere shows.
  void fold_into_r0(uint8_t hi) {
    for (uint8_t r = 1; r <= hi; ++r) {
      emit(isa::make_insn(Op::Mul64Imm, 0, 0, 0, 0x01000193));
      emit(isa::make_insn(Op::Xor64Reg, 0, r));
    }
  }
  // Records a register in the trace part of the region (main program only: r9 is its address),
  // so intermediate values are compared too, not only what survives to the exit.
  void trace(uint8_t r, bool in_sub) {
    if (in_sub || !chance(60)) return;
    const auto slot = static_cast<int16_t>(kRegionSize + 8 * (trace_++ % kTraceSlots));
    emit(isa::make_insn(Op::StxDW, kRegionReg, r, slot));
  }

  // r1-r5 are scratch after calls and legacy packet loads: written again before any read.
  void clobber_args(uint8_t hi) {
    for (uint8_t r = 1; r <= 5 && r <= hi; ++r) init_reg(r);
  }

  const OpInfo& row_of(Kind kind) {
    std::vector<const OpInfo*> rows;
    for (const OpInfo& r : isa::kOps) {
      if (r.kind == kind) rows.push_back(&r);
    }
    return *rows[pick(0, static_cast<int>(rows.size()) - 1)];
  }

  // A memory operand: base register and offset for an access of `size` bytes.
  std::pair<uint8_t, int16_t> address(unsigned size, bool in_sub, bool aligned) {
    const int n = static_cast<int>(size);
    const bool stray = chance(2);  // now and then outside everything: both engines must fail
    if (in_sub || chance(50)) {
      int off = stray ? pick(-600, 64) : pick(-512, -n);
      if (aligned && !stray) off = -n * pick(1, 512 / n);
      return {isa::kFrameReg, static_cast<int16_t>(off)};
    }
    int off = stray ? pick(-100, 200) : pick(0, static_cast<int>(kRegionSize) - n);
    if (aligned && !stray) off = n * pick(0, static_cast<int>(kRegionSize) / n - 1);
    return {kRegionReg, static_cast<int16_t>(off)};
  }

  // One instruction (or a short sequence) using registers lo..hi as operands.
  void step(bool in_sub, uint8_t lo, uint8_t hi) {
    const uint8_t src_hi = in_sub ? hi : static_cast<uint8_t>(9);  // the main program may read r8, r9
    static constexpr Kind kKinds[] = {Kind::kAlu, Kind::kAlu, Kind::kAlu, Kind::kAlu, Kind::kMovSx, Kind::kNeg,
                                      Kind::kEnd, Kind::kBswap, Kind::kJmpCond, Kind::kJmpCond, Kind::kJa,
                                      Kind::kGotol, Kind::kMayGoto, Kind::kCallHelper, Kind::kCallLocal,
                                      Kind::kCallx, Kind::kLoad, Kind::kLoadSx, Kind::kStore, Kind::kStoreReg,
                                      Kind::kAtomic, Kind::kLdImm64, Kind::kLdAbs, Kind::kLdInd};
    const Kind kind = kKinds[pick(0, std::size(kKinds) - 1)];
    if (in_sub && (kind == Kind::kCallLocal || kind == Kind::kCallx)) return step(in_sub, lo, hi);
    const OpInfo& r = row_of(kind);
    const uint8_t dst = reg(lo, hi), src = reg(lo, src_hi);
    switch (kind) {
      case Kind::kAlu:
        if (r.reg_source()) emit(isa::make_insn(r.op, dst, src));
        else emit(isa::make_insn(r.op, dst, 0, 0, value32()));
        trace(dst, in_sub);
        break;
      case Kind::kMovSx:
        emit(isa::make_insn(r.op, dst, src));
        trace(dst, in_sub);
        break;
      case Kind::kNeg: case Kind::kEnd: case Kind::kBswap:
        emit(isa::make_insn(r.op, dst));
        trace(dst, in_sub);
        break;
      case Kind::kJmpCond: case Kind::kJa: case Kind::kGotol: case Kind::kMayGoto: {
        // Forward over the next few instructions, which come right after.
        const int skip = pick(0, 3);
        Insn j = r.reg_source() ? isa::make_insn(r.op, dst, src) : isa::make_insn(r.op, dst, 0, 0, value32());
        if (kind == Kind::kJa || kind == Kind::kMayGoto) j = isa::make_insn(r.op);
        if (kind == Kind::kGotol) j = isa::make_insn(r.op);
        const std::size_t at = out_.size();
        emit(j);
        const std::size_t first = out_.size();
        for (int k = 0; k < skip; ++k) step(in_sub, lo, hi);
        const auto distance = static_cast<int32_t>(out_.size() - first);
        if (kind == Kind::kGotol) out_[at].imm = distance;
        else out_[at].off = static_cast<int16_t>(distance);
        break;
      }
      case Kind::kCallHelper:
        if (chance(70)) {
          emit(isa::make_insn(r.op, 0, 0, 0, 1));
        } else {
          emit(isa::make_insn(Op::Mov64Imm, 1, 0, 0, chance(50) ? 0 : 1));
          emit(isa::make_insn(r.op, 0, 0, 0, 5));
        }
        trace(0, in_sub);
        clobber_args(hi);
        break;
      case Kind::kCallLocal:
        subprograms_.emplace_back(out_.size(), pick(1, 8));
        emit(isa::make_insn(Op::CallLocal, 0, 0, 0, 0));
        trace(0, in_sub);
        clobber_args(hi);
        break;
      case Kind::kCallx: {
        const uint8_t target = reg(1, 5);
        if (chance(50)) {
          emit(isa::make_insn(Op::Mov64Imm, target, 0, 0, 1));  // helper 1 by id
        } else {
          subprograms_.emplace_back(out_.size(), pick(1, 8));
          Insn placeholder = isa::make_insn(Op::LdImm64, target, 0, 0, 0, 0);
          emit(placeholder);
        }
        emit(isa::make_insn(Op::Callx, target));
        trace(0, in_sub);
        clobber_args(hi);
        break;
      }
      case Kind::kLoad: case Kind::kLoadSx: {
        auto [base, off] = address(r.mem_size(), in_sub, false);
        emit(isa::make_insn(r.op, dst, base, off));
        trace(dst, in_sub);
        break;
      }
      case Kind::kStore: {
        auto [base, off] = address(r.mem_size(), in_sub, false);
        emit(isa::make_insn(r.op, base, 0, off, value32()));
        break;
      }
      case Kind::kStoreReg: {
        auto [base, off] = address(r.mem_size(), in_sub, false);
        emit(isa::make_insn(r.op, base, src, off));
        break;
      }
      case Kind::kAtomic: {
        auto [base, off] = address(r.mem_size(), in_sub, !chance(3));
        // The fetch forms write src: keep it among the writable registers.
        const uint8_t value = reg(lo, hi);
        emit(isa::make_insn(r.op, base, value, off));
        trace(value, in_sub);
        trace(0, in_sub);
        break;
      }
      case Kind::kLdImm64: emit(isa::make_insn(Op::LdImm64, dst, 0, 0, 0, value64())); break;
      case Kind::kLdAbs:
        emit(isa::make_insn(r.op, 0, 0, 0, chance(90) ? pick(0, static_cast<int>(kRegionSize)) : value32()));
        trace(0, in_sub);
        clobber_args(hi);
        break;
      case Kind::kLdInd:
        emit(isa::make_insn(r.op, 0, src, 0, chance(50) ? pick(-4, 8) : value32()));
        trace(0, in_sub);
        clobber_args(hi);
        break;
      default: break;
    }
  }

  // A counted loop: r8 = n; body (never writes r8); r8 -= 1; if r8 != 0 goto body.
  void loop() {
    emit(isa::make_insn(Op::Mov64Imm, kCounterReg, 0, 0, pick(1, 20)));
    const std::size_t head = out_.size();
    const int body = pick(1, 6);
    for (int k = 0; k < body; ++k) step(false, 0, 7);
    emit(isa::make_insn(Op::Sub64Imm, kCounterReg, 0, 0, 1));
    const auto back = static_cast<int16_t>(static_cast<int64_t>(head) - static_cast<int64_t>(out_.size()) - 1);
    emit(isa::make_insn(Op::JneImm, kCounterReg, 0, back, 0));
  }

  std::mt19937_64 rng_;
  int inits_ = 0;
  int skipped_init_ = -1;
  std::vector<Insn> out_;
  std::vector<std::pair<std::size_t, int>> subprograms_;
  std::size_t trace_ = 0;  // (index of the call or ld_imm64, body length)
};

std::string without_addresses(const std::string& text) {
  static const std::regex kAddress("0x[0-9a-f]{8,}");
  return std::regex_replace(text, kAddress, "0x?");
}

// Returns whether the program ran to its end (as opposed to failing on both engines).
bool compare(const std::vector<Insn>& program, const HelperTable& helpers, const std::string& what, JitOptions jo = {}) {
  SCOPED_TRACE(what + "\n" + isa::disassemble(program, isa::Syntax::kKernel));
  auto interpreter = Interpreter::create(program, helpers);
  auto jitted = JitProgram::compile(program, helpers, jo);
  EXPECT_EQ(interpreter.ok(), jitted.ok()) << (interpreter.ok() ? jitted.error() : interpreter.error()).to_string();
  if (!interpreter.ok() || !jitted.ok()) {
    if (!interpreter.ok() && !jitted.ok()) {
      EXPECT_EQ(interpreter.error().to_string(), jitted.error().to_string());
    }
    return false;
  }
  std::vector<uint8_t> initial(kRegionSize + 8 * kTraceSlots);
  for (std::size_t k = 0; k < initial.size(); ++k) initial[k] = static_cast<uint8_t>(k * 37 + 11);
  std::vector<uint8_t> memory = initial;
  RunOptions options;
  options.args[0] = reinterpret_cast<uint64_t>(memory.data());
  options.regions.push_back(MemoryRegion{memory.data(), memory.size(), true});
  options.packet = memory;
  options.branch_limit = 100000;
  auto expected = interpreter->run(options);
  const std::vector<uint8_t> expected_memory = memory;
  memory = initial;
  auto actual = jitted->run(options);
  EXPECT_EQ(expected.ok(), actual.ok()) << (expected.ok() ? actual.error() : expected.error()).to_string();
  if (expected.ok() && actual.ok()) {
    EXPECT_EQ(*expected, *actual);
    const auto diff = std::mismatch(expected_memory.begin(), expected_memory.end(), memory.begin());
    EXPECT_TRUE(diff.first == expected_memory.end())
        << "memory differs first at byte " << (diff.first - expected_memory.begin()) << ": interpreter 0x" << std::hex
        << int{*diff.first} << ", JIT 0x" << int{*diff.second};
  } else if (!expected.ok() && !actual.ok()) {
    EXPECT_EQ(without_addresses(expected.error().to_string()), without_addresses(actual.error().to_string()));
  }
  if (!expected.ok() || !actual.ok()) return expected.ok();

  // The interpreter found every access of this run valid and the run finite: exactly what a
  // verifier will prove before the engines drop their checks. So the unchecked JIT and the
  // interpreter's unchecked executor (superinstructions, threaded jumps) must agree too.
  const auto unchecked_agrees = [&](const char* engine_name, const auto& engine) {
    EXPECT_TRUE(engine.ok()) << engine_name << ": " << engine.error().to_string();
    if (!engine.ok()) return;
    memory = initial;
    auto result = engine->run(options);
    EXPECT_TRUE(result.ok()) << engine_name << ": " << result.error().to_string();
    if (result.ok()) {
      EXPECT_EQ(*expected, *result) << engine_name;
    }
    EXPECT_TRUE(expected_memory == memory) << engine_name << " left different memory";
  };
  unchecked_agrees("unchecked JIT", JitProgram::compile(program, helpers,
                                                        JitOptions{.checked = false,
                                                                   .use_bmi2 = jo.use_bmi2,
                                                                   .propagate_constants = jo.propagate_constants}));
  unchecked_agrees("unchecked interpreter", Interpreter::create(program, helpers, InterpreterOptions{.checked = false}));
  return true;
}

// The region's address goes in r9 (the generator never writes it); r1 = it too.
std::vector<Insn> with_region_pointer(std::vector<Insn> program) {
  program.insert(program.begin(), isa::make_insn(Op::Mov64Reg, kRegionReg, 1));
  return program;
}

TEST(JitDifferential, RandomProgramsAgreeWithTheInterpreter) {
  const HelperTable helpers = test_helpers();
  // BPFVM_JIT_PROGRAMS=N runs more (a longer hunt for differences than CI needs).
  const char* more = std::getenv("BPFVM_JIT_PROGRAMS");
  const int kPrograms = more != nullptr ? std::atoi(more) : 3000;
  int ran = 0, failed = 0;
  for (int seed = 1; seed <= kPrograms; ++seed) {
    Generator gen(static_cast<uint64_t>(seed));
    std::vector<Insn> program = with_region_pointer(gen.program());
    if (!isa::check_control_flow(program).ok()) continue;
    ++ran;
    // BMI2 shifts and known-constant folding each on for half the programs, independently.
    const JitOptions jo{.checked = true, .use_bmi2 = seed % 2 == 0, .propagate_constants = seed / 2 % 2 == 0};
    if (!compare(program, helpers, "seed " + std::to_string(seed), jo)) {
      ++failed;
    }
    if (::testing::Test::HasFailure()) return;  // one program's report is enough to debug
  }
  EXPECT_GT(ran, kPrograms * 9 / 10) << "the generator should make well-formed programs";
  // Both outcomes are exercised: most programs run to the end, some fail on a stray access.
  EXPECT_GT(failed, ran / 50);
  EXPECT_LT(failed, ran / 2);
  std::printf("%d random programs, %d of them stopped by an error on both engines\n", ran, failed);
}

TEST(JitDifferential, GeneratorCoversTheOpcodeTable) {
  // Guards against a generator that silently stopped producing some operation.
  std::vector<bool> seen(isa::kOpCount);
  for (int seed = 1; seed <= 3000; ++seed) {
    Generator gen(static_cast<uint64_t>(seed));
    for (const Insn& i : gen.program()) {
      if (i.op != Op::LdImm64Tail) seen[static_cast<std::size_t>(i.op)] = true;
    }
  }
  for (const OpInfo& r : isa::kOps) {
    // Not generated: kfunc calls (always an error) and ld_imm64 forms a loader must resolve.
    const bool generated =
        r.kind != Kind::kCallKfunc && (r.kind != Kind::kLdImm64 || r.op == Op::LdImm64 || r.op == Op::LdFunc);
    if (generated) {
      EXPECT_TRUE(seen[static_cast<std::size_t>(r.op)]) << r.name;
    }
  }
}

}  // namespace
}  // namespace bpfvm::jit
