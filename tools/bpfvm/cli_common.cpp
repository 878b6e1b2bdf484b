#include "cli_common.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "conformance/data_file.hpp"
#include "isa/assembler.hpp"

namespace bpfvm::cli {
namespace {

bool looks_binary(const std::string& text) {
  for (unsigned char c : text) {
    if (c == 0 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t')) return true;
  }
  return false;
}

bool looks_hex(const std::string& text) {
  bool any = false;
  for (unsigned char c : text) {
    if (std::isxdigit(c)) any = true;
    else if (!std::isspace(c)) return false;
  }
  return any;
}

}  // namespace

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "bpfvm: error: %s\n", message.c_str());
  std::exit(1);
}

std::string where(const std::string& file, const Error& e) {
  if (e.line) return fmt::format("{}:{}: {}", file, *e.line, e.message);
  if (e.insn) return fmt::format("{}: {}", file, e.to_string());
  return e.message;  // not about the program's text: the message names what it is about
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<isa::RawInsn> load_program(const std::string& path, const std::string& format) {
  const std::string text = read_file(path);
  std::string kind = format;
  if (kind == "auto") {
    if (path.ends_with(".data")) kind = "data";
    else if (looks_binary(text) || path.ends_with(".bin")) kind = "raw";
    else if (looks_hex(text)) kind = "hex";
    else kind = "asm";
  }
  if (kind == "raw") {
    auto raw = isa::raw_from_bytes({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
    if (!raw) die(where(path, raw.error()));
    return *raw;
  }
  if (kind == "hex") {
    auto bytes = conformance::parse_hex_bytes(text);
    if (!bytes) die(where(path, bytes.error()));
    auto raw = isa::raw_from_bytes(*bytes);
    if (!raw) die(where(path, raw.error()));
    return *raw;
  }
  if (kind == "data") {
    auto file = conformance::parse_data_file(text);
    if (!file) die(where(path, file.error()));
    auto raw = conformance::program_of(*file);
    if (!raw) die(where(path, raw.error()));
    return *raw;
  }
  if (kind != "asm") die(fmt::format("unknown input format '{}' (raw, hex, asm, data or auto)", format));
  auto insns = isa::assemble(text);
  if (!insns) die(where(path, insns.error()));
  if (insns->empty()) die(fmt::format("{}: no instructions", path));
  return isa::encode(*insns);
}


bool is_elf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic, "\x7f" "ELF", 4) == 0;
}

}  // namespace bpfvm::cli
