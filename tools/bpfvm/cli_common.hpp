// Pieces the sub-commands share: reading program files, reporting errors.
#pragma once

#include <string>
#include <vector>

#include "isa/insn.hpp"
#include "support/result.hpp"

namespace bpfvm::cli {

// Prints "bpfvm: error: MESSAGE" on stderr and exits 1.
[[noreturn]] void die(const std::string& message);

// "FILE:LINE: message" for assembly errors, "FILE: insn N: message" for instructions, the
// message alone for the rest (it names what it is about).
[[nodiscard]] std::string where(const std::string& file, const Error& e);

[[nodiscard]] std::string read_file(const std::string& path);

// A program from a file: raw bytecode, hex bytes (what `bpfvm asm` prints), a conformance
// .data file, or assembly in the conformance dialect. format: auto, raw, hex, data, asm.
[[nodiscard]] std::vector<isa::RawInsn> load_program(const std::string& path, const std::string& format);

// Whether the file is an ELF object.
[[nodiscard]] bool is_elf(const std::string& path);

}  // namespace bpfvm::cli
