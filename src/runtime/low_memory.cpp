#include "runtime/low_memory.hpp"

#include <fmt/format.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace bpfvm {
namespace {

// Test runs take a block per run and give it back after. Mapping fresh pages and faulting
// them in cost more than running the program (the XDP benchmark measured it), so each thread
// keeps a few returned blocks and hands them out again, zeroed as allocate() promises.
struct BlockCache {
  static constexpr std::size_t kMaxBlocks = 4;
  std::vector<std::pair<uint8_t*, std::size_t>> blocks;
  ~BlockCache();
};
thread_local bool cache_gone = false;  // blocks freed while the thread exits bypass the cache
thread_local BlockCache cache;

BlockCache::~BlockCache() {
  cache_gone = true;
  for (const auto& [p, n] : blocks) munmap(p, n);
}

uint8_t* reuse(std::size_t size) {
  if (cache_gone) return nullptr;
  for (auto it = cache.blocks.begin(); it != cache.blocks.end(); ++it) {
    if (it->second != size) continue;
    uint8_t* p = it->first;
    cache.blocks.erase(it);
    std::memset(p, 0, size);
    return p;
  }
  return nullptr;
}

void release(uint8_t* p, std::size_t size) {
  if (!cache_gone && cache.blocks.size() < BlockCache::kMaxBlocks) {
    cache.blocks.emplace_back(p, size);
    return;
  }
  munmap(p, size);
}

}  // namespace

Result<LowMemory> LowMemory::allocate(std::size_t size) {
  if (size == 0) size = 1;
  if (uint8_t* p = reuse(size)) return LowMemory(p, size);
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
    if (data_) release(data_, size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

LowMemory::~LowMemory() {
  if (data_) release(data_, size_);
}

}  // namespace bpfvm
