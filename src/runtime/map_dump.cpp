#include "runtime/map_dump.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "btf/value_format.hpp"

namespace bpfvm {
namespace {

using Entries = std::vector<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>>;

Result<Entries> entries_of(const maps::Map& map) {
  Entries entries;
  auto st = map.for_each([&](std::span<const uint8_t> key, std::span<const uint8_t> value) {
    entries.emplace_back(std::vector<uint8_t>(key.begin(), key.end()), std::vector<uint8_t>(value.begin(), value.end()));
    return true;
  });
  if (!st) return st.error();
  return entries;
}

btf::MapEntryTypes types_of(const NamedMap& m) {
  return btf::MapEntryTypes{m.btf_key_type_id, m.btf_value_type_id, m.map->is_percpu(), m.map->value_size()};
}

bool has_btf(const LoadedObject& object, const NamedMap& m) {
  return object.btf() != nullptr && (m.btf_key_type_id != 0 || m.btf_value_type_id != 0);
}

// A per-CPU value as bpftool -j shows it: one {"cpu": i, "value": [bytes]} per CPU.
OrderedJson percpu_values(const maps::Map& map, std::span<const uint8_t> value) {
  OrderedJson list = OrderedJson::array();
  const std::size_t step = maps::round_up8(map.value_size());
  for (std::size_t cpu = 0; step != 0 && cpu * step < value.size(); ++cpu) {
    const auto slot = value.subspan(cpu * step, std::min<std::size_t>(map.value_size(), value.size() - cpu * step));
    list.push_back(OrderedJson{{"cpu", cpu}, {"value", std::vector<uint8_t>(slot.begin(), slot.end())}});
  }
  return list;
}

}  // namespace

std::string hex_bytes(std::span<const uint8_t> bytes) { return fmt::format("{:02x}", fmt::join(bytes, " ")); }

std::string dump_map_text(const LoadedObject& object, const NamedMap& m) {
  auto entries = entries_of(*m.map);
  if (!entries) return fmt::format("map {}: {}\n", m.name, entries.error().message);
  std::string out = fmt::format("map {} ({}):\n", m.name, maps::map_type_name(m.map->type()));
  if (has_btf(object, m)) {
    btf::JsonText text(true);
    text.start_array();
    Status formatted = ok_status();
    for (const auto& [key, value] : *entries) {
      formatted = btf::format_map_entry(object.btf(), types_of(m), key, value, btf::Style::kPlainText, text);
      if (!formatted) break;
    }
    text.end_array();
    if (formatted) return out + text.text() + "\n";
    out += fmt::format("(not formatted: {})\n", formatted.error().message);
  }
  for (const auto& [key, value] : *entries) out += fmt::format("key: {}  value: {}\n", hex_bytes(key), hex_bytes(value));
  return out + fmt::format("Found {} element{}\n", entries->size(), entries->size() == 1 ? "" : "s");
}

Result<OrderedJson> dump_map_json(const LoadedObject& object, const NamedMap& m) {
  auto entries = entries_of(*m.map);
  if (!entries) return entries.error();
  OrderedJson list = OrderedJson::array();
  for (const auto& [key, value] : *entries) {
    OrderedJson e{{"key", key}};
    if (m.map->is_percpu()) e["values"] = percpu_values(*m.map, value);
    else e["value"] = value;
    btf::JsonText formatted(false);
    if (has_btf(object, m) &&
        btf::format_map_entry(object.btf(), types_of(m), key, value, btf::Style::kJson, formatted)) {
      // The writer's JSON style writes JSON only; a parse failure would be a bug, and the
      // entry then goes without "formatted" rather than stopping the dump.
      auto parsed = OrderedJson::parse(formatted.text(), nullptr, false);
      if (!parsed.is_discarded()) e["formatted"] = std::move(parsed);
    }
    list.push_back(std::move(e));
  }
  return list;
}

}  // namespace bpfvm
