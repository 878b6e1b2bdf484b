// Decoding and validation of raw instructions. Messages follow the kernel's verifier
// (kernel/bpf/verifier.c) so a user sees the same words from bpfvm and from Linux.
#include <fmt/format.h>

#include "isa/insn.hpp"

namespace bpfvm::isa {
namespace {

int32_t field_value(const RawInsn& raw, Match match) {
  switch (match) {
    case Match::kOff: return raw.off;
    case Match::kImm: return raw.imm;
    case Match::kSrc: return raw.src();
    case Match::kNone: return 0;
  }
  return 0;
}

// The kernel's complaint about an instruction of this kind whose unused fields are not zero.
std::string reserved_fields_message(const OpInfo& row, const RawInsn& raw) {
  switch (row.kind) {
    case Kind::kAlu:
      return row.op_bits() == code::kMov ? "BPF_MOV uses reserved fields" : "BPF_ALU uses reserved fields";
    case Kind::kMovSx: return "BPF_MOV uses reserved fields";
    case Kind::kNeg: return "BPF_NEG uses reserved fields";
    case Kind::kEnd: case Kind::kBswap: return "BPF_END uses reserved fields";
    case Kind::kJmpCond: return "BPF_JMP/JMP32 uses reserved fields";
    case Kind::kJa: case Kind::kGotol: return "BPF_JA uses reserved fields";
    case Kind::kMayGoto: return "BPF_JCOND uses reserved fields";
    case Kind::kCallHelper: case Kind::kCallLocal: case Kind::kCallKfunc: case Kind::kCallx:
      return "BPF_CALL uses reserved fields";
    case Kind::kExit: return "BPF_EXIT uses reserved fields";
    case Kind::kLoad: case Kind::kLoadSx: return "BPF_LDX uses reserved fields";
    case Kind::kStore: return "BPF_ST uses reserved fields";
    case Kind::kStoreReg: return "BPF_STX uses reserved fields";
    case Kind::kAtomic:
      return fmt::format("BPF_ATOMIC uses invalid atomic opcode {:02x}", static_cast<uint32_t>(raw.imm));
    case Kind::kLdImm64:
      return raw.off != 0 ? "BPF_LD_IMM64 uses reserved fields" : "unrecognized bpf_ld_imm64 insn";
    case Kind::kLdAbs: case Kind::kLdInd: return "BPF_LD_[ABS|IND] uses reserved fields";
    case Kind::kTail: break;
  }
  return "reserved fields are set";
}

// Fields the operation does not use must be zero.
bool unused_fields_zero(const OpInfo& row, const RawInsn& raw, bool linux_compatible) {
  const bool x = row.reg_source();
  switch (row.kind) {
    case Kind::kAlu: return x ? raw.imm == 0 : raw.src() == 0;
    case Kind::kMovSx: return raw.imm == 0;
    case Kind::kNeg: return raw.src() == 0 && raw.imm == 0;
    case Kind::kEnd: case Kind::kBswap: return raw.src() == 0 && raw.off == 0;
    case Kind::kJmpCond: return x ? raw.imm == 0 : raw.src() == 0;
    case Kind::kJa: return raw.src() == 0 && raw.dst() == 0 && raw.imm == 0;
    case Kind::kGotol: return raw.src() == 0 && raw.dst() == 0 && raw.off == 0;
    case Kind::kMayGoto: return raw.dst() == 0 && raw.imm == 0;
    case Kind::kCallHelper: case Kind::kCallLocal: return raw.dst() == 0 && raw.off == 0;
    case Kind::kCallKfunc: return raw.dst() == 0;  // off: index of the module BTF fd
    case Kind::kCallx: return raw.src() == 0 && raw.off == 0 && raw.imm == 0;
    case Kind::kExit: return raw.regs == 0 && raw.imm == 0 && (raw.off == 0 || linux_compatible);
    case Kind::kLoad: case Kind::kLoadSx: return raw.imm == 0;
    case Kind::kStore: return raw.src() == 0;
    case Kind::kStoreReg: return raw.imm == 0;
    case Kind::kAtomic: return true;
    case Kind::kLdImm64: return raw.off == 0;
    case Kind::kLdAbs: return raw.dst() == 0 && raw.src() == 0 && raw.off == 0;
    case Kind::kLdInd: return raw.dst() == 0 && raw.off == 0;
    case Kind::kTail: break;
  }
  return false;
}

bool writes_dst(Kind kind) {
  switch (kind) {
    case Kind::kAlu: case Kind::kMovSx: case Kind::kNeg: case Kind::kEnd: case Kind::kBswap:
    case Kind::kLoad: case Kind::kLoadSx: case Kind::kLdImm64:
      return true;
    default:
      return false;
  }
}

}  // namespace

Result<std::vector<RawInsn>> raw_from_bytes(std::span<const uint8_t> bytes) {
  if (bytes.size() % sizeof(RawInsn) != 0) {
    return input_error(fmt::format("program is {} bytes, not a whole number of 8-byte instructions "
                                   "({} trailing bytes at offset {})",
                                   bytes.size(), bytes.size() % sizeof(RawInsn),
                                   bytes.size() - bytes.size() % sizeof(RawInsn)));
  }
  std::vector<RawInsn> raw(bytes.size() / sizeof(RawInsn));
  if (!raw.empty()) std::memcpy(raw.data(), bytes.data(), bytes.size());
  return raw;
}

std::vector<uint8_t> bytes_from_raw(std::span<const RawInsn> raw) {
  std::vector<uint8_t> bytes(raw.size() * sizeof(RawInsn));
  if (!raw.empty()) std::memcpy(bytes.data(), raw.data(), bytes.size());
  return bytes;
}

Result<std::vector<Insn>> decode(std::span<const RawInsn> raw, DecodeOptions options) {
  std::vector<Insn> out;
  out.reserve(raw.size());
  for (std::size_t pc = 0; pc < raw.size(); ++pc) {
    const RawInsn& r = raw[pc];
    const auto rows = rows_for_code(r.code);
    if (rows.empty() || (options.linux_compatible && !info(rows.front()).kernel)) {
      return input_error(fmt::format("unknown opcode {:02x}", r.code), pc);
    }
    // Like the kernel, check that an ld_imm64 has its second half before looking at src_reg.
    if (r.code == info(Op::LdImm64).code) {
      if (pc + 1 == raw.size() || raw[pc + 1].code != 0 || raw[pc + 1].regs != 0 || raw[pc + 1].off != 0) {
        return input_error("invalid bpf_ld_imm64 insn", pc);
      }
    }
    const OpInfo* row = nullptr;
    for (Op candidate : rows) {
      const OpInfo& c = info(candidate);
      if (c.match == Match::kNone || field_value(r, c.match) == c.match_value) {
        row = &c;
        break;
      }
    }
    if (row == nullptr || !unused_fields_zero(*row, r, options.linux_compatible)) {
      return input_error(reserved_fields_message(row ? *row : info(rows.front()), r), pc);
    }
    const uint8_t max_reg = options.allow_aux_register ? kAuxReg : kMaxReg;
    if (r.dst() > max_reg) return input_error(fmt::format("R{} is invalid", r.dst()), pc);
    if (r.src() > max_reg) return input_error(fmt::format("R{} is invalid", r.src()), pc);
    if (writes_dst(row->kind) && r.dst() == kFrameReg) return input_error("frame pointer is read only", pc);
    if (row->kind == Kind::kAtomic && (r.imm & code::kFetch) && r.imm != code::kCmpxchg && r.src() == kFrameReg) {
      return input_error("frame pointer is read only", pc);
    }

    Insn insn{row->op, r.dst(), r.src(), r.off, r.imm, static_cast<uint64_t>(static_cast<int64_t>(r.imm))};
    if (row->kind == Kind::kLdImm64) {
      const RawInsn& next = raw[pc + 1];
      if ((row->op == Op::LdMapFd || row->op == Op::LdMapIdx) && next.imm != 0) {
        return input_error("unrecognized bpf_ld_imm64 insn", pc);
      }
      insn.imm64 = (static_cast<uint64_t>(static_cast<uint32_t>(next.imm)) << 32) | static_cast<uint32_t>(r.imm);
      out.push_back(insn);
      out.push_back(Insn{Op::LdImm64Tail, 0, 0, 0, next.imm, 0});
      ++pc;
      continue;
    }
    out.push_back(insn);
  }
  return out;
}

Status check_control_flow(std::span<const Insn> insns) {
  if (insns.empty()) return input_error("program has no instructions");
  const auto n = static_cast<int64_t>(insns.size());
  for (std::size_t pc = 0; pc < insns.size(); ++pc) {
    const Insn& insn = insns[pc];
    if (insn.op == Op::LdImm64Tail) continue;
    auto target = branch_target(insn, pc);
    if (!target) continue;
    if (*target < 0 || *target >= n) {
      if (insn.op == Op::CallLocal) return input_error("call to invalid destination", pc);
      return input_error(fmt::format("jump out of range from insn {} to {}", pc, *target), pc);
    }
    if (insns[static_cast<std::size_t>(*target)].op == Op::LdImm64Tail) {
      return input_error(fmt::format("jump into the middle of ldimm64 insn {}", *target - 1), pc);
    }
  }
  const Kind last = insns.back().info().kind;
  if (last != Kind::kExit && last != Kind::kJa && last != Kind::kGotol) {
    return input_error("last insn is not an exit or jmp", insns.size() - 1);
  }
  return ok_status();
}

Result<std::vector<Insn>> decode_program(std::span<const RawInsn> raw, DecodeOptions options) {
  auto insns = decode(raw, options);
  if (!insns) return insns.error();
  if (auto st = check_control_flow(*insns); !st) return st.error();
  return insns;
}

Insn make_insn(Op op, uint8_t dst, uint8_t src, int16_t off, int32_t imm, uint64_t imm64) {
  const OpInfo& row = info(op);
  Insn insn{op, dst, src, off, imm, imm64};
  switch (row.match) {
    case Match::kOff: insn.off = static_cast<int16_t>(row.match_value); break;
    case Match::kImm: insn.imm = row.match_value; break;
    case Match::kSrc: insn.src = static_cast<uint8_t>(row.match_value); break;
    case Match::kNone: break;
  }
  if (row.kind == Kind::kLdImm64) {
    insn.imm = static_cast<int32_t>(static_cast<uint32_t>(insn.imm64));
  } else {
    insn.imm64 = static_cast<uint64_t>(static_cast<int64_t>(insn.imm));
  }
  return insn;
}

std::vector<RawInsn> encode(std::span<const Insn> insns) {
  std::vector<RawInsn> out;
  out.reserve(insns.size());
  for (const Insn& insn : insns) {
    if (insn.op == Op::LdImm64Tail) continue;  // emitted with its first half
    const OpInfo& row = insn.info();
    out.push_back(RawInsn::make(row.code, insn.dst, insn.src, insn.off, insn.imm));
    if (row.kind == Kind::kLdImm64) {
      out.push_back(RawInsn::make(0, 0, 0, 0, static_cast<int32_t>(insn.imm_hi())));
    }
  }
  return out;
}

}  // namespace bpfvm::isa
