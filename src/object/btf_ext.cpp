// .BTF.ext: per-section func_info and line_info records. libbpf's public API does not expose
// them, so the (small, documented) format is read here: a header, then for each kind a record
// size followed by {section name, count, records...} blocks. insn_off is in bytes.
#include <bpf/btf.h>
#include <fmt/format.h>

#include <cstring>

#include "object/loader.hpp"

namespace bpfvm::object::detail {
namespace {

constexpr uint16_t kBtfMagic = 0xeB9F;

class Reader {
 public:
  Reader(std::span<const uint8_t> data, std::size_t pos) : data_(data), pos_(pos) {}
  bool u32(uint32_t& out) {
    if (pos_ > data_.size() || data_.size() - pos_ < 4) return false;
    std::memcpy(&out, data_.data() + pos_, 4);
    pos_ += 4;
    return true;
  }
  bool skip(std::size_t n) {
    if (pos_ > data_.size() || data_.size() - pos_ < n) return false;
    pos_ += n;
    return true;
  }
  [[nodiscard]] std::size_t pos() const { return pos_; }

 private:
  std::span<const uint8_t> data_;
  std::size_t pos_;
};

template <typename OnRecord>
Status read_blocks(std::span<const uint8_t> data, std::size_t begin, std::size_t length, std::size_t min_rec,
                   const char* kind, const struct ::btf* btf, OnRecord on_record) {
  if (length == 0) return ok_status();
  auto bad = [&](std::size_t at, const std::string& what) {
    return input_error(fmt::format("section '.BTF.ext' offset {:#x}: {} {}", at, kind, what));
  };
  if (begin > data.size() || length > data.size() - begin) return bad(begin, "data is outside the section");
  auto sub = data.subspan(begin, length);
  Reader r(sub, 0);
  uint32_t rec_size = 0;
  if (!r.u32(rec_size) || rec_size < min_rec || rec_size % 4 != 0) return bad(begin, "record size is invalid");
  while (r.pos() < sub.size()) {
    std::size_t block = begin + r.pos();
    uint32_t sec_name_off = 0;
    uint32_t count = 0;
    if (!r.u32(sec_name_off) || !r.u32(count)) return bad(block, "block header is truncated");
    const char* section = btf__name_by_offset(btf, sec_name_off);
    if (section == nullptr) return bad(block, "names no section");
    for (uint32_t i = 0; i < count; ++i) {
      std::size_t at = r.pos();
      uint32_t fields[4] = {};
      for (std::size_t f = 0; f < min_rec / 4; ++f) {
        if (!r.u32(fields[f])) return bad(begin + at, "record is truncated");
      }
      if (!r.skip(rec_size - min_rec)) return bad(begin + at, "record is truncated");
      if (fields[0] % 8 != 0) return bad(begin + at, "record's instruction offset is not a multiple of 8");
      on_record(std::string(section), fields);
    }
  }
  return ok_status();
}

}  // namespace

Status collect_btf_ext(LoadContext& ctx, std::span<const uint8_t> data) {
  Reader r(data, 0);
  uint32_t word = 0;
  if (!r.u32(word)) return input_error("section '.BTF.ext': header is truncated");
  uint16_t magic = static_cast<uint16_t>(word & 0xffff);
  if (magic != kBtfMagic) return input_error(fmt::format("section '.BTF.ext' offset 0: bad magic {:#06x}", magic));
  uint32_t hdr_len = 0;
  uint32_t func_off = 0;
  uint32_t func_len = 0;
  uint32_t line_off = 0;
  uint32_t line_len = 0;
  if (!r.u32(hdr_len) || !r.u32(func_off) || !r.u32(func_len) || !r.u32(line_off) || !r.u32(line_len)) {
    return input_error("section '.BTF.ext': header is truncated");
  }
  if (hdr_len < 24 || hdr_len > data.size()) {
    return input_error(fmt::format("section '.BTF.ext' offset 4: header length {} is invalid", hdr_len));
  }
  // Since the CO-RE era the header also locates the core_relo records.
  uint32_t core_off = 0;
  uint32_t core_len = 0;
  if (hdr_len >= 32 && (!r.u32(core_off) || !r.u32(core_len))) {
    return input_error("section '.BTF.ext': header is truncated");
  }
  const struct ::btf* btf = ctx.btf;
  auto func_status = read_blocks(data, std::size_t{hdr_len} + func_off, func_len, 8, "func_info", btf,
                                 [&](const std::string& section, const uint32_t* f) {
                                   ctx.btf_ext[section].func_info.push_back(FuncInfo{f[0] / 8, f[1]});
                                 });
  if (!func_status) return func_status;
  auto line_status = read_blocks(data, std::size_t{hdr_len} + line_off, line_len, 16, "line_info", btf,
                                 [&](const std::string& section, const uint32_t* f) {
                                   const char* file = btf__name_by_offset(btf, f[1]);
                                   const char* line = btf__name_by_offset(btf, f[2]);
                                   ctx.btf_ext[section].line_info.push_back(
                                       LineInfo{f[0] / 8, file != nullptr ? file : "", line != nullptr ? line : "",
                                                f[3] >> 10, f[3] & 0x3ff});
                                 });
  if (!line_status) return line_status;
  return read_blocks(data, std::size_t{hdr_len} + core_off, core_len, 16, "core_relo", btf,
                     [&](const std::string& section, const uint32_t* f) {
                       const char* access = btf__name_by_offset(btf, f[2]);
                       ctx.btf_ext[section].core_relocs.push_back(
                           CoreReloc{f[0] / 8, f[1], access != nullptr ? access : "", f[3]});
                     });
}

}  // namespace bpfvm::object::detail
