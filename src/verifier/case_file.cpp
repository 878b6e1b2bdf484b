#include "verifier/case_file.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>

#include "isa/assembler.hpp"
#include "maps/map.hpp"
#include "progtypes/progtypes.hpp"
#include "verifier/object_input.hpp"

namespace bpfvm::verifier {
namespace {

using nlohmann::json;

Error bad(const std::string& message) {
  Error e;
  e.message = message;
  return e;
}

#define BPFVM_TRY(var, expr)          \
  auto var##_result = (expr);         \
  if (!var##_result) return var##_result.error(); \
  auto var = std::move(*var##_result)

Result<uint32_t> prog_type_of(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint32_t>();
  if (v.is_string()) {
    if (const ProgTypeInfo* info = prog_type_by_name(v.get<std::string>())) return info->type;
    return bad(fmt::format("unknown prog_type \"{}\"", v.get<std::string>()));
  }
  return bad("prog_type must be a name or a number");
}

Result<uint32_t> map_type_of(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint32_t>();
  if (v.is_string()) {
    std::string name = v.get<std::string>();
    if (name.starts_with("BPF_MAP_TYPE_")) {
      name = name.substr(13);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    for (uint32_t t = 1; t < 64; ++t) {
      if (maps::map_type_name(t) == name) return t;
    }
    return bad(fmt::format("unknown map type \"{}\"", v.get<std::string>()));
  }
  return bad("a map's type must be a name or a number");
}

Result<std::vector<isa::RawInsn>> insns_of(const json& j) {
  if (j.contains("asm")) {
    auto insns = isa::assemble(j.at("asm").get<std::string>());
    if (!insns) return insns.error();
    return isa::encode(*insns);
  }
  if (!j.contains("insns") || !j.at("insns").is_array()) return bad("a case needs \"insns\" (or \"asm\")");
  std::vector<uint8_t> bytes;
  std::size_t index = 0;
  for (const json& item : j.at("insns")) {
    if (!item.is_string()) return bad(fmt::format("insns[{}] must be a string of 8 hex bytes", index));
    std::string hex;
    for (char c : item.get<std::string>()) {
      if (!std::isspace(static_cast<unsigned char>(c))) hex += c;
    }
    if (hex.size() != 16) return bad(fmt::format("insns[{}] must be 8 bytes (16 hex digits), got \"{}\"", index, item.get<std::string>()));
    for (std::size_t i = 0; i < 16; i += 2) {
      const auto byte = std::strtoul(hex.substr(i, 2).c_str(), nullptr, 16);
      if (!std::isxdigit(static_cast<unsigned char>(hex[i])) || !std::isxdigit(static_cast<unsigned char>(hex[i + 1]))) {
        return bad(fmt::format("insns[{}] is not hex: \"{}\"", index, item.get<std::string>()));
      }
      bytes.push_back(static_cast<uint8_t>(byte));
    }
    ++index;
  }
  return isa::raw_from_bytes(bytes);
}

Result<ProgramCase> case_of(const json& j) {
  if (!j.is_object()) return bad("a case must be a JSON object");
  ProgramCase c;
  c.name = j.value("name", "");
  if (!j.contains("prog_type")) return bad("a case needs \"prog_type\"");
  BPFVM_TRY(type, prog_type_of(j.at("prog_type")));
  c.options.prog_type = type;
  c.options.expected_attach_type = j.value("expected_attach_type", 0U);
  const std::string license = j.value("license", "GPL");
  c.options.gpl_compatible = gpl_compatible_license(license);
  c.options.log_level = j.value("log_level", 1U);
  c.options.prog_flags = j.value("flags", 0U);
  BPFVM_TRY(insns, insns_of(j));
  c.insns = std::move(insns);
  if (j.contains("maps")) {
    for (const json& m : j.at("maps")) {
      MapInfo info;
      if (!m.contains("type")) return bad("a map needs \"type\"");
      BPFVM_TRY(mt, map_type_of(m.at("type")));
      info.type = mt;
      info.key_size = m.value("key_size", 0U);
      info.value_size = m.value("value_size", 0U);
      info.max_entries = m.value("max_entries", 0U);
      info.map_flags = m.value("map_flags", 0U);
      info.name = m.value("name", "");
      info.spin_lock_off = m.value("spin_lock_off", -1);
      c.options.maps.push_back(std::move(info));
    }
  }
  if (j.contains("map_fixups")) {
    for (const json& f : j.at("map_fixups")) {
      const auto map = f.at("map").get<uint32_t>();
      if (map >= c.options.maps.size()) return bad(fmt::format("map_fixups names map {}, but there are {} maps", map, c.options.maps.size()));
      for (const json& at : f.at("insns")) {
        const auto i = at.get<std::size_t>();
        if (i >= c.insns.size() || c.insns[i].code != 0x18) {
          return bad(fmt::format("map_fixups: insn {} is not an ld_imm64", i));
        }
        if (c.insns[i].src() == 0) c.insns[i].regs = static_cast<uint8_t>((c.insns[i].regs & 0x0f) | (1 << 4));
        c.insns[i].imm = static_cast<int32_t>(map);
      }
    }
  }
  return c;
}

}  // namespace

Result<ProgramCase> parse_case(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return bad("not valid JSON");
  try {
    return case_of(j);
  } catch (const json::exception& e) {
    return bad(fmt::format("malformed case: {}", e.what()));
  }
}

Result<std::vector<ProgramCase>> parse_cases(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return bad("not valid JSON");
  std::vector<ProgramCase> out;
  try {
    if (!j.is_array()) {
      BPFVM_TRY(c, case_of(j));
      out.push_back(std::move(c));
      return out;
    }
    for (std::size_t i = 0; i < j.size(); ++i) {
      auto c = case_of(j[i]);
      if (!c) return bad(fmt::format("case {}: {}", i, c.error().message));
      out.push_back(std::move(*c));
    }
  } catch (const json::exception& e) {
    return bad(fmt::format("malformed case: {}", e.what()));
  }
  return out;
}

#undef BPFVM_TRY
}  // namespace bpfvm::verifier
