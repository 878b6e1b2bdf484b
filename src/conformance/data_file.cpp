#include "conformance/data_file.hpp"

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "exec/interpreter.hpp"
#include "exec/jit/x86_64/jit.hpp"
#include "isa/assembler.hpp"

namespace bpfvm::conformance {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string_view strip_comment(std::string_view s) {
  if (auto hash = s.find('#'); hash != std::string_view::npos) s = s.substr(0, hash);
  return trim(s);
}

Result<uint64_t> parse_number(std::string_view text) {
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  uint64_t value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc{} || p != text.data() + text.size() || text.empty()) {
    return input_error(fmt::format("not a number: '{}'", text));
  }
  return value;
}

}  // namespace

Result<std::vector<uint8_t>> parse_hex_bytes(std::string_view text) {
  std::vector<uint8_t> out;
  std::string digits;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return input_error(fmt::format("'{}' is not a hex digit in '{}'", c, trim(text)));
    }
    digits += c;
  }
  // Space-separated tokens may be single digits ("a b"); treat each token as one byte then.
  std::istringstream tokens{std::string(text)};
  std::string token;
  bool all_short = true;
  std::vector<std::string> list;
  while (tokens >> token) {
    list.push_back(token);
    if (token.size() > 2) all_short = false;
  }
  if (all_short) {
    for (const std::string& t : list) out.push_back(static_cast<uint8_t>(std::stoul(t, nullptr, 16)));
    return out;
  }
  if (digits.size() % 2 != 0) return input_error("odd number of hex digits");
  for (std::size_t i = 0; i < digits.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

Result<DataFile> parse_data_file(std::string_view text) {
  DataFile file;
  std::string section;
  std::string asm_text, mem_text, result_text, raw_text, error_text;
  std::size_t number = 0;
  std::size_t raw_line = 0, result_line = 0;
  while (!text.empty()) {
    ++number;
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    if (line.starts_with("--")) {
      section = std::string(trim(line.substr(2)));
      if (section == "asm") {
        file.asm_source.emplace();
        file.asm_first_line = number + 1;
      } else if (section == "raw") {
        raw_line = number;
      } else if (section == "result") {
        result_line = number;
      } else if (section == "error") {
        file.error.emplace();
      } else if (section != "mem" && section != "c" && section != "no register offset") {
        return Error{ErrorKind::kInput, fmt::format("unknown section '{}'", trim(line)), std::nullopt, number};
      }
      continue;
    }
    if (section == "asm") {
      // Keep line numbering: comment-only lines stay (as empty lines) for the assembler.
      asm_text += std::string(line.starts_with('#') ? std::string_view{} : line) + "\n";
    } else if (section == "mem") {
      mem_text += std::string(strip_comment(line)) + " ";
    } else if (section == "result") {
      result_text += std::string(strip_comment(line));
    } else if (section == "raw") {
      raw_text += std::string(strip_comment(line)) + "\n";
    } else if (section == "error") {
      if (!trim(line).empty()) error_text += std::string(trim(line));
    } else if (section.empty() && !trim(line).empty() && !line.starts_with('#')) {
      return Error{ErrorKind::kInput, "text before the first section", std::nullopt, number};
    }
  }
  if (file.asm_source) *file.asm_source = asm_text;
  if (file.error) *file.error = error_text;
  if (!trim(mem_text).empty()) {
    auto mem = parse_hex_bytes(mem_text);
    if (!mem) return Error{ErrorKind::kInput, "-- mem: " + mem.error().message, std::nullopt, std::nullopt};
    file.memory = std::move(*mem);
  }
  if (!result_text.empty()) {
    auto value = parse_number(result_text);
    if (!value) return Error{ErrorKind::kInput, "-- result: " + value.error().message, std::nullopt, result_line};
    file.result = *value;
  }
  if (raw_line != 0) {
    // Either one 64-bit little-endian word per line ("0x...") or eight hex bytes per line.
    std::vector<uint8_t> bytes;
    std::istringstream lines(raw_text);
    std::string l;
    while (std::getline(lines, l)) {
      std::string_view t = trim(l);
      if (t.empty()) continue;
      if (t.starts_with("0x") && t.find(' ') == std::string_view::npos) {
        auto word = parse_number(t);
        if (!word) return Error{ErrorKind::kInput, "-- raw: " + word.error().message, std::nullopt, raw_line};
        for (int k = 0; k < 8; ++k) bytes.push_back(static_cast<uint8_t>(*word >> (8 * k)));
      } else {
        auto b = parse_hex_bytes(t);
        if (!b) return Error{ErrorKind::kInput, "-- raw: " + b.error().message, std::nullopt, raw_line};
        bytes.insert(bytes.end(), b->begin(), b->end());
      }
    }
    auto raw = isa::raw_from_bytes(bytes);
    if (!raw) return Error{ErrorKind::kInput, "-- raw: " + raw.error().message, std::nullopt, raw_line};
    file.raw = std::move(*raw);
  }
  return file;
}

Result<DataFile> read_data_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return input_error(fmt::format("cannot open {}", path.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_data_file(ss.str());
}

Result<std::vector<isa::RawInsn>> program_of(const DataFile& file) {
  if (file.raw) return *file.raw;
  if (!file.asm_source) return input_error("no program: the file has neither an asm nor a raw section");
  auto insns = isa::assemble(*file.asm_source);
  if (!insns) {
    Error e = insns.error();
    if (e.line) *e.line += file.asm_first_line - 1;
    return e;
  }
  if (insns->empty()) return input_error("no program: the asm section has no instructions");
  return isa::encode(*insns);
}

HelperTable conformance_helpers() {
  HelperTable table;
  table.add(Helper{5, "unwind",
                   [](uint64_t r1, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext& ctx) -> uint64_t {
                     if (r1 == 0) ctx.stop = true;
                     return r1;
                   }});
  return table;
}

Result<uint64_t> run_conformance_program(const std::vector<isa::RawInsn>& raw, std::vector<uint8_t> memory,
                                         Engine engine) {
  auto insns = isa::decode_program(raw);
  if (!insns) return insns.error();
  static const HelperTable helpers = conformance_helpers();
  const RunOptions options = memory_run_options(memory);
  if (engine == Engine::kJit) {
    auto program = jit::JitProgram::compile(std::move(*insns), helpers);
    if (!program) return program.error();
    return program->run(options);
  }
  auto interpreter = Interpreter::create(std::move(*insns), helpers);
  if (!interpreter) return interpreter.error();
  return interpreter->run(options);
}

}  // namespace bpfvm::conformance
