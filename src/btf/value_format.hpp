// Values printed by their BTF type, as `bpftool map dump` prints map entries of maps that
// have BTF: JSON shaped like the type (struct members by name, arrays, char arrays holding a
// string as strings, enums by name, bitfields and 128-bit integers in hex).
//
// bpftool has two styles. In plain mode (`bpftool map dump`) it prints that JSON "pretty",
// in its own layout, with a few tokens that are not JSON: bitfields and 128-bit integers as
// bare hex (0x1f), unprintable chars as 0x7, pointers as %p prints them (0x1234, (nil)).
// With -j, all of it is JSON (those tokens become strings, pointers numbers) and sits under
// "formatted" next to the key and value bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "support/result.hpp"

struct btf;  // libbpf

namespace bpfvm::btf {

// A streaming JSON writer with bpftool's layout (tools/bpf/bpftool/json_writer.c): compact,
// or pretty with four-space indents, a new line before each object member and at the end of
// a non-empty container; array elements follow each other on one line (`},{`, `[1,2`).
class JsonText {
 public:
  explicit JsonText(bool pretty) : pretty_(pretty) {}

  void start_object() { begin('{'); }
  void end_object() { end('}'); }
  void start_array() { begin('['); }
  void end_array() { end(']'); }
  void name(std::string_view name);
  void string(std::string_view value);
  // A token written as is: a number, true/false, or one of plain mode's non-JSON tokens.
  void raw(std::string_view token);

  [[nodiscard]] const std::string& text() const { return text_; }

 private:
  void begin(char c);
  void end(char c);
  void separate();  // a comma unless first in its container
  void new_line();
  void quoted(std::string_view s);

  bool pretty_;
  unsigned depth_ = 0;
  bool first_ = true;
  std::string text_;
};

enum class Style {
  kPlainText,  // bpftool map dump
  kJson,       // bpftool -j map dump, "formatted"
};

// Writes the value of BTF type `type_id` held in `data`. Fails, with what and where, when
// the type is one a map value cannot have (function, forward declaration, float, void) or
// `data` is shorter than the type; `out` may then hold a partial value.
[[nodiscard]] Status format_value(const struct ::btf* btf, uint32_t type_id, std::span<const uint8_t> data,
                                  Style style, JsonText& out);

// One map entry as bpftool writes it: {"key": K, "value": V}; the key only when key_type_id
// is set (global data maps have none); per-CPU maps have "values": [{"cpu": i, "value": V}],
// the value bytes holding one round_up(value_size, 8) slot per CPU.
struct MapEntryTypes {
  uint32_t key_type_id = 0;
  uint32_t value_type_id = 0;
  bool percpu = false;
  uint32_t value_size = 0;  // per-CPU maps: the size of one CPU's value
};
[[nodiscard]] Status format_map_entry(const struct ::btf* btf, const MapEntryTypes& types,
                                      std::span<const uint8_t> key, std::span<const uint8_t> value, Style style,
                                      JsonText& out);

}  // namespace bpfvm::btf
