#include "btf/value_format.hpp"

#include <bpf/btf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace bpfvm::btf {

// ---- JsonText ----------------------------------------------------------------------------

void JsonText::separate() {
  if (!first_) text_ += ',';
  first_ = false;
}

void JsonText::new_line() {
  if (!pretty_) return;
  text_ += '\n';
  text_.append(4 * std::size_t{depth_}, ' ');
}

void JsonText::begin(char c) {
  separate();
  text_ += c;
  ++depth_;
  first_ = true;
}

void JsonText::end(char c) {
  if (depth_ > 0) --depth_;
  if (!first_) new_line();
  text_ += c;
  first_ = false;
}

void JsonText::name(std::string_view name) {
  separate();
  new_line();
  first_ = true;  // the member's value follows without a comma
  quoted(name);
  text_ += pretty_ ? ": " : ":";
}

void JsonText::string(std::string_view value) {
  separate();
  quoted(value);
}

void JsonText::raw(std::string_view token) {
  separate();
  text_ += token;
}

void JsonText::quoted(std::string_view s) {
  text_ += '"';
  for (const char c : s) {
    switch (c) {
      case '"': text_ += "\\\""; break;
      case '\\': text_ += "\\\\"; break;
      case '\n': text_ += "\\n"; break;
      case '\t': text_ += "\\t"; break;
      case '\r': text_ += "\\r"; break;
      case '\f': text_ += "\\f"; break;
      case '\b': text_ += "\\b"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) text_ += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        else text_ += c;
    }
  }
  text_ += '"';
}

// ---- values ------------------------------------------------------------------------------

namespace {

using u128 = unsigned __int128;
constexpr int kMaxDepth = 32;  // nesting of types; deeper means a malformed (cyclic) BTF

int64_t sign_extend(uint64_t raw, unsigned nbits) {
  const unsigned shift = 64 - nbits;
  return static_cast<int64_t>(raw << shift) >> shift;
}

class Formatter {
 public:
  Formatter(const struct ::btf* btf, Style style, JsonText& out) : btf_(btf), plain_(style == Style::kPlainText), out_(out) {}

  // bit_offset (0-7): where in data[0] the value starts; only integers use it.
  Status value(uint32_t id, unsigned bit_offset, std::span<const uint8_t> data, int depth = 0) {
    if (depth > kMaxDepth) return fail(id, "types nest too deep");
    const btf_type* t = btf__type_by_id(btf_, id);
    if (t == nullptr || id == 0) return fail(id, "not a type a value can have (void or a bad id)");
    switch (btf_kind(t)) {
      case BTF_KIND_INT: return integer(id, t, bit_offset, data);
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION: return composite(id, t, data, depth);
      case BTF_KIND_ARRAY: return array(id, t, data, depth);
      case BTF_KIND_ENUM:
      case BTF_KIND_ENUM64: return enumeration(id, t, data);
      case BTF_KIND_PTR: return pointer(id, data);
      case BTF_KIND_TYPEDEF:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_CONST:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG: return value(t->type, bit_offset, data, depth + 1);
      case BTF_KIND_VAR: {
        out_.start_object();
        out_.name(name_of(t->name_off));
        auto st = value(t->type, bit_offset, data, depth + 1);
        out_.end_object();
        return st;
      }
      case BTF_KIND_DATASEC: return datasec(id, t, data, depth);
      default: return fail(id, fmt::format("cannot print a value of kind {}", kind_name(btf_kind(t))));
    }
  }

 private:
  Error fail(uint32_t id, std::string why) const {
    return input_error(fmt::format("BTF type [{}]: {}", id, std::move(why)));
  }
  Status need(uint32_t id, std::size_t bytes, std::span<const uint8_t> data) const {
    if (bytes <= data.size()) return ok_status();
    return fail(id, fmt::format("needs {} bytes, the value has {}", bytes, data.size()));
  }
  std::string name_of(uint32_t off) const {
    const char* n = btf__name_by_offset(btf_, off);
    return n != nullptr ? n : "";
  }
  static const char* kind_name(uint16_t kind) {
    switch (kind) {
      case BTF_KIND_FWD: return "fwd";
      case BTF_KIND_FUNC: return "func";
      case BTF_KIND_FUNC_PROTO: return "func_proto";
      case BTF_KIND_FLOAT: return "float";
      case BTF_KIND_DECL_TAG: return "decl_tag";
      default: return "unknown";
    }
  }

  // bpftool prints bitfields and 128-bit integers in hex: bare in plain mode, quoted in JSON.
  void hex(u128 v) {
    const auto hi = static_cast<uint64_t>(v >> 64), lo = static_cast<uint64_t>(v);
    const std::string digits = hi ? fmt::format("0x{:x}{:016x}", hi, lo) : fmt::format("0x{:x}", lo);
    if (plain_) out_.raw(digits);
    else out_.string(digits);
  }

  // `bits` bits starting `bit_offset` bits into data (little-endian, as the BPF target lays out bitfields).
  Status bits(uint32_t id, unsigned bit_offset, unsigned nbits, std::span<const uint8_t> data) {
    if (nbits == 0 || nbits > 128) return fail(id, fmt::format("a bitfield of {} bits", nbits));
    data = data.subspan(std::min<std::size_t>(bit_offset / 8, data.size()));
    bit_offset %= 8;
    const std::size_t bytes = (bit_offset + nbits + 7) / 8;
    if (bytes > 16) return fail(id, "a bitfield crosses 128 bits");
    if (auto st = need(id, bytes, data); !st) return st;
    u128 v = 0;
    for (std::size_t i = bytes; i-- > 0;) v = (v << 8) | data[i];
    v >>= bit_offset;
    if (nbits < 128) v &= (u128{1} << nbits) - 1;
    hex(v);
    return ok_status();
  }

  Status integer(uint32_t id, const btf_type* t, unsigned bit_offset, std::span<const uint8_t> data) {
    const uint32_t info = *reinterpret_cast<const uint32_t*>(t + 1);
    const unsigned nbits = BTF_INT_BITS(info), int_offset = BTF_INT_OFFSET(info);
    if (bit_offset != 0 || int_offset != 0 || nbits % 8 != 0) return bits(id, bit_offset + int_offset, nbits, data);
    if (nbits == 128) return bits(id, 0, 128, data);
    if (auto st = need(id, nbits / 8, data); !st) return st;
    const unsigned encoding = BTF_INT_ENCODING(info);
    if (encoding == 0 || encoding == BTF_INT_SIGNED) {
      // bpftool prints 8, 16, 32 and 64-bit integers in decimal, other widths as bitfields.
      if (nbits != 8 && nbits != 16 && nbits != 32 && nbits != 64) return bits(id, 0, nbits, data);
      uint64_t raw = 0;
      std::memcpy(&raw, data.data(), nbits / 8);
      if (encoding == BTF_INT_SIGNED) out_.raw(fmt::format("{}", sign_extend(raw, nbits)));
      else out_.raw(fmt::format("{}", raw));
      return ok_status();
    }
    switch (encoding) {
      case BTF_INT_CHAR: {
        const auto c = static_cast<unsigned char>(data[0]);
        if (c >= 0x20 && c < 0x7f) out_.string(std::string(1, static_cast<char>(c)));
        else if (plain_) out_.raw(fmt::format("0x{:x}", c));
        else out_.raw(fmt::format("\"\\u{:04x}\"", c));
        return ok_status();
      }
      case BTF_INT_BOOL: out_.raw(data[0] != 0 ? "true" : "false"); return ok_status();
      default: return fail(id, fmt::format("unknown integer encoding {:#x}", BTF_INT_ENCODING(info)));
    }
  }

  Status composite(uint32_t id, const btf_type* t, std::span<const uint8_t> data, int depth) {
    if (auto st = need(id, t->size, data); !st) return st;
    out_.start_object();
    const btf_member* m = btf_members(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i) {
      const uint32_t offset = btf_member_bit_offset(t, i), size = btf_member_bitfield_size(t, i);
      out_.name(name_of(m[i].name_off));
      if (offset / 8 > data.size()) return fail(id, fmt::format("member {} lies beyond the value", i));
      auto st = size != 0 ? bits(id, offset, size, data)
                          : value(m[i].type, offset % 8, data.subspan(offset / 8), depth + 1);
      if (!st) return st;
    }
    out_.end_object();
    return ok_status();
  }

  // A char array holding a NUL-terminated printable string prints as that string (typedefs
  // of char do not count: bpftool does not follow them here).
  bool is_string(const struct btf_array* arr, std::span<const uint8_t> data) const {
    if (arr->nelems == 0 || arr->nelems > data.size()) return false;
    const btf_type* elem = btf__type_by_id(btf_, arr->type);
    while (elem != nullptr && btf_is_mod(elem)) elem = btf__type_by_id(btf_, elem->type);
    if (elem == nullptr || !btf_is_int(elem) || elem->size != 1) return false;
    if (btf_int_encoding(elem) != BTF_INT_CHAR && name_of(elem->name_off) != "char") return false;
    for (uint32_t i = 0; i < arr->nelems; ++i) {
      if (data[i] == 0) return true;
      if (data[i] <= 0x1f || data[i] >= 0x7f) return false;
    }
    return false;
  }

  Status array(uint32_t id, const btf_type* t, std::span<const uint8_t> data, int depth) {
    const struct btf_array* arr = btf_array(t);
    if (is_string(arr, data)) {
      out_.string(reinterpret_cast<const char*>(data.data()));
      return ok_status();
    }
    const int64_t elem_size = btf__resolve_size(btf_, arr->type);
    if (elem_size < 0) return fail(id, "the element type has no size");
    // Zero-size elements take no bytes to check; a huge count of them would print forever.
    if (elem_size == 0 && arr->nelems > data.size()) return fail(id, fmt::format("{} elements of size 0", arr->nelems));
    if (auto st = need(id, static_cast<std::size_t>(elem_size) * arr->nelems, data); !st) return st;
    out_.start_array();
    for (uint32_t i = 0; i < arr->nelems; ++i) {
      auto st = value(arr->type, 0, data.subspan(static_cast<std::size_t>(elem_size) * i), depth + 1);
      if (!st) return st;
    }
    out_.end_array();
    return ok_status();
  }

  // By name when the value is one of the enumerators, else the number (signed, as bpftool reads it).
  Status enumeration(uint32_t id, const btf_type* t, std::span<const uint8_t> data) {
    if (t->size != 1 && t->size != 2 && t->size != 4 && t->size != 8) return fail(id, fmt::format("an enum of {} bytes", t->size));
    if (auto st = need(id, t->size, data); !st) return st;
    uint64_t raw = 0;
    std::memcpy(&raw, data.data(), t->size);
    const int64_t value = sign_extend(raw, 8 * t->size);
    for (uint16_t i = 0; i < btf_vlen(t); ++i) {
      const bool match = btf_is_enum64(t) ? btf_enum64_value(btf_enum64(t) + i) == raw
                                          : btf_enum(t)[i].val == value;
      if (match) {
        out_.string(name_of(btf_is_enum64(t) ? btf_enum64(t)[i].name_off : btf_enum(t)[i].name_off));
        return ok_status();
      }
    }
    out_.raw(fmt::format("{}", value));
    return ok_status();
  }

  // As %p prints it in plain mode (bpftool's), a number in JSON.
  Status pointer(uint32_t id, std::span<const uint8_t> data) {
    if (auto st = need(id, 8, data); !st) return st;
    uint64_t v = 0;
    std::memcpy(&v, data.data(), 8);
    if (!plain_) out_.raw(fmt::format("{}", v));
    else out_.raw(v == 0 ? "(nil)" : fmt::format("{:#x}", v));
    return ok_status();
  }

  // A global data section: {"NAME": [{"var": value}, ...]}.
  Status datasec(uint32_t id, const btf_type* t, std::span<const uint8_t> data, int depth) {
    out_.start_object();
    out_.name(name_of(t->name_off));
    out_.start_array();
    const btf_var_secinfo* vars = btf_var_secinfos(t);
    for (uint16_t i = 0; i < btf_vlen(t); ++i) {
      if (vars[i].offset > data.size()) return fail(id, fmt::format("variable {} lies beyond the value", i));
      auto st = value(vars[i].type, 0, data.subspan(vars[i].offset), depth + 1);
      if (!st) return st;
    }
    out_.end_array();
    out_.end_object();
    return ok_status();
  }

  const struct ::btf* btf_;
  bool plain_;
  JsonText& out_;
};

}  // namespace

Status format_value(const struct ::btf* btf, uint32_t type_id, std::span<const uint8_t> data, Style style,
                    JsonText& out) {
  if (btf == nullptr) return input_error("no BTF to format the value with");
  return Formatter(btf, style, out).value(type_id, 0, data);
}

Status format_map_entry(const struct ::btf* btf, const MapEntryTypes& types, std::span<const uint8_t> key,
                        std::span<const uint8_t> value, Style style, JsonText& out) {
  out.start_object();
  if (types.key_type_id != 0) {
    out.name("key");
    if (auto st = format_value(btf, types.key_type_id, key, style, out); !st) return st;
  }
  if (!types.percpu) {
    out.name("value");
    if (auto st = format_value(btf, types.value_type_id, value, style, out); !st) return st;
  } else {
    const std::size_t step = (std::size_t{types.value_size} + 7) & ~std::size_t{7};
    if (step == 0) return input_error("a per-CPU map with value_size 0");
    out.name("values");
    out.start_array();
    for (std::size_t cpu = 0; cpu * step < value.size(); ++cpu) {
      out.start_object();
      out.name("cpu");
      out.raw(std::to_string(cpu));
      out.name("value");
      const auto slot = value.subspan(cpu * step, std::min(step, value.size() - cpu * step));
      if (auto st = format_value(btf, types.value_type_id, slot, style, out); !st) return st;
      out.end_object();
    }
    out.end_array();
  }
  out.end_object();
  return ok_status();
}

}  // namespace bpfvm::btf
