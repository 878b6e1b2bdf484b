#include "exec/interpreter.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cstring>
#include <utility>

#include "exec/interpreter_machine.hpp"

namespace bpfvm {
namespace interp {

// The checked executor: each step checks what a verifier would have proved.
void Machine::execute_checked() {
  // Dispatch through a table of labels generated from the opcode table (computed goto).
  static const void* const kDispatch[] = {
#define BPFVM_OP(Name, ...) &&op_##Name,
#include "isa/opcodes.def"
#undef BPFVM_OP
      &&op_LdImm64Tail,
  };
  static_assert(std::size(kDispatch) == isa::kOpCount + 1);
  const Insn* insn = nullptr;
#define BPFVM_DISPATCH()       \
  insn = &code[pc];        \
  goto* kDispatch[static_cast<std::size_t>(insn->op)]

  BPFVM_DISPATCH();
#define BPFVM_OP(Name, ...)                          \
  op_##Name : if (!step<Op::Name>(*insn)) goto done; \
  BPFVM_DISPATCH();
#include "isa/opcodes.def"
#undef BPFVM_OP
op_LdImm64Tail:
  fail("internal: executed the second half of an ld_imm64");
  error->kind = ErrorKind::kInternal;
done:
#undef BPFVM_DISPATCH
  return;
}

}  // namespace interp

using interp::Machine;
using isa::Insn;
using isa::Kind;
using isa::Op;
using regs::bit;

Result<Interpreter> Interpreter::create(std::vector<isa::Insn> program, const HelperTable& helpers,
                                       InterpreterOptions options) {
  const bool relocated = options.relocated;
  if (auto st = isa::check_control_flow(program); !st) return st.error();
  Interpreter in;
  in.helper_at_.assign(program.size(), nullptr);
  for (std::size_t pc = 0; pc < program.size(); ++pc) {
    const Insn& insn = program[pc];
    if (insn.op == Op::CallHelper) {
      const Helper* h = helpers.find(insn.imm);
      if (h == nullptr || h->fn == nullptr) {
        return input_error(fmt::format("invalid func unknown#{}", insn.imm), pc);
      }
      in.helper_at_[pc] = h->fn;
    }
    if (!relocated && insn.info().kind == Kind::kLdImm64 && insn.op != Op::LdImm64 && insn.op != Op::LdFunc) {
      return input_error(fmt::format("ld_imm64 {} refers to a map or BTF object; load the program through an "
                                     "object loader that resolves it",
                                     insn.info().mnemonic),
                         pc);
    }
  }
  if (!options.checked) {
    static std::atomic<uint64_t> serials{0};
    in.serial_ = ++serials;
    in.slots_ = interp::predecode(program, options.map_lookups);
    in.map_lookups_ = std::move(options.map_lookups);
  }
  in.insns_ = std::move(program);
  in.helpers_ = &helpers;
  return in;
}

namespace {

// The stack unchecked runs on one thread reuse (see Interpreter::run).
struct ThreadStack {
  uint64_t owner = 0;  // serial of the program whose runs left it as it is (0: nobody)
  bool busy = false;   // a run is using it (a helper of that run may start another)
  alignas(16) interp::StackBytes bytes;
};

}  // namespace

Result<uint64_t> Interpreter::run(const RunOptions& options) const {
  // The BPF stack. Checked runs start from a zeroed stack, all of it: a program may read
  // below its frame before any call made one, and must find zeros there, not what the host
  // left. Unchecked runs are of verified programs and, as in the kernel and the JIT, do not
  // zero it per run: they reuse the thread's stack, zeroed only when another program (or
  // nobody) used it last. A verified program that reads stack bytes it did not write (as
  // privileged loaders may) sees what its own previous run on this thread left there, never
  // host memory or another program's data. A run nested in another on the same thread gets
  // a fresh, zeroed stack.
  thread_local ThreadStack reused;
  alignas(16) interp::StackBytes local;
  const bool reuse = !checked() && !reused.busy;
  if (!reuse) {
    std::memset(local.data(), 0, local.size());
  } else if (reused.owner != serial_) {
    std::memset(reused.bytes.data(), 0, reused.bytes.size());
    reused.owner = serial_;
  }
  Machine m(reuse ? reused.bytes : local);
  m.set_program(this);
  m.checked = checked();
  m.helpers = helpers_;
  m.options = &options;
  m.branches_left = options.branch_limit;
  for (unsigned k = 0; k < 5; ++k) m.reg[k + 1] = options.args[k];
  m.init = bit(10);
  for (unsigned k = 1; k <= options.initialized_args && k <= 5; ++k) m.init |= bit(k);
  m.reg[10] = m.frame_pointer(0);

  if (reuse) reused.busy = true;
  m.execute();
  if (reuse) reused.busy = false;
  if (m.error) return *m.error;
  return m.reg[0];
}

}  // namespace bpfvm
