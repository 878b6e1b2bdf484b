#include "helpers/printk.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstring>

namespace bpfvm {
namespace {

constexpr std::size_t kMaxStringArg = 1024;  // MAX_BPRINTF_BUF

Error einval(std::string why) { return Error{ErrorKind::kInput, std::move(why), std::nullopt, std::nullopt}; }

std::string read_string(const MemoryReader& read, uint64_t address) {
  std::string s;
  for (std::size_t k = 0; k < kMaxStringArg; ++k) {
    char ch = 0;
    if (!read(address + k, &ch, 1)) return "(efault)";
    if (ch == 0) break;
    s += ch;
  }
  return s;
}

std::string ip_address(const MemoryReader& read, uint64_t address, bool v6, bool leading_zeros) {
  uint8_t b[16];
  if (!read(address, b, v6 ? 16 : 4)) return "(efault)";
  std::string s;
  if (!v6) {
    for (int k = 0; k < 4; ++k) {
      if (k) s += '.';
      s += leading_zeros ? fmt::format("{:03}", b[k]) : fmt::format("{}", b[k]);
    }
    return s;
  }
  for (int k = 0; k < 16; k += 2) {
    if (k && !leading_zeros) s += ':';
    s += fmt::format("{:02x}{:02x}", b[k], b[k + 1]);
  }
  return s;
}

std::string pad(std::string body, std::size_t width, bool left, bool zero) {
  if (body.size() >= width) return body;
  const std::size_t fill = width - body.size();
  if (left) return body + std::string(fill, ' ');
  if (zero) {
    const std::size_t sign = (!body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ')) ? 1 : 0;
    return body.substr(0, sign) + std::string(fill, '0') + body.substr(sign);
  }
  return std::string(fill, ' ') + body;
}

}  // namespace

Result<std::string> bprintf(std::string_view format, std::span<const uint64_t> args, const MemoryReader& read) {
  if (auto nul = format.find('\0'); nul != std::string_view::npos) format = format.substr(0, nul);
  std::string out;
  std::size_t next_arg = 0;
  for (std::size_t i = 0; i < format.size(); ++i) {
    const auto c = static_cast<unsigned char>(format[i]);
    if (c > 127 || (!std::isprint(c) && !std::isspace(c))) {
      return einval(fmt::format("byte 0x{:02x} at offset {} of the format is not printable ASCII", c, i));
    }
    if (c != '%') {
      out += static_cast<char>(c);
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '%') {
      out += '%';
      ++i;
      continue;
    }
    const std::size_t spec_start = i;
    if (next_arg >= args.size()) return einval(fmt::format("the format has more conversions than the {} arguments", args.size()));
    auto at = [&](std::size_t k) -> char { return k < format.size() ? format[k] : '\0'; };
    ++i;
    bool left = false, zero = false, plus = false, space = false;
    while (at(i) == '0' || at(i) == '+' || at(i) == '-' || at(i) == ' ') {
      left |= at(i) == '-';
      zero |= at(i) == '0';
      plus |= at(i) == '+';
      space |= at(i) == ' ';
      ++i;
    }
    std::size_t width = 0;
    while (at(i) >= '0' && at(i) <= '9') width = width * 10 + static_cast<std::size_t>(at(i++) - '0');
    const uint64_t arg = args[next_arg++];
    std::string body;
    if (at(i) == 'p') {
      const char ext = at(i + 1);
      if ((ext == 'k' || ext == 'u') && at(i + 2) == 's') {  // %pks, %pus: a string
        i += 2;
        body = read_string(read, arg);
      } else if (ext == '\0' || std::isspace(static_cast<unsigned char>(ext)) || std::ispunct(static_cast<unsigned char>(ext)) ||
                 ext == 'K' || ext == 'x' || ext == 's' || ext == 'S') {
        if (ext == 'K' || ext == 'x' || ext == 's' || ext == 'S') ++i;
        body = fmt::format("{:016x}", arg);  // as %px prints; Linux hashes plain %p
      } else if ((ext == 'i' || ext == 'I') && (at(i + 2) == '4' || at(i + 2) == '6')) {
        body = ip_address(read, arg, at(i + 2) == '6', ext == 'i');
        i += 2;
      } else {
        return einval(fmt::format("unsupported conversion %p{} at offset {}", ext, spec_start));
      }
    } else if (at(i) == 's') {
      body = read_string(read, arg);
    } else if (at(i) == 'c') {
      body = std::string(1, static_cast<char>(arg));
    } else {
      int size = 4;
      if (at(i) == 'l') {
        size = 8;
        ++i;
        if (at(i) == 'l') ++i;
      }
      const char conv = at(i);
      const uint64_t v = size == 4 ? static_cast<uint32_t>(arg) : arg;
      switch (conv) {
        case 'd': case 'i': {
          const int64_t sv = size == 4 ? static_cast<int32_t>(static_cast<uint32_t>(arg)) : static_cast<int64_t>(arg);
          body = std::to_string(sv);
          if (sv >= 0 && plus) body = "+" + body;
          else if (sv >= 0 && space) body = " " + body;
          break;
        }
        case 'u': body = std::to_string(v); break;
        case 'x': body = fmt::format("{:x}", v); break;
        case 'X': body = fmt::format("{:X}", v); break;
        default:
          return einval(fmt::format("unsupported conversion '{}' at offset {} of the format",
                                    format.substr(spec_start, i - spec_start + 1), spec_start));
      }
    }
    out += pad(std::move(body), width, left, zero && !left);
  }
  return out;
}

}  // namespace bpfvm
