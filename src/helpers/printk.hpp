// The format rules of bpf_trace_printk, bpf_trace_vprintk and bpf_snprintf (Linux's
// bpf_bprintf_prepare): which conversions are allowed and how arguments are printed.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "support/result.hpp"

namespace bpfvm {

// Copies `size` bytes at a program address into `out`; false when the program may not read them.
using MemoryReader = std::function<bool(uint64_t address, void* out, std::size_t size)>;

// Formats `format` (up to its first NUL) with `args`. Fails (the helper returns -EINVAL) for a
// non-printable byte, an unsupported conversion, or more conversions than arguments.
// Supported: %d %i %u %x %X with l/ll, %c, %s, %p %pK %px %ps %pS, %pI4 %pi4 %pI6 %pi6, %%,
// flags "0+- " and a width. Strings and %pI addresses are read through `read` ("(efault)"
// when unreadable, as Linux prints). Pointers print as hex (there are no kernel pointers to hash).
[[nodiscard]] Result<std::string> bprintf(std::string_view format, std::span<const uint64_t> args,
                                          const MemoryReader& read);

}  // namespace bpfvm
