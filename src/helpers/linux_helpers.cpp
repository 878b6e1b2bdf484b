// Implementations follow the kernel's (kernel/bpf/helpers.c, kernel/trace/bpf_trace.c,
// net/core/filter.c): same argument checks, same error codes, same results.
#include "helpers/linux_helpers.hpp"

#include <linux/bpf.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <random>

#include "exec/interpreter.hpp"
#include "helpers/printk.hpp"
#include "maps/map_helpers.hpp"
#include "isa/disasm.hpp"
#include "progtypes/contexts.hpp"
#include "progtypes/progtypes.hpp"
#include "runtime/low_memory.hpp"

namespace bpfvm {
namespace {

constexpr uint64_t err(int e) { return static_cast<uint64_t>(-static_cast<int64_t>(e)); }

uint64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// ---- time, identity, randomness -------------------------------------------------------

uint64_t ktime_get_ns(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext&) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t ktime_get_boot_ns(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext&) { return clock_ns(CLOCK_BOOTTIME); }
uint64_t ktime_get_coarse_ns(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext&) {
  return clock_ns(CLOCK_MONOTONIC_COARSE);
}
// jiffies at Debian's CONFIG_HZ=250.
uint64_t jiffies64(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext&) {
  return clock_ns(CLOCK_MONOTONIC_COARSE) / 4'000'000u;
}

uint64_t get_prandom_u32(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext&) {
  thread_local std::mt19937 rng{std::random_device{}()};
  return static_cast<uint32_t>(rng());
}

uint64_t get_numa_node_id(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext&) { return 0; }

uint64_t get_current_pid_tgid(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext&) {
  return (static_cast<uint64_t>(getpid()) << 32) | static_cast<uint32_t>(gettid());
}

uint64_t get_current_uid_gid(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext&) {
  return (static_cast<uint64_t>(getgid()) << 32) | static_cast<uint32_t>(getuid());
}

uint64_t get_current_comm(uint64_t buf, uint64_t size, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  uint8_t* out = ctx.access(buf, size, true);
  if (out == nullptr || size == 0) return err(EINVAL);
  char comm[17] = {};
  prctl(PR_GET_NAME, comm);
  // strscpy_pad: copy, always terminate, zero the rest.
  std::memset(out, 0, size);
  std::memcpy(out, comm, std::min<std::size_t>(size - 1, std::strlen(comm)));
  return 0;
}

// ---- reading memory the program does not own ---------------------------------------------

// Reads this process's memory without faulting: process_vm_readv reports unmapped addresses.
bool safe_read(uint64_t address, void* out, std::size_t size) {
  if (size == 0) return true;
  iovec local{out, size};
  iovec remote{reinterpret_cast<void*>(address), size};
  return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(size);
}

uint64_t probe_read(uint64_t dst, uint64_t size, uint64_t unsafe, uint64_t, uint64_t, HelperContext& ctx) {
  uint8_t* out = ctx.access(dst, size, true);
  if (out == nullptr && size != 0) return err(EFAULT);
  if (!safe_read(unsafe, out, size)) {
    std::memset(out, 0, size);
    return err(EFAULT);
  }
  return 0;
}

uint64_t probe_read_str(uint64_t dst, uint64_t size, uint64_t unsafe, uint64_t, uint64_t, HelperContext& ctx) {
  uint8_t* out = ctx.access(dst, size, true);
  if (out == nullptr || size == 0) return size == 0 ? 0 : err(EFAULT);
  for (uint64_t i = 0; i < size; ++i) {
    uint8_t byte = 0;
    if (i == size - 1) {
      out[i] = 0;  // always terminated
      return size;
    }
    if (!safe_read(unsafe + i, &byte, 1)) {
      std::memset(out, 0, size);
      return err(EFAULT);
    }
    out[i] = byte;
    if (byte == 0) return i + 1;  // the length including the NUL
  }
  return size;
}

// ---- printing ------------------------------------------------------------------------------

MemoryReader program_reader(HelperContext& ctx) {
  return [&ctx](uint64_t address, void* out, std::size_t size) {
    const uint8_t* p = ctx.access(address, size, false);
    if (p == nullptr) return safe_read(address, out, size);  // %s of kernel-style unsafe pointers
    std::memcpy(out, p, size);
    return true;
  };
}

// The format string: fmt_size readable bytes holding a NUL.
std::optional<std::string_view> format_arg(uint64_t fmt, uint64_t fmt_size, HelperContext& ctx) {
  const uint8_t* p = ctx.access(fmt, fmt_size, false);
  if (p == nullptr || fmt_size == 0) return std::nullopt;
  const auto* chars = reinterpret_cast<const char*>(p);
  if (std::memchr(chars, 0, fmt_size) == nullptr) return std::nullopt;
  return std::string_view(chars, fmt_size);
}

uint64_t emit(HelperContext& ctx, const Result<std::string>& text) {
  if (!text) return err(EINVAL);
  std::string message = *text;
  if (message.size() > 1023) message.resize(1023);  // MAX_BPRINTF_BUF - 1
  if (ctx.options != nullptr && ctx.options->trace != nullptr) {
    std::string_view line = message;
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    ctx.options->trace->write(line);
  }
  return text->size();
}

uint64_t trace_printk(uint64_t fmt, uint64_t fmt_size, uint64_t a1, uint64_t a2, uint64_t a3, HelperContext& ctx) {
  auto format = format_arg(fmt, fmt_size, ctx);
  if (!format) return err(EINVAL);
  const uint64_t args[] = {a1, a2, a3};
  return emit(ctx, bprintf(*format, args, program_reader(ctx)));
}

// The u64 argument array of the *vprintk / snprintf helpers (at most 12 arguments).
std::optional<std::vector<uint64_t>> arg_array(uint64_t data, uint64_t data_len, HelperContext& ctx) {
  if (data_len % 8 != 0 || data_len > 12 * 8 || (data == 0 && data_len != 0)) return std::nullopt;
  std::vector<uint64_t> args(data_len / 8);
  if (data_len) {
    const uint8_t* p = ctx.access(data, data_len, false);
    if (p == nullptr) return std::nullopt;
    std::memcpy(args.data(), p, data_len);
  }
  return args;
}

uint64_t trace_vprintk(uint64_t fmt, uint64_t fmt_size, uint64_t data, uint64_t data_len, uint64_t, HelperContext& ctx) {
  auto format = format_arg(fmt, fmt_size, ctx);
  auto args = arg_array(data, data_len, ctx);
  if (!format || !args) return err(EINVAL);
  return emit(ctx, bprintf(*format, *args, program_reader(ctx)));
}

uint64_t snprintf_helper(uint64_t str, uint64_t str_size, uint64_t fmt, uint64_t data, uint64_t data_len,
                         HelperContext& ctx) {
  uint8_t* out = str_size ? ctx.access(str, str_size, true) : nullptr;
  if (str_size && out == nullptr) return err(EFAULT);
  const uint8_t* f = ctx.access(fmt, 1, false);
  auto args = arg_array(data, data_len, ctx);
  if (f == nullptr || !args) return err(EINVAL);
  std::string format;
  for (uint64_t a = fmt;; ++a) {  // a NUL-terminated string in read-only memory
    const uint8_t* c = ctx.access(a, 1, false);
    if (c == nullptr) return err(EINVAL);
    if (*c == 0) break;
    format += static_cast<char>(*c);
  }
  auto text = bprintf(format, *args, program_reader(ctx));
  if (!text) return err(EINVAL);
  if (str_size) {
    const std::size_t n = std::min<std::size_t>(text->size(), str_size - 1);
    std::memcpy(out, text->data(), n);
    out[n] = 0;
  }
  return text->size() + 1;
}

// ---- strings to numbers ---------------------------------------------------------------------

// Linux's __bpf_strtoull: returns the bytes consumed or -errno.
int64_t strtoull(const char* buf, uint64_t buf_len, uint64_t flags, uint64_t* res, bool* negative) {
  unsigned base = static_cast<unsigned>(flags & 0x1f);
  if (flags & ~uint64_t{0x1f}) return -EINVAL;
  if (base != 0 && base != 8 && base != 10 && base != 16) return -EINVAL;
  if (buf_len == 0) return -EINVAL;
  std::size_t i = 0;
  while (i < buf_len && std::isspace(static_cast<unsigned char>(buf[i]))) ++i;
  *negative = i < buf_len && buf[i] == '-';
  if (*negative) ++i;
  if (i == buf_len) return -EINVAL;
  char str[64] = {};
  const std::size_t len = std::min<std::size_t>(buf_len - i, sizeof(str) - 1);
  std::memcpy(str, buf + i, len);
  const char* s = str;
  if (base == 0) {
    if (s[0] == '0') base = (std::tolower(s[1]) == 'x' && std::isxdigit(static_cast<unsigned char>(s[2]))) ? 16 : 8;
    else base = 10;
  }
  if (base == 16 && s[0] == '0' && std::tolower(s[1]) == 'x') s += 2;
  uint64_t value = 0;
  std::size_t digits = 0;
  bool overflow = false;
  for (; *s; ++s, ++digits) {
    unsigned d;
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(*s)));
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else break;
    if (d >= base) break;
    if (value > (ULLONG_MAX - d) / base) overflow = true;
    value = value * base + d;
  }
  if (overflow) return -ERANGE;
  if (digits == 0) return -EINVAL;
  *res = value;
  return static_cast<int64_t>(i + static_cast<std::size_t>(s - str));
}

uint64_t strtol_helper(uint64_t buf, uint64_t buf_len, uint64_t flags, uint64_t res, uint64_t, HelperContext& ctx) {
  const uint8_t* in = ctx.access(buf, buf_len, false);
  uint8_t* out = ctx.access(res, 8, true);
  if (in == nullptr || out == nullptr) return err(EFAULT);
  uint64_t value = 0;
  bool negative = false;
  const int64_t consumed = strtoull(reinterpret_cast<const char*>(in), buf_len, flags, &value, &negative);
  if (consumed < 0) return static_cast<uint64_t>(consumed);
  int64_t result;
  if (negative) {
    if (static_cast<int64_t>(0 - value) > 0) return err(ERANGE);
    result = static_cast<int64_t>(0 - value);
  } else {
    if (static_cast<int64_t>(value) < 0) return err(ERANGE);
    result = static_cast<int64_t>(value);
  }
  std::memcpy(out, &result, 8);
  return static_cast<uint64_t>(consumed);
}

uint64_t strtoul_helper(uint64_t buf, uint64_t buf_len, uint64_t flags, uint64_t res, uint64_t, HelperContext& ctx) {
  const uint8_t* in = ctx.access(buf, buf_len, false);
  uint8_t* out = ctx.access(res, 8, true);
  if (in == nullptr || out == nullptr) return err(EFAULT);
  uint64_t value = 0;
  bool negative = false;
  const int64_t consumed = strtoull(reinterpret_cast<const char*>(in), buf_len, flags, &value, &negative);
  if (consumed < 0) return static_cast<uint64_t>(consumed);
  if (negative) return err(EINVAL);
  std::memcpy(out, &value, 8);
  return static_cast<uint64_t>(consumed);
}

// ---- callbacks ------------------------------------------------------------------------------

uint64_t loop(uint64_t nr_loops, uint64_t callback, uint64_t callback_ctx, uint64_t flags, uint64_t, HelperContext& ctx) {
  if (flags) return err(EINVAL);
  if (nr_loops > (1u << 23)) return err(E2BIG);  // BPF_MAX_LOOPS
  if (ctx.host == nullptr) return err(EINVAL);
  for (uint64_t i = 0; i < nr_loops; ++i) {
    auto r = ctx.host->call(callback, {i, callback_ctx, 0, 0, 0});
    if (!r) return err(EINVAL);  // the engine keeps the error and stops the program
    if (*r != 0) return i + 1;
  }
  return nr_loops;
}

// ---- checksums ------------------------------------------------------------------------------

uint32_t csum_add(uint32_t a, uint32_t b) {
  const uint32_t s = a + b;
  return s + (s < b ? 1 : 0);
}
uint32_t csum_sub(uint32_t a, uint32_t b) { return csum_add(a, ~b); }
uint16_t csum_fold(uint32_t sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}
// x86-64's csum_partial: a ones' complement sum of the bytes as little-endian words (a short
// tail zero-padded), folded to 32 bits; an odd start address rotates the sum as Linux does.
uint32_t csum_partial(const uint8_t* p, std::size_t len, uint32_t seed) {
  const bool odd = (reinterpret_cast<uintptr_t>(p) & 1) != 0;
  uint64_t sum = seed;
  if (odd) {
    if (len == 0) return seed;
    sum = (seed >> 8) | (static_cast<uint64_t>(seed & 0xff) << 24);  // ror32(seed, 8)
    sum += static_cast<uint64_t>(*p) << 8;
    ++p;
    --len;
  }
  auto add = [&sum](uint64_t v) {
    sum += v;
    if (sum < v) ++sum;  // end-around carry
  };
  std::size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    add(w);
  }
  if (i < len) {
    uint64_t tail = 0;
    std::memcpy(&tail, p + i, len - i);
    add(tail);
  }
  uint32_t result = csum_add(static_cast<uint32_t>(sum >> 32), static_cast<uint32_t>(sum));
  if (odd) {
    result = (result & 0xffff) + (result >> 16);
    result = (result & 0xffff) + (result >> 16);
    result = ((result >> 8) & 0xff) | ((result & 0xff) << 8);
  }
  return result;
}

// Folds to 16 bits without complementing (csum_from32to16).
uint32_t from32to16(uint32_t x) {
  x += (x >> 16) | (x << 16);
  return x >> 16;
}

// Linux 6.13 and later: any sizes up to 512 bytes, and a 16-bit folded result on every arch.
uint64_t csum_diff(uint64_t from, uint64_t from_size, uint64_t to, uint64_t to_size, uint64_t seed, HelperContext& ctx) {
  if (from_size > 512 || to_size > 512) return err(EINVAL);
  const uint8_t* f = from_size ? ctx.access(from, from_size, false) : nullptr;
  const uint8_t* t = to_size ? ctx.access(to, to_size, false) : nullptr;
  if ((from_size && f == nullptr) || (to_size && t == nullptr)) return err(EFAULT);
  const auto s = static_cast<uint32_t>(seed);
  uint32_t ret;
  if (from_size && to_size) ret = csum_sub(csum_partial(t, to_size, s), csum_partial(f, from_size, 0));
  else if (to_size) ret = csum_partial(t, to_size, s);
  else if (from_size) ret = ~csum_partial(f, from_size, ~s);
  else ret = s;
  return from32to16(ret);
}

// ---- packets ----------------------------------------------------------------------------------

SkbContext* skb_of(uint64_t ctx_arg, HelperContext& ctx) {
  const ProgTypeInfo* info = ctx.options ? prog_type_info(ctx.options->prog_type) : nullptr;
  if (info == nullptr || info->context != ContextKind::kSkb) return nullptr;
  auto* skb = static_cast<SkbContext*>(ctx.options->context);
  return reinterpret_cast<uint64_t>(&skb->skb) == ctx_arg ? skb : nullptr;
}

XdpContext* xdp_of(uint64_t ctx_arg, HelperContext& ctx) {
  if (ctx.options == nullptr || ctx.options->prog_type != BPF_PROG_TYPE_XDP) return nullptr;
  auto* xdp = static_cast<XdpContext*>(ctx.options->context);
  return reinterpret_cast<uint64_t>(&xdp->md) == ctx_arg ? xdp : nullptr;
}

// The linear packet of an skb: [data, data_end) as the context says, checked to lie in its buffer.
std::span<uint8_t> skb_packet(const SkbContext& skb) {
  uint8_t* data = packet_pointer(skb.skb.data);
  uint8_t* end = packet_pointer(skb.skb.data_end);
  if (data < skb.head || end > skb.end || data > end) return {};
  return {data, static_cast<std::size_t>(end - data)};
}

uint64_t skb_load_bytes(uint64_t ctx_arg, uint64_t offset, uint64_t to, uint64_t len, uint64_t, HelperContext& ctx) {
  uint8_t* out = ctx.access(to, len, true);
  SkbContext* skb = skb_of(ctx_arg, ctx);
  if (out == nullptr || skb == nullptr) return err(EFAULT);
  const auto packet = skb_packet(*skb);
  const auto off = static_cast<uint32_t>(offset);
  if (off > 0xffff || static_cast<uint64_t>(off) + len > packet.size()) {
    std::memset(out, 0, len);
    return err(EFAULT);
  }
  std::memcpy(out, packet.data() + off, len);
  return 0;
}

uint64_t skb_store_bytes(uint64_t ctx_arg, uint64_t offset, uint64_t from, uint64_t len, uint64_t flags,
                         HelperContext& ctx) {
  if (flags & ~uint64_t{BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH}) return err(EINVAL);
  const uint8_t* in = ctx.access(from, len, false);
  SkbContext* skb = skb_of(ctx_arg, ctx);
  if (in == nullptr || skb == nullptr) return err(EFAULT);
  const auto packet = skb_packet(*skb);
  const auto off = static_cast<uint32_t>(offset);
  if (off > INT_MAX || static_cast<uint64_t>(off) + len > packet.size()) return err(EFAULT);
  std::memmove(packet.data() + off, in, len);
  return 0;
}

// Linux's csum_replace_by_diff() and csum_replace4(): a 16-bit checksum updated for a change.
uint16_t csum_replace_by_diff(uint16_t sum, uint32_t diff) { return csum_fold(csum_add(diff, ~static_cast<uint32_t>(sum))); }
uint16_t csum_replace4(uint16_t sum, uint32_t from, uint32_t to) {
  return csum_fold(csum_add(csum_sub(~static_cast<uint32_t>(sum), from), to));
}

uint16_t load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void store16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

uint16_t csum16_add(uint16_t csum, uint16_t addend) {
  uint16_t res = static_cast<uint16_t>(csum + addend);
  return static_cast<uint16_t>(res + (res < addend ? 1 : 0));
}

// The 16-bit checksum at `offset` of the packet, or nullptr when out of range or odd.
uint8_t* csum_field(uint64_t ctx_arg, uint64_t offset, HelperContext& ctx) {
  SkbContext* skb = skb_of(ctx_arg, ctx);
  if (skb == nullptr) return nullptr;
  const auto packet = skb_packet(*skb);
  const auto off = static_cast<uint32_t>(offset);
  if (off > 0xffff || (off & 1) || static_cast<uint64_t>(off) + 2 > packet.size()) return nullptr;
  return packet.data() + off;
}

uint64_t l3_csum_replace(uint64_t ctx_arg, uint64_t offset, uint64_t from, uint64_t to, uint64_t flags,
                         HelperContext& ctx) {
  if (flags & ~uint64_t{BPF_F_HDR_FIELD_MASK}) return err(EINVAL);
  uint8_t* field = csum_field(ctx_arg, offset, ctx);
  if (field == nullptr) return err(EFAULT);
  const uint16_t sum = load16(field);
  switch (flags & BPF_F_HDR_FIELD_MASK) {
    case 0:
      if (from != 0) return err(EINVAL);
      store16(field, csum_replace_by_diff(sum, static_cast<uint32_t>(to)));
      break;
    case 2:
      store16(field, static_cast<uint16_t>(~csum16_add(csum16_add(static_cast<uint16_t>(~sum),
                                                                  static_cast<uint16_t>(~static_cast<uint16_t>(from))),
                                                       static_cast<uint16_t>(to))));
      break;
    case 4:
      store16(field, csum_replace4(sum, static_cast<uint32_t>(from), static_cast<uint32_t>(to)));
      break;
    default: return err(EINVAL);
  }
  return 0;
}

uint64_t l4_csum_replace(uint64_t ctx_arg, uint64_t offset, uint64_t from, uint64_t to, uint64_t flags,
                         HelperContext& ctx) {
  constexpr uint64_t kIpv6 = 1ull << 7;  // BPF_F_IPV6 (Linux 6.13)
  if (flags & ~uint64_t{BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR | BPF_F_HDR_FIELD_MASK | kIpv6}) {
    return err(EINVAL);
  }
  uint8_t* field = csum_field(ctx_arg, offset, ctx);
  if (field == nullptr) return err(EFAULT);
  const bool mangled_zero = flags & BPF_F_MARK_MANGLED_0;
  const bool enforce = flags & BPF_F_MARK_ENFORCE;
  uint16_t sum = load16(field);
  if (mangled_zero && !enforce && sum == 0) return 0;
  // Test-run packets carry no hardware checksum state, so the pseudo-header flag changes nothing.
  switch (flags & BPF_F_HDR_FIELD_MASK) {
    case 0:
      if (from != 0) return err(EINVAL);
      sum = csum_replace_by_diff(sum, static_cast<uint32_t>(to));
      break;
    case 2: case 4: {
      const uint32_t f = (flags & BPF_F_HDR_FIELD_MASK) == 2 ? static_cast<uint16_t>(from) : static_cast<uint32_t>(from);
      const uint32_t t = (flags & BPF_F_HDR_FIELD_MASK) == 2 ? static_cast<uint16_t>(to) : static_cast<uint32_t>(to);
      sum = csum_replace4(sum, f, t);
      break;
    }
    default: return err(EINVAL);
  }
  if (mangled_zero && sum == 0) sum = 0xffff;  // CSUM_MANGLED_0
  store16(field, sum);
  return 0;
}

uint64_t xdp_adjust_head(uint64_t ctx_arg, uint64_t delta, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  XdpContext* xdp = xdp_of(ctx_arg, ctx);
  if (xdp == nullptr) return err(EINVAL);
  const auto offset = static_cast<int32_t>(delta);
  uint8_t* meta = packet_pointer(xdp->md.data_meta);
  uint8_t* data = packet_pointer(xdp->md.data);
  uint8_t* end = packet_pointer(xdp->md.data_end);
  const std::size_t metalen = static_cast<std::size_t>(data - meta);
  uint8_t* new_data = data + offset;
  if (new_data < xdp->hard_start + kXdpFrameSize + metalen || new_data > end - kEthHeaderLen) return err(EINVAL);
  if (metalen) std::memmove(meta + offset, meta, metalen);
  xdp->md.data_meta = LowMemory::address32(meta + offset);
  xdp->md.data = LowMemory::address32(new_data);
  return 0;
}

uint64_t xdp_adjust_tail(uint64_t ctx_arg, uint64_t delta, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  XdpContext* xdp = xdp_of(ctx_arg, ctx);
  if (xdp == nullptr) return err(EINVAL);
  const auto offset = static_cast<int32_t>(delta);
  uint8_t* data = packet_pointer(xdp->md.data);
  uint8_t* end = packet_pointer(xdp->md.data_end);
  uint8_t* new_end = end + offset;
  if (new_end > xdp->hard_end) return err(EINVAL);
  if (new_end < data + kEthHeaderLen) return err(EINVAL);
  if (offset > 0) std::memset(end, 0, static_cast<std::size_t>(offset));
  xdp->md.data_end = LowMemory::address32(new_end);
  return 0;
}

uint64_t xdp_adjust_meta(uint64_t ctx_arg, uint64_t delta, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  XdpContext* xdp = xdp_of(ctx_arg, ctx);
  if (xdp == nullptr) return err(EINVAL);
  uint8_t* data = packet_pointer(xdp->md.data);
  uint8_t* meta = packet_pointer(xdp->md.data_meta) + static_cast<int32_t>(delta);
  if (meta > data) return err(EINVAL);
  const std::size_t metalen = static_cast<std::size_t>(data - meta);
  if (meta < xdp->hard_start + kXdpFrameSize || metalen > kXdpMaxMetadata || metalen % 4 != 0) return err(EACCES);
  xdp->md.data_meta = LowMemory::address32(meta);
  return 0;
}

uint64_t redirect(uint64_t ifindex, uint64_t flags, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  (void)ifindex;
  if (ctx.options != nullptr && ctx.options->prog_type == BPF_PROG_TYPE_XDP) {
    return flags ? XDP_ABORTED : XDP_REDIRECT;
  }
  return (flags & ~uint64_t{BPF_F_INGRESS}) ? 2 /*TC_ACT_SHOT*/ : 7 /*TC_ACT_REDIRECT*/;
}

// ---- the table ------------------------------------------------------------------------------

using A = ArgType;

struct Row {
  int32_t id;
  HelperFn fn;
  HelperProto proto;
  bool context_free = false;  // Helper::context_free
};

const Row kRows[] = {
    {BPF_FUNC_probe_read, probe_read, {RetType::kInteger, {A::kPtrToUninitMem, A::kConstSizeOrZero, A::kAnything}, true}},
    {BPF_FUNC_ktime_get_ns, ktime_get_ns, {RetType::kInteger, {}, false}, true},
    // Only the format is checked; the three values are read when the format names them.
    {BPF_FUNC_trace_printk, trace_printk, {RetType::kInteger, {A::kPtrToMem, A::kConstSize}, true}},
    {BPF_FUNC_get_prandom_u32, get_prandom_u32, {RetType::kInteger, {}, false}, true},
    {BPF_FUNC_skb_store_bytes, skb_store_bytes,
     {RetType::kInteger, {A::kPtrToCtx, A::kAnything, A::kPtrToMem, A::kConstSize, A::kAnything}, false}},
    {BPF_FUNC_l3_csum_replace, l3_csum_replace,
     {RetType::kInteger, {A::kPtrToCtx, A::kAnything, A::kAnything, A::kAnything, A::kAnything}, false}},
    {BPF_FUNC_l4_csum_replace, l4_csum_replace,
     {RetType::kInteger, {A::kPtrToCtx, A::kAnything, A::kAnything, A::kAnything, A::kAnything}, false}},
    {BPF_FUNC_get_current_pid_tgid, get_current_pid_tgid, {RetType::kInteger, {}, false}, true},
    {BPF_FUNC_get_current_uid_gid, get_current_uid_gid, {RetType::kInteger, {}, false}, true},
    {BPF_FUNC_get_current_comm, get_current_comm, {RetType::kInteger, {A::kPtrToUninitMem, A::kConstSize}, false}},
    {BPF_FUNC_redirect, redirect, {RetType::kInteger, {A::kAnything, A::kAnything}, false}},
    {BPF_FUNC_skb_load_bytes, skb_load_bytes,
     {RetType::kInteger, {A::kPtrToCtx, A::kAnything, A::kPtrToUninitMem, A::kConstSize}, false}},
    {BPF_FUNC_csum_diff, csum_diff,
     {RetType::kInteger, {A::kPtrToMemOrNull, A::kConstSizeOrZero, A::kPtrToMemOrNull, A::kConstSizeOrZero, A::kAnything},
      false}},
    {BPF_FUNC_xdp_adjust_head, xdp_adjust_head, {RetType::kInteger, {A::kPtrToCtx, A::kAnything}, false}},
    {BPF_FUNC_probe_read_str, probe_read_str,
     {RetType::kInteger, {A::kPtrToUninitMem, A::kConstSizeOrZero, A::kAnything}, true}},
    {BPF_FUNC_xdp_adjust_meta, xdp_adjust_meta, {RetType::kInteger, {A::kPtrToCtx, A::kAnything}, false}},
    {BPF_FUNC_xdp_adjust_tail, xdp_adjust_tail, {RetType::kInteger, {A::kPtrToCtx, A::kAnything}, false}},
    {BPF_FUNC_get_numa_node_id, get_numa_node_id, {RetType::kInteger, {}, false}, true},
    {BPF_FUNC_strtol, strtol_helper, {RetType::kInteger, {A::kPtrToMem, A::kConstSize, A::kAnything, A::kPtrToLong}, false}},
    {BPF_FUNC_strtoul, strtoul_helper,
     {RetType::kInteger, {A::kPtrToMem, A::kConstSize, A::kAnything, A::kPtrToLong}, false}},
    {BPF_FUNC_probe_read_user, probe_read,
     {RetType::kInteger, {A::kPtrToUninitMem, A::kConstSizeOrZero, A::kAnything}, true}},
    {BPF_FUNC_probe_read_kernel, probe_read,
     {RetType::kInteger, {A::kPtrToUninitMem, A::kConstSizeOrZero, A::kAnything}, true}},
    {BPF_FUNC_probe_read_user_str, probe_read_str,
     {RetType::kInteger, {A::kPtrToUninitMem, A::kConstSizeOrZero, A::kAnything}, true}},
    {BPF_FUNC_probe_read_kernel_str, probe_read_str,
     {RetType::kInteger, {A::kPtrToUninitMem, A::kConstSizeOrZero, A::kAnything}, true}},
    {BPF_FUNC_ktime_get_boot_ns, ktime_get_boot_ns, {RetType::kInteger, {}, false}, true},
    {BPF_FUNC_jiffies64, jiffies64, {RetType::kInteger, {}, false}, true},
    {BPF_FUNC_snprintf, snprintf_helper,
     {RetType::kInteger,
      {A::kPtrToMemOrNull, A::kConstSizeOrZero, A::kPtrToConstStr, A::kPtrToMemOrNull, A::kConstSizeOrZero},
      false}},
    {BPF_FUNC_ktime_get_coarse_ns, ktime_get_coarse_ns, {RetType::kInteger, {}, false}, true},
    {BPF_FUNC_loop, loop, {RetType::kInteger, {A::kAnything, A::kPtrToFunc, A::kPtrToStackOrNull, A::kAnything}, false}},
    {BPF_FUNC_trace_vprintk, trace_vprintk,
     {RetType::kInteger, {A::kPtrToMem, A::kConstSize, A::kPtrToMemOrNull, A::kConstSizeOrZero}, true}},
};

}  // namespace

void add_linux_helpers(HelperTable& table) {
  for (const Row& row : kRows) {
    table.add(Helper{row.id, isa::kernel_helper_name(row.id).value_or("unknown"), row.fn, row.proto, row.context_free});
  }
}

const HelperTable& linux_helpers() {
  static const HelperTable table = [] {
    HelperTable t;
    add_linux_helpers(t);
    maps::add_map_helpers(t);
    add_tail_call_helper(t);
    return t;
  }();
  return table;
}

}  // namespace bpfvm
