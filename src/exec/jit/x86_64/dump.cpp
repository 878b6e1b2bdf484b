// JitProgram::dump: the generated code as capstone disassembles it, each BPF instruction
// followed by the host instructions it became, like `bpftool prog dump jited`.
#include <capstone/capstone.h>
#include <fmt/format.h>

#include "exec/jit/x86_64/jit.hpp"
#include "isa/disasm.hpp"

namespace bpfvm::jit {
namespace {

class Disassembler {
 public:
  Disassembler() { ok_ = cs_open(CS_ARCH_X86, CS_MODE_64, &handle_) == CS_ERR_OK; }
  ~Disassembler() {
    if (ok_) cs_close(&handle_);
  }
  Disassembler(const Disassembler&) = delete;
  Disassembler& operator=(const Disassembler&) = delete;

  // Appends "  <offset>: <bytes>  <mnemonic> <operands>" for the code in [begin, end).
  void lines(const uint8_t* code, std::size_t begin, std::size_t end, std::string& out) const {
    if (!ok_ || begin >= end) return;
    cs_insn* insn = nullptr;
    const std::size_t n = cs_disasm(handle_, code + begin, end - begin, begin, 0, &insn);
    std::size_t covered = begin;
    for (std::size_t k = 0; k < n; ++k) {
      std::string bytes;
      for (uint16_t b = 0; b < insn[k].size; ++b) bytes += fmt::format("{:02x} ", insn[k].bytes[b]);
      out += fmt::format("  {:5x}:  {:<30} {} {}\n", insn[k].address, bytes, insn[k].mnemonic, insn[k].op_str);
      covered = insn[k].address + insn[k].size;
    }
    if (n > 0) cs_free(insn, n);
    if (covered < end) out += fmt::format("  {:5x}:  ({} bytes capstone cannot decode)\n", covered, end - covered);
  }

 private:
  csh handle_ = 0;
  bool ok_ = false;
};

}  // namespace

std::string JitProgram::dump() const {
  const Disassembler dis;
  std::string out = fmt::format("; {} BPF instructions, {} bytes of x86-64 at {}\n", insns_.size(), code_size_,
                                static_cast<const void*>(code_));
  if (checked_) {
    out += tracking_ ? "; checked; register writes tracked at run time (some reads depend on the path)\n"
                     : "; checked; every register read decided when compiling\n";
  }
  out += "; prologue\n";
  dis.lines(code_, 0, layout_.body, out);
  for (std::size_t pc = 0; pc < insns_.size(); ++pc) {
    if (insns_[pc].op == isa::Op::LdImm64Tail) continue;
    std::size_t next = pc + 1;
    while (next < insns_.size() && insns_[next].op == isa::Op::LdImm64Tail) ++next;
    const std::size_t end = next < insns_.size() ? layout_.insn_start[next] : layout_.out_of_line;
    out += fmt::format("; {:4}: {}\n", pc, isa::kernel_text(insns_[pc]));
    dis.lines(code_, layout_.insn_start[pc], end, out);
  }
  out += "; out of line: failure paths and shared stubs\n";
  dis.lines(code_, layout_.out_of_line, layout_.data, out);
  if (layout_.data < code_size_) {
    out += fmt::format("; callx jump table: {} entries of 8 bytes\n", (code_size_ - layout_.data) / 8);
  }
  return out;
}

}  // namespace bpfvm::jit
