// A loaded object's map contents as `bpftool map dump` prints them: plain text, or the
// entries of `bpftool -j map dump`. Maps with BTF types (NamedMap's type ids) print formatted
// by them (btf/value_format.hpp); the others as bytes.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "runtime/loader.hpp"

namespace bpfvm {

// Keys in the order they are set, so that formatted values keep their members' order.
using OrderedJson = nlohmann::ordered_json;

// Bytes as bpftool prints them: "2a 00 01".
[[nodiscard]] std::string hex_bytes(std::span<const uint8_t> bytes);

// Plain text: with BTF, bpftool's pretty JSON-like block ("[{\n        \"key\": 0, ..."),
// without, a "key: 00 00 00 00  value: 06 00 00 00" line per entry and "Found N elements".
// A map whose elements cannot be read (ring buffers, perf event arrays) gets a line saying why.
[[nodiscard]] std::string dump_map_text(const LoadedObject& object, const NamedMap& map);

// JSON: [{"key": [bytes], "value": [bytes], "formatted": {"key": K, "value": V}}]; per-CPU
// maps have "values": [{"cpu": i, "value": [bytes]}] (and the same under "formatted"),
// "formatted" only when the map has BTF types. Fails when the elements cannot be read.
[[nodiscard]] Result<OrderedJson> dump_map_json(const LoadedObject& object, const NamedMap& map);

}  // namespace bpfvm
