// Differential tests against the running kernel: the same instructions loaded with
// BPF_PROG_LOAD must be printed by bpfvm exactly as Linux prints them — in the verifier log
// (the kernel's own disassembler, every opcode) and in `bpftool prog dump xlated` (what users
// read; Debian's bpftool predates cpu v4, so v4 instructions are compared with the log only).
// Programs are tiny and branch-free enough to be safe to feed the kernel. Skipped, saying why,
// where bpf() is unavailable.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <regex>
#include <set>

#include "bpf_syscall.hpp"
#include "isa/assembler.hpp"
#include "isa/disasm.hpp"

namespace bpfvm::kernel {
namespace {

#define SKIP_WITHOUT_BPF()                                                         \
  if (auto reason = unavailable_reason()) GTEST_SKIP() << "bpf() unavailable: " << *reason

struct Program {
  const char* name;
  uint32_t type;
  const char* source;
};

// Together these use every opcode byte Linux accepts (the coverage test below checks that).
const Program kPrograms[] = {
    {"alu", BPF_PROG_TYPE_SOCKET_FILTER,
     "mov %r1, 5\nmov %r2, 3\nmov32 %r3, 7\nmov32 %r4, %r2\n"
     "add %r1, 3\nadd %r1, %r2\nadd32 %r1, 3\nadd32 %r1, %r2\n"
     "sub %r1, 3\nsub %r1, %r2\nsub32 %r1, 3\nsub32 %r1, %r2\n"
     "mul %r1, 3\nmul %r1, %r2\nmul32 %r1, 3\nmul32 %r1, %r2\n"
     "div %r1, 3\ndiv %r1, %r2\ndiv32 %r1, 3\ndiv32 %r1, %r2\n"
     "sdiv %r1, 3\nsdiv %r1, %r2\nsdiv32 %r1, -3\nsdiv32 %r1, %r2\n"
     "or %r1, 3\nor %r1, %r2\nor32 %r1, 3\nor32 %r1, %r2\n"
     "and %r1, 3\nand %r1, %r2\nand32 %r1, 3\nand32 %r1, %r2\n"
     "lsh %r1, 3\nlsh %r1, %r2\nlsh32 %r1, 3\nlsh32 %r1, %r2\n"
     "rsh %r1, 3\nrsh %r1, %r2\nrsh32 %r1, 3\nrsh32 %r1, %r2\n"
     "mod %r1, 3\nmod %r1, %r2\nmod32 %r1, 3\nmod32 %r1, %r2\n"
     "smod %r1, -3\nsmod %r1, %r2\nsmod32 %r1, 3\nsmod32 %r1, %r2\n"
     "xor %r1, 3\nxor %r1, %r2\nxor32 %r1, 3\nxor32 %r1, %r2\n"
     "mov %r1, -3\nmov %r1, %r2\nmov32 %r1, 3\nmov32 %r1, %r2\n"
     "arsh %r1, 3\narsh %r1, %r2\narsh32 %r1, 3\narsh32 %r1, %r2\n"
     "neg %r1\nneg32 %r1\n"
     "movsx832 %r1, %r2\nmovsx1632 %r1, %r2\nmovsx864 %r1, %r2\nmovsx1664 %r1, %r2\nmovsx3264 %r1, %r2\n"
     "le16 %r1\nle32 %r1\nle64 %r1\nbe16 %r1\nbe32 %r1\nbe64 %r1\nbswap16 %r1\nbswap32 %r1\nbswap64 %r1\n"
     "mov %r0, 0\nexit\n"},
    {"jumps", BPF_PROG_TYPE_SOCKET_FILTER,
     "mov %r1, 5\nmov %r2, 3\n"
     "jeq %r1, 1, +0\njeq %r1, %r2, +0\njeq32 %r1, 1, +0\njeq32 %r1, %r2, +0\n"
     "jgt %r1, -1, +0\njgt %r1, %r2, +0\njgt32 %r1, 1, +0\njgt32 %r1, %r2, +0\n"
     "jge %r1, 1, +0\njge %r1, %r2, +0\njge32 %r1, 1, +0\njge32 %r1, %r2, +0\n"
     "jset %r1, 1, +0\njset %r1, %r2, +0\njset32 %r1, 1, +0\njset32 %r1, %r2, +0\n"
     "jne %r1, 1, +0\njne %r1, %r2, +0\njne32 %r1, 1, +0\njne32 %r1, %r2, +0\n"
     "jsgt %r1, 1, +0\njsgt %r1, %r2, +0\njsgt32 %r1, 1, +0\njsgt32 %r1, %r2, +0\n"
     "jsge %r1, 1, +0\njsge %r1, %r2, +0\njsge32 %r1, 1, +0\njsge32 %r1, %r2, +0\n"
     "jlt %r1, 1, +0\njlt %r1, %r2, +0\njlt32 %r1, 1, +0\njlt32 %r1, %r2, +0\n"
     "jle %r1, 1, +0\njle %r1, %r2, +0\njle32 %r1, 1, +0\njle32 %r1, %r2, +0\n"
     "jslt %r1, 1, +0\njslt %r1, %r2, +0\njslt32 %r1, 1, +0\njslt32 %r1, %r2, +0\n"
     "jsle %r1, 1, +0\njsle %r1, %r2, +0\njsle32 %r1, 1, +0\njsle32 %r1, %r2, +0\n"
     "ja +0\nja32 +0\nmay_goto +0\n"
     "mov %r0, 0\nexit\n"},
    {"memory", BPF_PROG_TYPE_SOCKET_FILTER,
     "mov %r1, 7\n"
     "stxdw [%r10-8], %r1\nstxw [%r10-16], %r1\nstxh [%r10-24], %r1\nstxb [%r10-32], %r1\n"
     "stdw [%r10-40], 1\nstw [%r10-48], -2\nsth [%r10-56], 3\nstb [%r10-64], 4\n"
     "ldxdw %r2, [%r10-8]\nldxw %r2, [%r10-16]\nldxh %r2, [%r10-24]\nldxb %r2, [%r10-32]\n"
     "ldxsw %r2, [%r10-16]\nldxsh %r2, [%r10-24]\nldxsb %r2, [%r10-32]\n"
     "lock add [%r10-8], %r1\nlock add32 [%r10-16], %r1\nlock or [%r10-8], %r1\nlock or32 [%r10-16], %r1\n"
     "lock and [%r10-8], %r1\nlock and32 [%r10-16], %r1\nlock xor [%r10-8], %r1\nlock xor32 [%r10-16], %r1\n"
     "lock fetch add [%r10-8], %r1\nlock fetch add32 [%r10-16], %r1\n"
     "lock fetch or [%r10-8], %r1\nlock fetch or32 [%r10-16], %r1\n"
     "lock fetch and [%r10-8], %r1\nlock fetch and32 [%r10-16], %r1\n"
     "lock fetch xor [%r10-8], %r1\nlock fetch xor32 [%r10-16], %r1\n"
     "lock xchg [%r10-8], %r1\nlock xchg32 [%r10-16], %r1\n"
     "mov %r0, 1\nlock cmpxchg [%r10-8], %r1\nlock cmpxchg32 [%r10-16], %r1\n"
     "mov %r0, 0\nexit\n"},
    {"packet", BPF_PROG_TYPE_SOCKET_FILTER,
     "mov %r6, %r1\nldabsb 0\nldabsh 2\nldabsw 4\nmov %r7, 1\nldindb %r7, 0\nldindh %r7, 2\nldindw %r7, 4\n"
     "mov %r0, 0\nexit\n"},
    {"calls", BPF_PROG_TYPE_SOCKET_FILTER,
     "call 7\nlddw %r1, 0x1122334455667788\nlddw %r1, -2\ncall local f\nmov %r0, 0\nexit\n"
     "f:\nmov %r0, 1\nexit\n"},
};

std::vector<isa::RawInsn> assemble_or_die(const char* source) {
  auto insns = isa::assemble(source);
  EXPECT_TRUE(insns.ok()) << insns.error().to_string();
  return insns.ok() ? isa::encode(*insns) : std::vector<isa::RawInsn>{};
}

// "12: (bf) r1 = r2                      ; R1_w=3" -> {12, "(bf) r1 = r2"}
std::map<std::size_t, std::string> log_instructions(const std::string& log) {
  static const std::regex line_re(R"(^(\d+): (\([0-9a-f]{2}\) [^;]*?)\s*(;.*)?$)");
  std::map<std::size_t, std::string> out;
  std::size_t start = 0;
  while (start < log.size()) {
    std::size_t end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    const std::string line = log.substr(start, end - start);
    std::smatch m;
    if (std::regex_match(line, m, line_re)) out[std::stoul(m[1])] = m[2];
    start = end + 1;
  }
  return out;
}

TEST(KernelDisasm, VerifierLogPrintsWhatBpfvmPrints) {
  SKIP_WITHOUT_BPF();
  std::set<uint8_t> compared_codes;
  for (const Program& p : kPrograms) {
    const auto raw = assemble_or_die(p.source);
    LoadResult r = load_program(p.type, raw, 2);
    ASSERT_GE(r.fd, 0) << p.name << " rejected (errno " << r.error << "):\n" << r.log;
    close(r.fd);
    auto insns = isa::decode(raw);
    ASSERT_TRUE(insns.ok()) << insns.error().to_string();
    const auto lines = log_instructions(r.log);
    ASSERT_FALSE(lines.empty()) << r.log;
    for (std::size_t pc = 0; pc < insns->size(); ++pc) {
      if ((*insns)[pc].op == isa::Op::LdImm64Tail) continue;
      auto it = lines.find(pc);
      ASSERT_NE(it, lines.end()) << p.name << ": the log has no line for insn " << pc << "\n" << r.log;
      EXPECT_EQ(isa::kernel_text((*insns)[pc]), it->second) << p.name << " insn " << pc;
      compared_codes.insert(raw[pc].code);
    }
  }
  // Every opcode byte the kernel accepts was compared.
  for (int c = 0; c < 256; ++c) {
    if (isa::kernel_knows_code(static_cast<uint8_t>(c))) {
      EXPECT_TRUE(compared_codes.contains(static_cast<uint8_t>(c))) << "opcode " << std::hex << c << " not covered";
    }
  }
}

std::string run_command(const std::string& command, int* status) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return out;
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), pipe.get())) out += buffer;
  *status = pclose(pipe.release());
  return out;
}

// Opcodes newer than Debian's bpftool 7.1 (Linux 6.1 disassembler): it prints them wrongly or
// as BUG_..., so they are checked against the kernel's own log above instead.
bool bpftool_predates(const isa::Insn& insn) {
  switch (insn.info().kind) {
    case isa::Kind::kMovSx: case isa::Kind::kLoadSx: case isa::Kind::kBswap: case isa::Kind::kGotol:
    case isa::Kind::kMayGoto:
      return true;
    case isa::Kind::kAlu: return insn.off == 1;  // sdiv, smod
    default: return false;
  }
}

TEST(KernelDisasm, BpftoolXlatedPrintsWhatBpfvmPrints) {
  SKIP_WITHOUT_BPF();
  int status = 0;
  run_command("bpftool version >/dev/null 2>&1", &status);
  if (status != 0) GTEST_SKIP() << "bpftool is not installed";

  const int map_fd = create_array_map(8, 1);  // direct value access needs one entry
  ASSERT_GE(map_fd, 0);
  std::string with_map = std::string("lddw_map_fd %r1, ") + std::to_string(map_fd) +
                         "\nlddw_map_value %r2, " + std::to_string(map_fd) + ", 4\nmov %r0, 0\nexit\n";
  std::vector<Program> programs(std::begin(kPrograms), std::end(kPrograms));
  programs.push_back({"maps", BPF_PROG_TYPE_SOCKET_FILTER, with_map.c_str()});

  std::size_t compared = 0;
  for (const Program& p : programs) {
    const auto raw = assemble_or_die(p.source);
    LoadResult r = load_program(p.type, raw, 1);
    ASSERT_GE(r.fd, 0) << p.name << " rejected (errno " << r.error << "):\n" << r.log;
    auto info = prog_info(r.fd);
    ASSERT_TRUE(info.has_value());
    const std::string dump = run_command("bpftool prog dump xlated id " + std::to_string(info->id) + " 2>&1", &status);
    close(r.fd);
    ASSERT_EQ(status, 0) << dump;
    // bpftool: "   0: (b7) r0 = 0"; kernel-rewritten calls and inserted checks are in the xlated
    // instructions too, so compare bpfvm's text of the xlated bytes line by line.
    // Decode instruction by instruction: the kernel's rewrites (inlined helpers, ld_abs
    // expansions) use internal encodings that are not bpfvm's to accept; those lines are skipped.
    std::map<std::size_t, isa::Insn> xlated;
    for (std::size_t pc = 0; pc < info->xlated.size(); ++pc) {
      const std::size_t width = info->xlated[pc].code == 0x18 ? 2 : 1;
      if (pc + width > info->xlated.size()) break;
      auto one = isa::decode(std::span(info->xlated).subspan(pc, width), isa::DecodeOptions{.allow_aux_register = true});
      if (one.ok()) xlated[pc] = one->front();
      pc += width - 1;
    }
    static const std::regex line_re(R"(^\s*(\d+): (.*)$)");
    std::size_t start = 0;
    while (start < dump.size()) {
      std::size_t end = dump.find('\n', start);
      if (end == std::string::npos) end = dump.size();
      const std::string line = dump.substr(start, end - start);
      start = end + 1;
      std::smatch m;
      if (!std::regex_match(line, m, line_re)) continue;
      const std::size_t pc = std::stoul(m[1]);
      auto decoded = xlated.find(pc);
      if (decoded == xlated.end()) continue;
      const isa::Insn& insn = decoded->second;
      // Helper calls: the kernel replaced the helper id by an address; bpftool names the symbol.
      if (bpftool_predates(insn) || insn.op == isa::Op::CallHelper) continue;
      EXPECT_EQ(isa::kernel_text(insn), m[2].str()) << p.name << " xlated insn " << pc;
      ++compared;
    }
  }
  close(map_fd);
  EXPECT_GT(compared, 150u);
}

TEST(KernelDisasm, KernelIgnoresTheOffsetOfExit) {
  SKIP_WITHOUT_BPF();
  // RFC 9669 says unused fields are zero and bpfvm's default decoder says so too; Linux does
  // not check an exit's offset, and bpfvm's Linux-compatible mode follows it.
  using isa::RawInsn;
  const std::vector<RawInsn> insns = {RawInsn::make(0xb7, 0, 0, 0, 0), RawInsn::make(0x95, 0, 0, 1, 0)};
  LoadResult r = load_program(BPF_PROG_TYPE_SOCKET_FILTER, insns, 1);
  EXPECT_GE(r.fd, 0) << r.log;
  if (r.fd >= 0) close(r.fd);
  EXPECT_TRUE(isa::decode_program(insns, isa::DecodeOptions{.linux_compatible = true}).ok());
  EXPECT_FALSE(isa::decode_program(insns).ok());
}

TEST(KernelDisasm, KernelRejectsWhatTheDecoderRejects) {
  SKIP_WITHOUT_BPF();
  // Malformed instructions: the kernel's verdict and message agree with bpfvm's decoder.
  struct Case {
    std::vector<isa::RawInsn> insns;
  };
  using isa::RawInsn;
  const RawInsn exit_insn = RawInsn::make(0x95, 0, 0, 0, 0);
  const RawInsn r0 = RawInsn::make(0xb7, 0, 0, 0, 0);
  const std::vector<std::vector<RawInsn>> cases = {
      {r0, RawInsn::make(0x8d, 1, 0, 0, 0), exit_insn},            // callx: unknown to Linux
      {r0, RawInsn::make(0xff, 0, 0, 0, 0), exit_insn},            // no such opcode
      {RawInsn::make(0x07, 0, 1, 0, 1), exit_insn},                // ALU K with src
      {RawInsn::make(0xb7, 0, 0, 1, 1), exit_insn},                // MOV K with off
      {r0, RawInsn::make(0x87, 0, 0, 0, 1), exit_insn},            // NEG with imm
      {r0, RawInsn::make(0xdc, 0, 0, 0, 8), exit_insn},            // END of 8 bits
      {r0, RawInsn::make(0x05, 1, 0, 0, 0), exit_insn},            // JA with dst
      {r0, RawInsn::make(0x85, 0, 3, 0, 1), exit_insn},            // CALL with src 3
      {r0, RawInsn::make(0x95, 0, 0, 0, 1)},                       // EXIT with imm
      {r0, RawInsn::make(0x05, 0, 0, 0, 1), exit_insn},            // JA with imm
      {r0, RawInsn::make(0x84, 0, 0, 1, 0), exit_insn},            // NEG32 with off
      {r0, RawInsn::make(0xd4, 0, 1, 0, 16), exit_insn},           // LE with src
      {r0, RawInsn::make(0x85, 0, 0, 1, 1), exit_insn},            // helper CALL with off
      {r0, RawInsn::make(0x61, 0, 10, 0, 1), exit_insn},           // LDX with imm
      {r0, RawInsn::make(0x62, 10, 2, -8, 1), exit_insn},          // ST with src
      {r0, RawInsn::make(0x63, 10, 0, -8, 1), exit_insn},          // STX with imm
      {r0, RawInsn::make(0xdb, 10, 0, -8, 0x10), exit_insn},       // bad atomic op
      {r0, RawInsn::make(0x18, 0, 0, 0, 1), exit_insn},            // ld_imm64 without 2nd half
      {r0, RawInsn::make(0x18, 0, 9, 0, 1), RawInsn{}, exit_insn}, // ld_imm64 unknown src
      {r0, RawInsn::make(0x05, 0, 0, 5, 0), exit_insn},            // jump out of range
      {r0, RawInsn::make(0x15, 0, 0, 1, 0), RawInsn::make(0x18, 0, 0, 0, 1), RawInsn{}, exit_insn},
      {r0, RawInsn::make(0xb7, 11, 0, 0, 0), exit_insn},           // bad register
      {r0, RawInsn::make(0x07, 10, 0, 0, 8), exit_insn},           // write to r10
      {r0, RawInsn::make(0xb7, 1, 0, 0, 0)},                       // falls off the end
  };
  for (const auto& insns : cases) {
    SCOPED_TRACE("case with insn 1 opcode " + std::to_string(insns[1].code));
    auto ours = isa::decode_program(insns, isa::DecodeOptions{.linux_compatible = true});
    ASSERT_FALSE(ours.ok());
    LoadResult r = load_program(BPF_PROG_TYPE_SOCKET_FILTER, insns, 1);
    if (r.fd >= 0) close(r.fd);
    EXPECT_LT(r.fd, 0) << "kernel accepted what bpfvm rejects: " << ours.error().to_string();
    EXPECT_NE(r.log.find(ours.error().message), std::string::npos)
        << "bpfvm: " << ours.error().to_string() << "\nkernel log:\n" << r.log;
  }
}

}  // namespace
}  // namespace bpfvm::kernel
