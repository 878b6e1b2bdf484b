// Memory below 4 GiB. Linux's context structs (xdp_md, __sk_buff) expose packet pointers as
// 32-bit fields that programs read with 32-bit loads; the kernel rewrites those loads into
// loads of its real 64-bit pointers. bpfvm keeps programs unmodified instead: packets live in
// the low 4 GiB of the address space, so a pointer fits a u32 field and zero-extends back.
#pragma once

#include <cstddef>
#include <cstdint>

#include "support/result.hpp"

namespace bpfvm {

class LowMemory {
 public:
  // Zero-filled, readable and writable, page-aligned, wholly below 4 GiB.
  [[nodiscard]] static Result<LowMemory> allocate(std::size_t size);

  LowMemory(LowMemory&& other) noexcept;
  LowMemory& operator=(LowMemory&& other) noexcept;
  LowMemory(const LowMemory&) = delete;
  LowMemory& operator=(const LowMemory&) = delete;
  ~LowMemory();

  [[nodiscard]] uint8_t* data() const { return data_; }
  [[nodiscard]] std::size_t size() const { return size_; }
  // The 32-bit value a context field holds for p (p must lie in this block).
  [[nodiscard]] static uint32_t address32(const void* p) { return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p)); }

 private:
  LowMemory(uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace bpfvm
