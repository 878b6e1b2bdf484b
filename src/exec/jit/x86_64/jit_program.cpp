// JitProgram: checks a program, lowers it (lowering.cpp), places the code in W^X memory and
// runs it with a fresh JitState per run.
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <utility>

#include "exec/jit/x86_64/jit.hpp"
#include "exec/jit/x86_64/lowering.hpp"
#include "exec/jit/x86_64/run_state.hpp"
#include "exec/register_use.hpp"

namespace bpfvm::jit {

using isa::Insn;
using isa::Kind;
using isa::Op;

namespace {
std::atomic<uint64_t> next_serial{1};  // JitProgram::serial_

std::size_t page_size() {
  static const auto size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

// Pages for code. W^X: they are writable while the code is copied in and read+exec from then
// on, never both. Mapping fresh pages, faulting them in and unmapping them (a TLB shootdown)
// cost a good part of a small program's compile, so the pages of programs that went away are
// kept, a few, made writable (and no longer executable) when their program is released: a
// compile then takes writable pages and changes their protection once, to read+exec.
class CodePages {
 public:
  struct Block {
    void* mem = nullptr;
    std::size_t size = 0;
  };

  // `size` bytes (page-rounded) or more, writable; {} when the system has no memory to map.
  Block take(std::size_t size) {
    Block kept;
    {
      std::lock_guard lock(mutex_);
      std::size_t best = count_;
      for (std::size_t k = 0; k < count_; ++k) {
        const bool fits = free_[k].size >= size && free_[k].size <= 4 * size;
        if (fits && (best == count_ || free_[k].size < free_[best].size)) best = k;
      }
      if (best != count_) {
        kept = free_[best];
        free_[best] = free_[--count_];
      }
    }
    if (kept.mem != nullptr) return kept;
    // Between two inaccessible guard pages, the block is a mapping of its own that the kernel
    // never merges with its neighbours: changing its protection then splits and merges no
    // mappings (most of the cost of an mprotect here).
    const std::size_t guard = page_size();
    void* mem = mmap(nullptr, size + 2 * guard, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return {};
    auto* block = static_cast<uint8_t*>(mem) + guard;
    if (mprotect(block, size, PROT_READ | PROT_WRITE) != 0) {
      munmap(mem, size + 2 * guard);
      return {};
    }
    return Block{block, size};
  }

  // Pages a program no longer runs from: kept writable and not executable (nothing may run
  // the old code), or unmapped.
  void give(Block b) {
    if (b.size <= kMaxKeptBytes && mprotect(b.mem, b.size, PROT_READ | PROT_WRITE) == 0) {
      std::lock_guard lock(mutex_);
      if (count_ < free_.size()) {
        free_[count_++] = b;
        return;
      }
    }
    unmap(b);
  }

  static void unmap(Block b) { munmap(static_cast<uint8_t*>(b.mem) - page_size(), b.size + 2 * page_size()); }

 private:
  static constexpr std::size_t kMaxKeptBytes = 256 * 1024;
  std::mutex mutex_;
  std::array<Block, 16> free_{};
  std::size_t count_ = 0;
};

// Never destroyed: programs in static storage may be released after any other destructor.
CodePages& code_pages() {
  static auto* pages = new CodePages;
  return *pages;
}

}  // namespace

bool jit_available() {
#if defined(__x86_64__)
  return true;
#else
  return false;
#endif
}

JitProgram::JitProgram(JitProgram&& other) noexcept
    : insns_(std::move(other.insns_)),
      helpers_(other.helpers_),
      checked_(other.checked_),
      serial_(other.serial_),
      tracking_(other.tracking_),
      callback_entry_(std::move(other.callback_entry_)),
      code_(std::exchange(other.code_, nullptr)),
      code_size_(std::exchange(other.code_size_, 0)),
      mapped_size_(std::exchange(other.mapped_size_, 0)),
      layout_(std::move(other.layout_)) {}

JitProgram& JitProgram::operator=(JitProgram&& other) noexcept {
  if (this != &other) {
    release();
    insns_ = std::move(other.insns_);
    helpers_ = other.helpers_;
    checked_ = other.checked_;
    serial_ = other.serial_;
    tracking_ = other.tracking_;
    callback_entry_ = std::move(other.callback_entry_);
    code_ = std::exchange(other.code_, nullptr);
    code_size_ = std::exchange(other.code_size_, 0);
    mapped_size_ = std::exchange(other.mapped_size_, 0);
    layout_ = std::move(other.layout_);
  }
  return *this;
}

JitProgram::~JitProgram() { release(); }

void JitProgram::release() {
  if (code_ != nullptr) code_pages().give({code_, mapped_size_});
  code_ = nullptr;
  code_size_ = mapped_size_ = 0;
}

Result<JitProgram> JitProgram::compile(std::vector<Insn> program, const HelperTable& helpers, JitOptions options) {
  if (!jit_available()) return Error{ErrorKind::kInput, "the JIT needs an x86-64 host", std::nullopt, std::nullopt};
  // The same checks as the interpreter, so both accept exactly the same programs.
  if (auto st = isa::check_control_flow(program); !st) return st.error();
  std::vector<const Helper*> helper_at(program.size(), nullptr);
  for (std::size_t pc = 0; pc < program.size(); ++pc) {
    const Insn& insn = program[pc];
    if (insn.op == Op::CallHelper) {
      const Helper* h = helpers.find(insn.imm);
      if (h == nullptr || h->fn == nullptr) return input_error(fmt::format("invalid func unknown#{}", insn.imm), pc);
      helper_at[pc] = h;
    }
    if (!options.relocated && insn.info().kind == Kind::kLdImm64 && insn.op != Op::LdImm64 && insn.op != Op::LdFunc) {
      return input_error(fmt::format("ld_imm64 {} refers to a map or BTF object; load the program through an "
                                     "object loader that resolves it",
                                     insn.info().mnemonic),
                         pc);
    }
  }

  JitProgram jp;
  jp.insns_ = std::move(program);  // the code embeds addresses of these instructions (ld_imm64 src=4)
  jp.helpers_ = &helpers;
  jp.checked_ = options.checked;
  jp.serial_ = next_serial++;

  // One CodeHolder per thread, reset softly between compiles: it keeps its memory, so a
  // compile does not pay for growing buffers and zones again (a third of the compile time).
  thread_local asmjit::CodeHolder code;
  code.reset(asmjit::ResetPolicy::kSoft);
  code.init(asmjit::Environment::host());
  code.reserveBuffer(&code.textSection()->buffer(), jp.insns_.size() * 32 + 1024);
  detail::LowerInput input;
  input.insns = jp.insns_;
  input.helper_at = helper_at;
  input.options = options;
  input.bmi2 = options.use_bmi2 && asmjit::CpuInfo::host().features().x86().hasBMI2();
  regs::InitAnalysis init;
  if (options.checked) {
    init = regs::analyse_initialized(jp.insns_);
    input.init = &init;
    jp.tracking_ = init.tracking;
    jp.callback_entry_ = std::move(init.callback_entry);
  }
  auto labels = detail::lower(code, input);
  if (!labels) return labels.error();

  auto internal = [](const std::string& what, asmjit::Error err) {
    return Error{ErrorKind::kInternal, fmt::format("JIT: {}: {}", what, asmjit::DebugUtils::errorAsString(err)),
                 std::nullopt, std::nullopt};
  };
  if (auto err = code.flatten(); err) return internal("flatten", err);
  if (auto err = code.resolveUnresolvedLinks(); err) return internal("resolve links", err);

  // W^X: writable pages, copy, then read+exec before anything runs.
  const std::size_t page = page_size();
  const std::size_t estimated = code.codeSize();
  const std::size_t wanted = (estimated + page - 1) / page * page;
  const CodePages::Block block = code_pages().take(wanted);
  if (block.mem == nullptr) {
    return Error{ErrorKind::kRuntime, fmt::format("JIT: cannot map {} bytes: {}", wanted, std::strerror(errno)),
                 std::nullopt, std::nullopt};
  }
  void* mem = block.mem;
  const std::size_t mapped = block.size;
  jp.code_ = static_cast<uint8_t*>(mem);
  jp.mapped_size_ = mapped;
  if (auto err = code.relocateToBase(reinterpret_cast<uint64_t>(mem)); err) return internal("relocate", err);
  jp.code_size_ = code.codeSize();
  if (jp.code_size_ > mapped) return internal("code grew after relocation", asmjit::kErrorInvalidState);
  if (auto err = code.copyFlattenedData(mem, jp.code_size_); err) return internal("copy", err);
  // Reused pages still hold an earlier program's code past the end: int3 there.
  std::memset(jp.code_ + jp.code_size_, 0xcc, mapped - jp.code_size_);
  if (mprotect(mem, mapped, PROT_READ | PROT_EXEC) != 0) {
    return Error{ErrorKind::kRuntime, fmt::format("JIT: cannot make code executable: {}", std::strerror(errno)),
                 std::nullopt, std::nullopt};
  }

  auto offset = [&](const asmjit::Label& l) { return static_cast<std::size_t>(code.labelOffsetFromBase(l)); };
  if (offset(labels->entry) != 0) return internal("entry is not at offset 0", asmjit::kErrorInvalidState);
  jp.layout_.body = offset(labels->body);
  jp.layout_.insn_start = std::move(labels->insn_offset);  // .text is the only section: offsets are final
  jp.layout_.out_of_line = offset(labels->out_of_line);
  // 0 (the main entry, never a callback's): no callback entry, the program names no function.
  jp.layout_.callback_entry = code.isLabelBound(labels->callback_entry) ? offset(labels->callback_entry) : 0;
  jp.layout_.data = offset(labels->data);
  return jp;
}

namespace {

RegionCheck region_check(const MemoryRegion& r) {
  RegionCheck c;
  c.base = reinterpret_cast<uint64_t>(r.data);
  for (unsigned k = 0; k < 4; ++k) {
    const uint64_t n = uint64_t{1} << k;
    const uint64_t limit = r.size >= n ? r.size - n + 1 : 0;  // address - base < limit
    c.limit[0][k] = limit;
    c.limit[1][k] = r.writable ? limit : 0;
  }
  return c;
}

}  // namespace

// What helpers may touch (in checked mode: the stack and the regions, as the generated code
// checks them), callbacks into the program and tail calls.
class JitHost final : public HelperHost {
 public:
  explicit JitHost(JitState& st) : st_(st) {}

  uint8_t* translate(uint64_t address, std::size_t size, bool write) const override {
    if (size == 0) return reinterpret_cast<uint8_t*>(address);
    return accessible(address, size, write, st_.stack_lo, kJitStackBytes, st_.ctx.options->regions);
  }

  // As the interpreter: the callback must be a subprogram of the program that called the
  // helper; it runs as a bpf-to-bpf call from the helper's instruction.
  Result<uint64_t> call(uint64_t function, std::array<uint64_t, 5> args) override {
    const JitProgram* p = current();
    const std::size_t pc = st_.ctx.pc;
    const auto base = p ? reinterpret_cast<uint64_t>(p->insns_.data()) : 0;
    if (p == nullptr || p->layout_.callback_entry == 0 || function - base >= p->insns_.size() * sizeof(Insn) ||
        (function - base) % sizeof(Insn) != 0) {
      return Error{ErrorKind::kRuntime, fmt::format("callback 0x{:x} is not a subprogram of this program", function),
                   pc, std::nullopt};
    }
    const std::size_t target = (function - base) / sizeof(Insn);
    if (p->insns_[target].op == isa::Op::LdImm64Tail) {
      // The interpreter executes the tail and fails; so does the run here.
      st_.status = Status::kInternal;
      st_.ctx.stop = true;
      return p->failure(st_);
    }
    if (p->checked_ && !p->tracking_ && !p->callback_entry_[target]) {
      // Its code was compiled knowing which registers are written on the way to it; a callback
      // made up by arithmetic on a subprogram's address starts where that does not hold.
      return Error{ErrorKind::kRuntime,
                   fmt::format("callback 0x{:x} (insn {}) is not a subprogram an ld_imm64 names: JIT-compiled code "
                               "only calls back there (the interpreter calls back anywhere)",
                               function, target),
                   pc, std::nullopt};
    }
    const Insn* saved_program = st_.program;
    const uint32_t saved_depth = st_.depth;
    const uint32_t saved_init = st_.init;
    st_.init = regs::kArgRegs | regs::bit(isa::kFrameReg);
    st_.args = args;
    const auto entry = reinterpret_cast<JitCallbackEntry>(p->code_ + p->layout_.callback_entry);
    const uint64_t r0 = entry(&st_, reinterpret_cast<uint64_t>(p->code_ + p->layout_.insn_start[target]), target);
    if (st_.status != Status::kOk) {
      st_.ctx.stop = true;  // the helper returns, then the run ends with this error
      return p->failure(st_);
    }
    // An early exit without an error (LD_ABS out of bounds) skips the callee's frame exit.
    st_.ctx.pc = pc;
    st_.program = saved_program;
    st_.depth = saved_depth;
    st_.init = saved_init;
    return r0;
  }

  bool tail_call(const TailCallTarget& target, uint64_t ctx) override {
    if (st_.tail_calls >= kMaxTailCalls) return false;
    const JitProgram* jp = target.jit;
    if (jp == nullptr || jp->checked_ != entered(0)->checked_) {
      st_.status = Status::kTailCallJit;
      st_.error_pc = st_.ctx.pc;
      st_.error_program = st_.program;
      st_.ctx.stop = true;
      return false;
    }
    ++st_.tail_calls;
    bool known = false;
    for (uint32_t k = 0; k < st_.entered_count; ++k) known = known || st_.entered[k] == jp;
    if (!known) st_.entered[st_.entered_count++] = jp;  // at most 1 + kMaxTailCalls
    st_.tail_target = reinterpret_cast<uint64_t>(jp->code_ + jp->layout_.body);
    st_.tail_ctx = ctx;
    st_.ctx.stop = true;  // the code's stop path takes the tail call
    return true;
  }

 private:
  const JitProgram* entered(uint32_t k) const { return st_.entered[k]; }
  const JitProgram* current() const {
    for (uint32_t k = 0; k < st_.entered_count; ++k) {
      if (st_.entered[k]->insns_.data() == st_.program) return st_.entered[k];
    }
    return nullptr;
  }
  JitState& st_;
};

namespace {

// Unchecked runs on one thread reuse one JitState, BPF stack included (see run()).
struct ThreadState {
  uint64_t owner = 0;  // serial of the program whose runs left the stack as it is (0: zeroed by nobody yet)
  bool busy = false;   // a run is using it (a helper of that run may start another)
  JitState st;
};

// Resets what a previous unchecked run may have left in the state, short of the stack and the
// region checks (unchecked code reads neither); run() sets the rest. Much cheaper than
// constructing a JitState, which zeroes its arrays (several `rep stos`).
void reset_for_run(JitState& st) {
  st.ctx = HelperContext{};
  st.host_rsp = 0;
  st.exit_to = 0;
  st.may_goto_left = kMayGotoBudget;
  st.depth = 0;
  st.status = Status::kOk;
  st.error_pc = 0;
  st.error_value = 0;
  st.error_program = nullptr;
  st.callx_value = 0;
  st.tail_target = 0;
  st.tail_ctx = 0;
  st.tail_calls = 0;
  st.entered_count = 0;
}

}  // namespace

Result<uint64_t> JitProgram::run(const RunOptions& options) const {
  // The BPF stack. The interpreter and checked code start from a zeroed stack. Unchecked code
  // runs verified programs, and like the kernel bpfvm does not zero their stack per run: it
  // reuses the thread's JitState and zeroes its stack only when another program (or nobody)
  // used it last. A verified program may still read stack bytes it did not write (privileged
  // loaders may, as in the kernel): it then sees what its own previous run on this thread
  // left there (or its tail-call targets, part of that run), never host memory or another
  // program's data. A run nested in another on the same thread (from a helper) gets a fresh,
  // zeroed state on the host stack, as checked runs do.
  thread_local ThreadState reused;
  if (checked_ || reused.busy) {
    JitState local;
    // The whole stack starts zeroed, as in the interpreter: deeper frames are zeroed again on
    // entry, but a program may read below its frame before any call made one, and must not see
    // what the host left there (4 KiB: tens of nanoseconds).
    std::memset(local.stack.data(), 0, local.stack.size());
    return run_on(local, options);
  }
  reset_for_run(reused.st);
  if (reused.owner != serial_) {
    std::memset(reused.st.stack.data(), 0, reused.st.stack.size());
    reused.owner = serial_;
  }
  reused.busy = true;
  auto r = run_on(reused.st, options);
  reused.busy = false;
  return r;
}

Result<uint64_t> JitProgram::run_on(JitState& st, const RunOptions& options) const {
  JitHost host(st);
  st.ctx.options = &options;
  // Checked mode: helpers check the pointers they are given. Unchecked code was verified, and
  // a verified program's pointers are trusted.
  st.ctx.host = &host;
  st.ctx.trusted = !checked_;
  st.entered[0] = this;
  st.entered_count = 1;
  st.program = insns_.data();
  st.init = regs::bit(isa::kFrameReg);
  for (unsigned k = 1; k <= options.initialized_args && k <= 5; ++k) st.init |= regs::bit(k);
  st.budget = options.branch_limit;  // 0: counts down from 2^64, never reached
  st.stack_lo = reinterpret_cast<uint64_t>(st.stack.data());
  st.helpers = helpers_;
  st.packet = options.packet.data();
  st.packet_size = options.packet.size();
  st.args = options.args;

  // Only checked code checks accesses against the regions.
  std::vector<RegionCheck> many;
  const std::size_t count = checked_ ? options.regions.size() : 0;
  if (count > 0) st.first = region_check(options.regions[0]);
  RegionCheck* rest = st.inline_regions.data();
  if (count > 1 + kInlineRegions) {
    many.resize(count - 1);
    rest = many.data();
  }
  for (std::size_t k = 1; k < count; ++k) rest[k - 1] = region_check(options.regions[k]);
  st.regions = rest;
  st.region_count = count > 1 ? count - 1 : 0;

  const auto entry = reinterpret_cast<JitEntry>(code_);
  const uint64_t r0 = entry(&st);
  if (st.status == Status::kOk) return r0;

  return failure(st);
}

Error JitProgram::failure(const JitState& st) const {
  const std::size_t pc = st.error_pc;
  const RunOptions& options = *st.ctx.options;
  // The instruction of the program that failed: this one, or one it tail-called.
  const Insn* program = st.error_program != nullptr ? st.error_program : insns_.data();
  auto fail = [&](std::string message) { return Error{ErrorKind::kRuntime, std::move(message), pc, std::nullopt}; };
  switch (st.status) {
    case Status::kBadAccess: {
      const Insn& i = program[pc];
      const bool load = i.info().kind == Kind::kLoad || i.info().kind == Kind::kLoadSx;
      return fail(fmt::format("invalid memory {} of {} bytes at 0x{:x} (r{} {:+d}): outside the stack and the "
                              "memory given to the program",
                              load ? "read" : "write", i.info().mem_size(), st.error_value, load ? i.src : i.dst,
                              i.off));
    }
    case Status::kMisaligned:
      return fail(fmt::format("misaligned {}-byte atomic access at 0x{:x}", program[pc].info().mem_size(),
                              st.error_value));
    case Status::kBranchLimit:
      return fail(fmt::format("stopped after {} taken branches: the program does not terminate "
                              "(raise RunOptions::branch_limit if it should)",
                              options.branch_limit));
    case Status::kCallDepth:
      return fail(fmt::format("the call stack of {} frames is too deep !", st.depth + 2));
    case Status::kKfunc:
      return fail(fmt::format("kernel function calls (kfunc #{}) are not available in this runtime", program[pc].imm));
    case Status::kCallxBad:
      return fail(fmt::format("callx r{}: 0x{:x} is neither a subprogram nor a known helper", program[pc].dst,
                              st.error_value));
    case Status::kNotReadOk:
      return fail(fmt::format("R{} !read_ok", st.error_value));
    case Status::kTailCallJit:
      return fail("bpf_tail_call: the target program has no JIT code of this mode (load every program of the chain "
                  "with the same engine)");
    case Status::kInternal:
    case Status::kOk:
      break;
  }
  return Error{ErrorKind::kInternal, "internal: the JIT-compiled code executed the second half of an ld_imm64",
               std::nullopt, std::nullopt};
}

}  // namespace bpfvm::jit
