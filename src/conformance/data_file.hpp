// The conformance suite's .data test files: sections introduced by "-- NAME" lines
// (asm, mem, result, raw, error; c and "no register offset" are informational), '#' comments.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "helpers/helper_table.hpp"
#include "isa/insn.hpp"
#include "support/result.hpp"

namespace bpfvm::conformance {

struct DataFile {
  std::optional<std::string> asm_source;  // -- asm
  std::optional<std::vector<isa::RawInsn>> raw;  // -- raw (overrides asm)
  std::vector<uint8_t> memory;            // -- mem
  std::optional<uint64_t> result;         // -- result
  std::optional<std::string> error;       // -- error (negative tests), possibly empty
  std::size_t asm_first_line = 0;         // file line of the first asm line (for messages)
};

[[nodiscard]] Result<DataFile> parse_data_file(std::string_view text);
[[nodiscard]] Result<DataFile> read_data_file(const std::filesystem::path& path);

// Space/newline separated hex bytes ("aa bb 0c"); also accepts "aabb0c".
[[nodiscard]] Result<std::vector<uint8_t>> parse_hex_bytes(std::string_view text);

// The program of a data file as raw instructions: the raw section if present, else the
// assembled asm section (assembler errors name the line in the file).
[[nodiscard]] Result<std::vector<isa::RawInsn>> program_of(const DataFile& file);

// The helpers the suite assumes: id 5, "unwind", returns r1 and ends the program when r1 is 0.
[[nodiscard]] HelperTable conformance_helpers();

enum class Engine { kInterpreter, kJit };

// Decodes, checks and runs raw instructions with r1 = memory, r2 = its length, as the suite's
// runner does, in the interpreter or the JIT.
[[nodiscard]] Result<uint64_t> run_conformance_program(const std::vector<isa::RawInsn>& raw, std::vector<uint8_t> memory,
                                                       Engine engine = Engine::kInterpreter);

}  // namespace bpfvm::conformance
