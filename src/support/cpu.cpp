#include "support/cpu.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace bpfvm::cpu {
namespace {

// The kernel's possible CPUs (what libbpf sizes per-CPU values by), else the online count.
unsigned host_cpus() {
  if (FILE* f = std::fopen("/sys/devices/system/cpu/possible", "r")) {
    char buf[256] = {};
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    unsigned count = 0;
    for (char* p = buf; p < buf + n && *p >= '0' && *p <= '9';) {  // "0-3,8-11"
      char* end = nullptr;
      const unsigned long first = std::strtoul(p, &end, 10);
      unsigned long last = first;
      if (*end == '-') last = std::strtoul(end + 1, &end, 10);
      if (last >= first) count += static_cast<unsigned>(last - first + 1);
      if (*end != ',') break;
      p = end + 1;
    }
    if (count > 0) return count;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

std::atomic<unsigned> g_possible{0};  // 0: not yet decided

// Leased slots: which ids are in use by a live thread, and a cursor for sharing when all are.
struct Leases {
  std::mutex mutex;
  std::vector<unsigned> users;  // threads holding each id
  unsigned next_shared = 0;

  unsigned acquire(unsigned n) {
    std::lock_guard lock(mutex);
    if (users.size() < n) users.resize(n, 0);
    for (unsigned id = 0; id < n; ++id) {
      if (users[id] == 0) {
        users[id] = 1;
        return id;
      }
    }
    const unsigned id = next_shared++ % n;
    ++users[id];
    return id;
  }
  void release(unsigned id) {
    std::lock_guard lock(mutex);
    if (id < users.size() && users[id] > 0) --users[id];
  }
};

Leases& leases() {
  static Leases* l = new Leases();  // never destroyed: threads may exit during static destruction
  return *l;
}

struct ThreadSlot {
  int leased = -1;
  int pinned = -1;
  ~ThreadSlot() {
    if (leased >= 0) leases().release(static_cast<unsigned>(leased));
  }
};

thread_local ThreadSlot t_slot;

}  // namespace

unsigned possible() {
  unsigned n = g_possible.load(std::memory_order_relaxed);
  if (n == 0) {
    unsigned expected = 0;
    g_possible.compare_exchange_strong(expected, host_cpus());
    n = g_possible.load(std::memory_order_relaxed);
  }
  return n;
}

void set_possible(unsigned n) { g_possible.store(std::max(1u, n), std::memory_order_relaxed); }

unsigned current() {
  const unsigned n = possible();
  if (t_slot.pinned >= 0) return static_cast<unsigned>(t_slot.pinned) % n;
  if (t_slot.leased < 0) t_slot.leased = static_cast<int>(leases().acquire(n));
  return static_cast<unsigned>(t_slot.leased) % n;
}

ScopedCpu::ScopedCpu(unsigned id) : previous_(t_slot.pinned) { t_slot.pinned = static_cast<int>(id); }
ScopedCpu::~ScopedCpu() { t_slot.pinned = previous_; }

}  // namespace bpfvm::cpu
