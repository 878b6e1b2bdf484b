#include "isa/assembler.hpp"

#include <fmt/format.h>

#include <charconv>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

namespace bpfvm::isa {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) words.push_back(s.substr(i, j - i));
    i = j;
  }
  return words;
}

// Mnemonic -> rows spelled that way (K and X forms share one), plus the dialect's aliases.
const std::unordered_map<std::string, std::vector<Op>>& mnemonic_index() {
  static const auto index = [] {
    std::unordered_map<std::string, std::vector<Op>> m;
    for (const OpInfo& row : kOps) m[std::string(row.mnemonic)].push_back(row.op);
    for (const OpInfo& row : kOps) {
      const std::string mn(row.mnemonic);
      const bool wide_alu_or_jmp = (row.kind == Kind::kAlu || row.kind == Kind::kNeg || row.kind == Kind::kJmpCond) &&
                                   row.is64();
      if (wide_alu_or_jmp) m[mn + "64"].push_back(row.op);  // add64 == add
      if (row.kind == Kind::kBswap) m[mn.substr(1)].push_back(row.op);  // swap16 == bswap16
    }
    m["call helper"] = {Op::CallHelper};
    m["call runtime"] = {Op::CallKfunc};
    return m;
  }();
  return index;
}

struct Line {
  std::size_t number;       // 1-based source line
  std::string mnemonic;     // possibly two words: "lock fetch add32", "call local"
  std::vector<std::string_view> operands;
};

class Assembler {
 public:
  Result<std::vector<Insn>> run(std::string_view source) {
    if (auto st = parse(source); !st) return st.error();
    std::vector<Insn> out;
    out.reserve(slots_);
    for (const Line& line : lines_) {
      auto insn = encode_line(line, out.size());
      if (!insn) return insn.error();
      out.push_back(*insn);
      if (insn->info().kind == Kind::kLdImm64) {
        out.push_back(Insn{Op::LdImm64Tail, 0, 0, 0, static_cast<int32_t>(insn->imm_hi()), 0});
      }
    }
    return out;
  }

 private:
  Error error(std::size_t line, std::string message) {
    return Error{ErrorKind::kInput, std::move(message), std::nullopt, line};
  }

  // Pass 1: split lines, record labels at their slot index.
  Status parse(std::string_view source) {
    std::size_t number = 0;
    while (!source.empty()) {
      ++number;
      const std::size_t eol = source.find('\n');
      std::string_view text = source.substr(0, eol);
      source = eol == std::string_view::npos ? std::string_view{} : source.substr(eol + 1);
      if (auto hash = text.find('#'); hash != std::string_view::npos) text = text.substr(0, hash);
      text = trim(text);
      if (text.empty()) continue;
      if (text.starts_with("--")) return error(number, fmt::format("Invalid directive: {}", text));

      // "label:" alone or before an instruction.
      if (auto colon = text.find(':'); colon != std::string_view::npos && text.find('[') > colon) {
        const std::string_view label = trim(text.substr(0, colon));
        if (label.empty() || label.find_first_of(" \t,%") != std::string_view::npos) {
          return error(number, fmt::format("Invalid label: {}", text.substr(0, colon + 1)));
        }
        if (labels_.contains(std::string(label))) {
          return error(number, fmt::format("Duplicate label: {}", label));
        }
        labels_[std::string(label)] = slots_;
        text = trim(text.substr(colon + 1));
        if (text.empty()) continue;
      }

      Line line{number, {}, {}};
      auto words = split_words(text);
      std::size_t used = 1;
      line.mnemonic = std::string(words[0]);
      if (line.mnemonic == "lock") {
        // lock [fetch] OP [dst+off], src
        if (words.size() < 3) return error(number, "Invalid number of operands for lock");
        line.mnemonic += " ";
        if (words[1] == "fetch") {
          line.mnemonic += "fetch ";
          ++used;
        }
        line.mnemonic += std::string(words[used]);
        ++used;
      } else if (line.mnemonic == "call" && words.size() > 2 &&
                 (words[1] == "local" || words[1] == "kfunc" || words[1] == "helper" || words[1] == "runtime")) {
        line.mnemonic += " " + std::string(words[1]);
        ++used;
      }
      // Operands: the rest of the line, comma separated.
      std::string_view rest = text;
      for (std::size_t i = 0; i < used; ++i) {
        rest = trim(rest);
        rest.remove_prefix(words[i].size());
      }
      rest = trim(rest);
      while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        line.operands.push_back(trim(rest.substr(0, comma)));
        if (line.operands.back().empty()) return error(number, "Empty operand");
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
        if (trim(rest).empty()) return error(number, "Empty operand");
      }
      if (line.mnemonic == "call" && line.operands.size() == 1 && line.operands[0].starts_with('%')) {
        line.mnemonic = "callx";
      }
      if (line.mnemonic == "exit" && !first_exit_) first_exit_ = slots_;
      const auto& index = mnemonic_index();
      auto it = index.find(line.mnemonic);
      if (it == index.end()) {
        if (line.mnemonic.starts_with("lock ")) return error(number, fmt::format("Invalid atomic operation: {}", line.mnemonic.substr(5)));
        return error(number, fmt::format("Invalid mnemonic: {}", line.mnemonic));
      }
      slots_ += info(it->second.front()).kind == Kind::kLdImm64 ? 2 : 1;
      lines_.push_back(std::move(line));
    }
    return ok_status();
  }

  Result<uint8_t> reg(const Line& line, std::string_view text) {
    if (text.size() >= 3 && text.starts_with("%r")) {
      unsigned value = 0;
      auto [p, ec] = std::from_chars(text.data() + 2, text.data() + text.size(), value);
      if (ec == std::errc{} && p == text.data() + text.size() && value <= kMaxReg) return static_cast<uint8_t>(value);
    }
    return error(line.number, fmt::format("Invalid register: {}", text));
  }

  // An integer: decimal or 0x-hex, optional sign; range-checked by the caller.
  static std::optional<__int128> integer(std::string_view text, bool* hex = nullptr) {
    bool negative = false;
    if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
      negative = text[0] == '-';
      text.remove_prefix(1);
    }
    int base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
      base = 16;
      text.remove_prefix(2);
    }
    if (hex) *hex = base == 16;
    if (text.empty()) return std::nullopt;
    uint64_t value = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (ec != std::errc{} || p != text.data() + text.size()) return std::nullopt;
    const auto v = static_cast<__int128>(value);
    return negative ? -v : v;
  }

  // A 32-bit immediate: decimal in int32 range, or hex as a 32-bit pattern.
  Result<int32_t> imm32(const Line& line, std::string_view text) {
    bool hex = false;
    auto v = integer(text, &hex);
    if (!v) return error(line.number, fmt::format("Invalid immediate: {}", text));
    const __int128 lo = std::numeric_limits<int32_t>::min();
    const __int128 hi = hex ? std::numeric_limits<uint32_t>::max() : std::numeric_limits<int32_t>::max();
    if (*v < lo || *v > hi) return error(line.number, fmt::format("Immediate out of 32-bit range: {}", text));
    return static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(*v)));
  }

  Result<uint64_t> imm64(const Line& line, std::string_view text) {
    auto v = integer(text);
    if (!v || *v < std::numeric_limits<int64_t>::min() || *v > static_cast<__int128>(std::numeric_limits<uint64_t>::max())) {
      return error(line.number, fmt::format("Invalid 64-bit immediate: {}", text));
    }
    return static_cast<uint64_t>(*v);
  }

  // [%rN], [%rN+off], [%rN-off]
  Result<std::pair<uint8_t, int16_t>> mem(const Line& line, std::string_view text) {
    if (text.size() < 4 || text.front() != '[' || text.back() != ']') {
      return error(line.number, fmt::format("Invalid memory operand (expected [%rN+offset]): {}", text));
    }
    text = trim(text.substr(1, text.size() - 2));
    const std::size_t sign = text.find_first_of("+-");
    auto r = reg(line, trim(text.substr(0, sign)));
    if (!r) return r.error();
    int16_t off = 0;
    if (sign != std::string_view::npos) {
      std::string_view num = trim(text.substr(sign + 1));
      auto v = integer(num);
      if (!v) return error(line.number, fmt::format("Invalid offset: {}", text.substr(sign)));
      const __int128 value = text[sign] == '-' ? -*v : *v;
      if (value < std::numeric_limits<int16_t>::min() || value > std::numeric_limits<int16_t>::max()) {
        return error(line.number, fmt::format("Offset out of 16-bit range: {}", text.substr(sign)));
      }
      off = static_cast<int16_t>(value);
    }
    return std::pair{*r, off};
  }

  // A label, or a +N / -N offset relative to the next instruction.
  Result<int64_t> target(const Line& line, std::string_view text, std::size_t pc) {
    if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
      auto v = integer(text);
      if (!v || *v < std::numeric_limits<int32_t>::min() || *v > std::numeric_limits<int32_t>::max()) {
        return error(line.number, fmt::format("Invalid jump offset: {}", text));
      }
      return static_cast<int64_t>(*v);
    }
    std::optional<std::size_t> slot;
    if (auto it = labels_.find(std::string(text)); it != labels_.end()) slot = it->second;
    else if (text == "exit") slot = first_exit_;  // the dialect's implicit label
    if (!slot) return error(line.number, fmt::format("Invalid label: {}", text));
    return static_cast<int64_t>(*slot) - static_cast<int64_t>(pc) - 1;
  }

  Result<int16_t> off16(const Line& line, std::string_view text, std::size_t pc) {
    auto t = target(line, text, pc);
    if (!t) return t.error();
    if (*t < std::numeric_limits<int16_t>::min() || *t > std::numeric_limits<int16_t>::max()) {
      return error(line.number, fmt::format("Jump to {} is too far for a 16-bit offset (use ja32)", text));
    }
    return static_cast<int16_t>(*t);
  }

  Status expect_operands(const Line& line, std::size_t min, std::size_t max) {
    if (line.operands.size() < min || line.operands.size() > max) {
      if (line.mnemonic.starts_with("lock")) return error(line.number, "Invalid number of operands for lock");
      return error(line.number, fmt::format("Invalid number of operands for {}: expected {}, got {}", line.mnemonic,
                                            min == max ? std::to_string(min) : fmt::format("{} to {}", min, max),
                                            line.operands.size()));
    }
    return ok_status();
  }

#define BPFVM_TRY(var, expr)          \
  auto var##_result = (expr);         \
  if (!var##_result) return var##_result.error(); \
  auto var = *var##_result

  Result<Insn> encode_line(const Line& line, std::size_t pc) {
    const std::vector<Op>& candidates = mnemonic_index().at(line.mnemonic);
    const OpInfo& first = info(candidates.front());
    const auto& ops = line.operands;
    // Pick the register-source form when the source operand is a register.
    auto pick = [&](bool reg_source) -> Op {
      for (Op op : candidates) {
        if (info(op).reg_source() == reg_source) return op;
      }
      return candidates.front();
    };
    switch (first.kind) {
      case Kind::kAlu: {
        if (auto st = expect_operands(line, 2, 2); !st) return st.error();
        BPFVM_TRY(dst, reg(line, ops[0]));
        if (ops[1].starts_with('%')) {
          BPFVM_TRY(src, reg(line, ops[1]));
          return make_insn(pick(true), dst, src);
        }
        BPFVM_TRY(imm, imm32(line, ops[1]));
        return make_insn(pick(false), dst, 0, 0, imm);
      }
      case Kind::kMovSx: {
        if (auto st = expect_operands(line, 2, 2); !st) return st.error();
        BPFVM_TRY(dst, reg(line, ops[0]));
        BPFVM_TRY(src, reg(line, ops[1]));
        return make_insn(first.op, dst, src);
      }
      case Kind::kNeg: case Kind::kEnd: case Kind::kBswap: {
        if (auto st = expect_operands(line, 1, 1); !st) return st.error();
        BPFVM_TRY(dst, reg(line, ops[0]));
        return make_insn(first.op, dst);
      }
      case Kind::kJmpCond: {
        if (auto st = expect_operands(line, 3, 3); !st) return st.error();
        BPFVM_TRY(dst, reg(line, ops[0]));
        BPFVM_TRY(off, off16(line, ops[2], pc));
        if (ops[1].starts_with('%')) {
          BPFVM_TRY(src, reg(line, ops[1]));
          return make_insn(pick(true), dst, src, off);
        }
        BPFVM_TRY(imm, imm32(line, ops[1]));
        return make_insn(pick(false), dst, 0, off, imm);
      }
      case Kind::kJa: case Kind::kMayGoto: {
        if (auto st = expect_operands(line, 1, 1); !st) return st.error();
        BPFVM_TRY(off, off16(line, ops[0], pc));
        return make_insn(first.op, 0, 0, off);
      }
      case Kind::kGotol: case Kind::kCallLocal: {
        if (auto st = expect_operands(line, 1, 1); !st) return st.error();
        BPFVM_TRY(t, target(line, ops[0], pc));
        return make_insn(first.op, 0, 0, 0, static_cast<int32_t>(t));
      }
      case Kind::kCallHelper: {
        if (auto st = expect_operands(line, 1, 1); !st) return st.error();
        BPFVM_TRY(imm, imm32(line, ops[0]));
        return make_insn(first.op, 0, 0, 0, imm);
      }
      case Kind::kCallKfunc: {
        if (auto st = expect_operands(line, 1, 2); !st) return st.error();
        BPFVM_TRY(imm, imm32(line, ops[0]));
        int16_t off = 0;
        if (ops.size() == 2) {
          BPFVM_TRY(o, imm32(line, ops[1]));
          if (o < std::numeric_limits<int16_t>::min() || o > std::numeric_limits<int16_t>::max()) {
            return error(line.number, fmt::format("Offset out of 16-bit range: {}", ops[1]));
          }
          off = static_cast<int16_t>(o);
        }
        return make_insn(first.op, 0, 0, off, imm);
      }
      case Kind::kCallx: {
        if (auto st = expect_operands(line, 1, 1); !st) return st.error();
        BPFVM_TRY(dst, reg(line, ops[0]));
        return make_insn(first.op, dst);
      }
      case Kind::kExit: {
        if (auto st = expect_operands(line, 0, 0); !st) return st.error();
        return make_insn(first.op);
      }
      case Kind::kLoad: case Kind::kLoadSx: {
        if (auto st = expect_operands(line, 2, 2); !st) return st.error();
        BPFVM_TRY(dst, reg(line, ops[0]));
        BPFVM_TRY(m, mem(line, ops[1]));
        return make_insn(first.op, dst, m.first, m.second);
      }
      case Kind::kStore: {
        if (auto st = expect_operands(line, 2, 2); !st) return st.error();
        BPFVM_TRY(m, mem(line, ops[0]));
        BPFVM_TRY(imm, imm32(line, ops[1]));
        return make_insn(first.op, m.first, 0, m.second, imm);
      }
      case Kind::kStoreReg: case Kind::kAtomic: {
        if (auto st = expect_operands(line, 2, 2); !st) return st.error();
        BPFVM_TRY(m, mem(line, ops[0]));
        BPFVM_TRY(src, reg(line, ops[1]));
        return make_insn(first.op, m.first, src, m.second);
      }
      case Kind::kLdImm64: {
        const bool has_offset = first.op == Op::LdMapValue || first.op == Op::LdMapIdxValue;
        if (auto st = expect_operands(line, has_offset ? 3 : 2, has_offset ? 3 : 2); !st) return st.error();
        BPFVM_TRY(dst, reg(line, ops[0]));
        if (first.op == Op::LdImm64) {
          BPFVM_TRY(v, imm64(line, ops[1]));
          return make_insn(first.op, dst, 0, 0, 0, v);
        }
        if (first.op == Op::LdFunc) {
          BPFVM_TRY(t, target(line, ops[1], pc));
          return make_insn(first.op, dst, 0, 0, 0, static_cast<uint32_t>(static_cast<int32_t>(t)));
        }
        BPFVM_TRY(lo, imm32(line, ops[1]));
        uint64_t hi = 0;
        if (has_offset) {
          BPFVM_TRY(h, imm32(line, ops[2]));
          hi = static_cast<uint32_t>(h);
        }
        return make_insn(first.op, dst, 0, 0, 0, (hi << 32) | static_cast<uint32_t>(lo));
      }
      case Kind::kLdAbs: {
        if (auto st = expect_operands(line, 1, 1); !st) return st.error();
        BPFVM_TRY(imm, imm32(line, ops[0]));
        return make_insn(first.op, 0, 0, 0, imm);
      }
      case Kind::kLdInd: {
        if (auto st = expect_operands(line, 2, 2); !st) return st.error();
        BPFVM_TRY(src, reg(line, ops[0]));
        BPFVM_TRY(imm, imm32(line, ops[1]));
        return make_insn(first.op, 0, src, 0, imm);
      }
      case Kind::kTail: break;
    }
    return error(line.number, "internal: unhandled operation kind");
  }
#undef BPFVM_TRY

  std::vector<Line> lines_;
  std::map<std::string, std::size_t> labels_;
  std::size_t slots_ = 0;
  std::optional<std::size_t> first_exit_;
};

}  // namespace

Result<std::vector<Insn>> assemble(std::string_view source) {
  Assembler assembler;
  return assembler.run(source);
}

}  // namespace bpfvm::isa
