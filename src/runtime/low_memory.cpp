#include "runtime/low_memory.hpp"

#include <fmt/format.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace bpfvm {

Result<LowMemory> LowMemory::allocate(std::size_t size) {
  if (size == 0) size = 1;
  // MAP_32BIT places the mapping in the first 2 GiB (x86-64).
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (p == MAP_FAILED) {
    return Error{ErrorKind::kRuntime, fmt::format("cannot map {} bytes below 4 GiB: {}", size, std::strerror(errno)),
                 std::nullopt, std::nullopt};
  }
  const auto end = reinterpret_cast<uintptr_t>(p) + size;
  if (end > (uintptr_t{1} << 32)) {
    munmap(p, size);
    return Error{ErrorKind::kRuntime, "the kernel placed a MAP_32BIT mapping above 4 GiB", std::nullopt, std::nullopt};
  }
  return LowMemory(static_cast<uint8_t*>(p), size);
}

LowMemory::LowMemory(LowMemory&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

LowMemory& LowMemory::operator=(LowMemory&& other) noexcept {
  if (this != &other) {
    if (data_) munmap(data_, size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

LowMemory::~LowMemory() {
  if (data_) munmap(data_, size_);
}

}  // namespace bpfvm
