// Disassembly in two syntaxes: the kernel's (verifier log, `bpftool prog dump xlated`) and
// the conformance suite's %r0 dialect (which the assembler reads back).
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>

#include "isa/insn.hpp"

namespace bpfvm::isa {

enum class Syntax { kKernel, kConformance };

struct KernelSyntaxOptions {
  // Name for a helper call's `call NAME#ID`; default: the uapi helper name (bpf_map_lookup_elem).
  std::function<std::optional<std::string>(const Insn&)> call_name;
  // Text of an ld_imm64 operand; default as bpftool prints xlated code (map[id:4], 0x2a, ...).
  std::function<std::optional<std::string>(const Insn&)> imm_text;
};

// "(b7) r0 = 42" — exactly what Linux's print_bpf_insn() writes, without the index.
[[nodiscard]] std::string kernel_text(const Insn& insn, const KernelSyntaxOptions& options = {});

// "mov %r0, 42" — the conformance dialect; jumps are printed as relative offsets (+3).
[[nodiscard]] std::string conformance_text(const Insn& insn);

// A whole program, one instruction a line. Kernel syntax lines look like bpftool's
// "   0: (b7) r0 = 42"; conformance lines are plain, with labels for jump targets.
[[nodiscard]] std::string disassemble(std::span<const Insn> insns, Syntax syntax,
                                      const KernelSyntaxOptions& options = {});

// The uapi name of helper `id` ("bpf_map_lookup_elem"), or nullopt.
[[nodiscard]] std::optional<std::string> kernel_helper_name(int32_t id);

}  // namespace bpfvm::isa
