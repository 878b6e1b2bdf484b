#include "isa/disasm.hpp"

#include <fmt/format.h>

namespace bpfvm::isa {
namespace {

// Operator texts of the kernel's disassembler (bpf_alu_string, bpf_jmp_string, ...).
std::string_view alu_operator(const OpInfo& row, int16_t off) {
  const bool is_signed = off == 1;
  switch (row.op_bits()) {
    case 0x00: return "+=";
    case 0x10: return "-=";
    case 0x20: return "*=";
    case 0x30: return is_signed ? "s/=" : "/=";
    case 0x40: return "|=";
    case 0x50: return "&=";
    case 0x60: return "<<=";
    case 0x70: return ">>=";
    case 0x90: return is_signed ? "s%=" : "%=";
    case 0xa0: return "^=";
    case 0xb0: return "=";
    case 0xc0: return "s>>=";
    default: return "?";
  }
}

std::string_view jmp_operator(const OpInfo& row) {
  switch (row.op_bits()) {
    case 0x10: return "==";
    case 0x20: return ">";
    case 0x30: return ">=";
    case 0x40: return "&";
    case 0x50: return "!=";
    case 0x60: return "s>";
    case 0x70: return "s>=";
    case 0xa0: return "<";
    case 0xb0: return "<=";
    case 0xc0: return "s<";
    case 0xd0: return "s<=";
    default: return "?";
  }
}

std::string_view atomic_name(int32_t imm) {
  switch (imm & ~code::kFetch) {
    case 0x00: return "add";
    case 0x40: return "or";
    case 0x50: return "and";
    case 0xa0: return "xor";
    default: return "?";
  }
}

std::string_view unsigned_size(unsigned bytes) {
  switch (bytes) {
    case 1: return "u8";
    case 2: return "u16";
    case 4: return "u32";
    default: return "u64";
  }
}

std::string_view signed_size(unsigned bytes) {
  switch (bytes) {
    case 1: return "s8";
    case 2: return "s16";
    default: return "s32";
  }
}

// bpftool's rendering of ld_imm64 operands in `prog dump xlated` (print_imm).
std::string default_imm_text(const Insn& insn) {
  switch (insn.op) {
    case Op::LdMapFd: return fmt::format("map[id:{}]", static_cast<uint32_t>(insn.imm));
    case Op::LdMapValue: return fmt::format("map[id:{}][0]+{}", static_cast<uint32_t>(insn.imm), insn.imm_hi());
    case Op::LdMapIdx: return fmt::format("map[idx:{}]", static_cast<uint32_t>(insn.imm));
    case Op::LdMapIdxValue: return fmt::format("map[idx:{}]+{}", static_cast<uint32_t>(insn.imm), insn.imm_hi());
    case Op::LdFunc: return fmt::format("subprog[{:+d}]", insn.imm);
    default: return fmt::format("0x{:x}", insn.imm64);
  }
}

}  // namespace

std::string kernel_text(const Insn& insn, const KernelSyntaxOptions& options) {
  if (insn.op == Op::LdImm64Tail) return "(00) ld_imm64 second half";
  const OpInfo& row = insn.info();
  const uint8_t c = row.code;
  const char w = row.is64() ? 'r' : 'w';
  switch (row.kind) {
    case Kind::kAlu:
      if (row.reg_source()) {
        return fmt::format("({:02x}) {}{} {} {}{}", c, w, insn.dst, alu_operator(row, insn.off), w, insn.src);
      }
      return fmt::format("({:02x}) {}{} {} {}", c, w, insn.dst, alu_operator(row, insn.off), insn.imm);
    case Kind::kMovSx:
      return fmt::format("({:02x}) {}{} = (s{}){}{}", c, w, insn.dst, insn.off, w, insn.src);
    case Kind::kNeg:
      return fmt::format("({:02x}) {}{} = -{}{}", c, w, insn.dst, w, insn.dst);
    case Kind::kEnd:
      return fmt::format("({:02x}) r{} = {}{} r{}", c, insn.dst, c == 0xdc ? "be" : "le", insn.imm, insn.dst);
    case Kind::kBswap:
      return fmt::format("({:02x}) r{} = bswap{} r{}", c, insn.dst, insn.imm, insn.dst);
    case Kind::kJmpCond:
      if (row.reg_source()) {
        return fmt::format("({:02x}) if {}{} {} {}{} goto pc{:+d}", c, w, insn.dst, jmp_operator(row), w, insn.src,
                           insn.off);
      }
      return fmt::format("({:02x}) if {}{} {} 0x{:x} goto pc{:+d}", c, w, insn.dst, jmp_operator(row),
                         static_cast<uint32_t>(insn.imm), insn.off);
    case Kind::kJa: return fmt::format("({:02x}) goto pc{:+d}", c, insn.off);
    case Kind::kGotol: return fmt::format("({:02x}) gotol pc{:+d}", c, insn.imm);
    case Kind::kMayGoto: return fmt::format("({:02x}) may_goto pc{:+d}", c, insn.off);
    case Kind::kCallLocal: {
      std::optional<std::string> name = options.call_name ? options.call_name(insn) : std::nullopt;
      return fmt::format("({:02x}) call pc{}", c, name ? *name : fmt::format("{:+d}", insn.imm));
    }
    case Kind::kCallHelper:
    case Kind::kCallKfunc: {
      std::optional<std::string> name = options.call_name ? options.call_name(insn) : std::nullopt;
      // Like the kernel, a kfunc whose id is also a helper id prints under the helper's name.
      if (!name) name = kernel_helper_name(insn.imm);
      return fmt::format("({:02x}) call {}#{}", c, name ? *name : "unknown", insn.imm);
    }
    case Kind::kCallx: return fmt::format("({:02x}) callx r{}", c, insn.dst);
    case Kind::kExit: return fmt::format("({:02x}) exit", c);
    case Kind::kLoad:
      return fmt::format("({:02x}) r{} = *({} *)(r{} {:+d})", c, insn.dst, unsigned_size(row.mem_size()), insn.src,
                         insn.off);
    case Kind::kLoadSx:
      return fmt::format("({:02x}) r{} = *({} *)(r{} {:+d})", c, insn.dst, signed_size(row.mem_size()), insn.src,
                         insn.off);
    case Kind::kStore:
      return fmt::format("({:02x}) *({} *)(r{} {:+d}) = {}", c, unsigned_size(row.mem_size()), insn.dst, insn.off,
                         insn.imm);
    case Kind::kStoreReg:
      return fmt::format("({:02x}) *({} *)(r{} {:+d}) = r{}", c, unsigned_size(row.mem_size()), insn.dst, insn.off,
                         insn.src);
    case Kind::kAtomic: {
      const std::string_view size = unsigned_size(row.mem_size());
      const std::string_view width = row.mem_size() == 8 ? "64" : "";
      if (insn.imm == code::kCmpxchg) {
        return fmt::format("({:02x}) r0 = atomic{}_cmpxchg(({} *)(r{} {:+d}), r0, r{})", c, width, size, insn.dst,
                           insn.off, insn.src);
      }
      if (insn.imm == code::kXchg) {
        return fmt::format("({:02x}) r{} = atomic{}_xchg(({} *)(r{} {:+d}), r{})", c, insn.src, width, size,
                           insn.dst, insn.off, insn.src);
      }
      if (insn.imm & code::kFetch) {
        return fmt::format("({:02x}) r{} = atomic{}_fetch_{}(({} *)(r{} {:+d}), r{})", c, insn.src, width,
                           atomic_name(insn.imm), size, insn.dst, insn.off, insn.src);
      }
      const std::string_view op = insn.imm == 0x00 ? "+=" : insn.imm == 0x40 ? "|=" : insn.imm == 0x50 ? "&=" : "^=";
      return fmt::format("({:02x}) lock *({} *)(r{} {:+d}) {} r{}", c, size, insn.dst, insn.off, op, insn.src);
    }
    case Kind::kLdImm64: {
      std::optional<std::string> text = options.imm_text ? options.imm_text(insn) : std::nullopt;
      return fmt::format("({:02x}) r{} = {}", c, insn.dst, text ? *text : default_imm_text(insn));
    }
    case Kind::kLdAbs:
      return fmt::format("({:02x}) r0 = *({} *)skb[{}]", c, unsigned_size(row.mem_size()), insn.imm);
    case Kind::kLdInd:
      return fmt::format("({:02x}) r0 = *({} *)skb[r{} + {}]", c, unsigned_size(row.mem_size()), insn.src, insn.imm);
    case Kind::kTail: break;
  }
  return fmt::format("({:02x}) ?", c);
}

namespace {

std::string mem_operand(uint8_t reg, int16_t off) {
  return off < 0 ? fmt::format("[%r{}-{}]", reg, -static_cast<int32_t>(off)) : fmt::format("[%r{}+{}]", reg, off);
}

std::string rel(int64_t offset) { return fmt::format("{:+d}", offset); }

}  // namespace

std::string conformance_text(const Insn& insn) {
  if (insn.op == Op::LdImm64Tail) return "# (second half of lddw)";
  const OpInfo& row = insn.info();
  const std::string_view mn = row.mnemonic;
  switch (row.kind) {
    case Kind::kAlu:
      if (row.reg_source()) return fmt::format("{} %r{}, %r{}", mn, insn.dst, insn.src);
      return fmt::format("{} %r{}, {}", mn, insn.dst, insn.imm);
    case Kind::kMovSx: return fmt::format("{} %r{}, %r{}", mn, insn.dst, insn.src);
    case Kind::kNeg: case Kind::kEnd: case Kind::kBswap: return fmt::format("{} %r{}", mn, insn.dst);
    case Kind::kJmpCond:
      if (row.reg_source()) return fmt::format("{} %r{}, %r{}, {}", mn, insn.dst, insn.src, rel(insn.off));
      return fmt::format("{} %r{}, {}, {}", mn, insn.dst, insn.imm, rel(insn.off));
    case Kind::kJa: case Kind::kMayGoto: return fmt::format("{} {}", mn, rel(insn.off));
    case Kind::kGotol: return fmt::format("{} {}", mn, rel(insn.imm));
    case Kind::kCallHelper: return fmt::format("call {}", insn.imm);
    case Kind::kCallLocal: return fmt::format("call local {}", rel(insn.imm));
    case Kind::kCallKfunc:
      return insn.off ? fmt::format("call kfunc {}, {}", insn.imm, insn.off) : fmt::format("call kfunc {}", insn.imm);
    case Kind::kCallx: return fmt::format("call %r{}", insn.dst);
    case Kind::kExit: return "exit";
    case Kind::kLoad: case Kind::kLoadSx:
      return fmt::format("{} %r{}, {}", mn, insn.dst, mem_operand(insn.src, insn.off));
    case Kind::kStore: return fmt::format("{} {}, {}", mn, mem_operand(insn.dst, insn.off), insn.imm);
    case Kind::kStoreReg: case Kind::kAtomic:
      return fmt::format("{} {}, %r{}", mn, mem_operand(insn.dst, insn.off), insn.src);
    case Kind::kLdImm64:
      if (insn.op == Op::LdMapValue || insn.op == Op::LdMapIdxValue) {
        return fmt::format("{} %r{}, {}, {}", mn, insn.dst, insn.imm, insn.imm_hi());
      }
      if (insn.op == Op::LdImm64) return fmt::format("{} %r{}, 0x{:x}", mn, insn.dst, insn.imm64);
      return fmt::format("{} %r{}, {}", mn, insn.dst, insn.imm);
    case Kind::kLdAbs: return fmt::format("{} {}", mn, insn.imm);
    case Kind::kLdInd: return fmt::format("{} %r{}, {}", mn, insn.src, insn.imm);
    case Kind::kTail: break;
  }
  return "?";
}

std::string disassemble(std::span<const Insn> insns, Syntax syntax, const KernelSyntaxOptions& options) {
  std::string out;
  for (std::size_t pc = 0; pc < insns.size(); ++pc) {
    if (insns[pc].op == Op::LdImm64Tail) continue;
    if (syntax == Syntax::kKernel) {
      out += fmt::format("{:4}: {}\n", pc, kernel_text(insns[pc], options));
    } else {
      out += conformance_text(insns[pc]);
      out += '\n';
    }
  }
  return out;
}

}  // namespace bpfvm::isa
