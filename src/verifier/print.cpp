#include "verifier/print.hpp"

#include <fmt/format.h>

#include <limits>

namespace bpfvm::verifier {
namespace {

// The kernel prints small numbers in decimal and the rest in hex.
std::string snum(int64_t v) {
  if (v >= -32768 && v <= 32767) return fmt::format("{}", v);
  return fmt::format("{:#x}", static_cast<uint64_t>(v));
}
std::string unum(uint64_t v) {
  if (v <= 65535) return fmt::format("{}", v);
  return fmt::format("{:#x}", v);
}

// print_scalar_ranges(): the limits that differ from "unknown", equal ones joined by '='.
void append_ranges(const Bounds& b, std::string& out, const char*& sep) {
  struct Item {
    const char* name;
    uint64_t val;
    bool omit;
  } items[] = {
      {"smin", static_cast<uint64_t>(b.smin), b.smin == std::numeric_limits<int64_t>::min()},
      {"smax", static_cast<uint64_t>(b.smax), b.smax == std::numeric_limits<int64_t>::max()},
      {"umin", b.umin, b.umin == 0},
      {"umax", b.umax, b.umax == std::numeric_limits<uint64_t>::max()},
      {"smin32", static_cast<uint64_t>(static_cast<int64_t>(b.s32min)), b.s32min == std::numeric_limits<int32_t>::min()},
      {"smax32", static_cast<uint64_t>(static_cast<int64_t>(b.s32max)), b.s32max == std::numeric_limits<int32_t>::max()},
      {"umin32", b.u32min, b.u32min == 0},
      {"umax32", b.u32max, b.u32max == std::numeric_limits<uint32_t>::max()},
  };
  constexpr std::size_t n = sizeof(items) / sizeof(items[0]);
  for (std::size_t i = 0; i < n; ++i) {
    if (items[i].omit) continue;
    const bool neg1 = items[i].name[0] == 's' && static_cast<int64_t>(items[i].val) < 0;
    out += fmt::format("{}{}=", sep, items[i].name);
    sep = ",";
    for (std::size_t j = i + 2; j < n; j += 2) {
      if (items[j].omit) continue;
      const bool neg2 = items[j].name[0] == 's' && static_cast<int64_t>(items[j].val) < 0;
      if (neg1 == neg2 && items[i].val == items[j].val) {
        out += fmt::format("{}=", items[j].name);
        items[j].omit = true;
      }
    }
    out += items[i].name[0] == 's' ? snum(static_cast<int64_t>(items[i].val)) : unum(items[i].val);
  }
}

}  // namespace

std::string format_tnum(Tnum t) { return fmt::format("({:#x}; {:#x})", t.value, t.mask); }

std::string reg_type_name(const Reg& r) {
  std::string name;
  switch (r.type) {
    case RegType::kNotInit: return "?";
    case RegType::kScalar: return "scalar";
    case RegType::kCtx: name = "ctx"; break;
    case RegType::kMapPtr: name = "map_ptr"; break;
    case RegType::kMapValue: name = "map_value"; break;
    case RegType::kMapKey: name = "map_key"; break;
    case RegType::kStack: name = "fp"; break;
    case RegType::kPacket: name = "pkt"; break;
    case RegType::kPacketMeta: name = "pkt_meta"; break;
    case RegType::kPacketEnd: name = "pkt_end"; break;
    case RegType::kMem: name = r.ringbuf ? "ringbuf_mem" : "mem"; break;
    case RegType::kFunc: name = "func"; break;
  }
  if (r.maybe_null) name += "_or_null";
  return name;
}

std::string format_reg(const Reg& r, std::span<const MapInfo> maps) {
  if (r.type == RegType::kScalar) {
    if (r.b.is_const()) return snum(static_cast<int64_t>(r.b.var.value));
    std::string out = "scalar(";
    const char* sep = "";
    if (r.id) {
      out += fmt::format("id={}", r.id);
      sep = ",";
    }
    append_ranges(r.b, out, sep);
    if (!r.b.var.is_unknown()) out += fmt::format("{}var_off={}", sep, format_tnum(r.b.var));
    return out + ")";
  }
  if (r.type == RegType::kStack && r.b.is_const()) {
    return fmt::format("fp{}", static_cast<int64_t>(r.off) + static_cast<int64_t>(r.b.var.value));
  }
  std::string out = reg_type_name(r) + "(";
  const char* sep = "";
  auto item = [&](const std::string& s) {
    out += sep + s;
    sep = ",";
  };
  if (r.id) item(fmt::format("id={}", r.id));
  if (r.ref_obj_id) item(fmt::format("ref_obj_id={}", r.ref_obj_id));
  if (r.off) item(fmt::format("off={}", r.off));
  if (r.is_packet()) item(fmt::format("r={}", r.range < 0 ? unum(static_cast<uint64_t>(static_cast<int64_t>(r.range))) : fmt::format("{}", r.range)));
  if ((r.type == RegType::kMapPtr || r.type == RegType::kMapValue || r.type == RegType::kMapKey) && r.map >= 0 &&
      static_cast<std::size_t>(r.map) < maps.size()) {
    const MapInfo& m = maps[static_cast<std::size_t>(r.map)];
    item(fmt::format("ks={},vs={}", m.key_size, m.value_size));
  }
  if (r.type == RegType::kMem) item(fmt::format("sz={}", r.range));
  if (!r.b.is_const()) {
    append_ranges(r.b, out, sep);
    if (!r.b.var.is_unknown()) item(fmt::format("var_off={}", format_tnum(r.b.var)));
  } else if (r.b.var.value) {
    item(fmt::format("imm={:x}", r.b.var.value));
  }
  return out + ")";
}

std::string format_slot(const StackSlot& slot, std::span<const MapInfo> maps) {
  if (slot.bytes[0] == SlotType::kSpill) return format_reg(slot.spilled, maps);
  std::string out;
  bool any = false;
  for (int i = 7; i >= 0; --i) {  // the kernel lists a slot's bytes from its top (fp-1) down
    switch (slot.bytes[static_cast<std::size_t>(i)]) {
      case SlotType::kInvalid: out += '?'; break;
      case SlotType::kMisc: out += 'm'; any = true; break;
      case SlotType::kZero: out += '0'; any = true; break;
      case SlotType::kSpill: out += 'r'; any = true; break;
    }
  }
  return any ? out : std::string{};
}

std::string format_frame(const Frame& frame, std::span<const MapInfo> maps) {
  std::string out;
  for (std::size_t r = 0; r < frame.regs.size(); ++r) {
    if (frame.regs[r].type == RegType::kNotInit) continue;
    out += fmt::format(" R{}={}", r, format_reg(frame.regs[r], maps));
  }
  for (std::size_t i = 0; i < frame.stack.size(); ++i) {
    const std::string s = format_slot(frame.stack[i], maps);
    if (!s.empty()) out += fmt::format(" fp{}={}", -8 * static_cast<int>(i + 1), s);
  }
  return out;
}

std::string format_range_words(const Bounds& b) {
  return fmt::format("smin={} smax={}", b.smin, b.smax);
}

}  // namespace bpfvm::verifier
