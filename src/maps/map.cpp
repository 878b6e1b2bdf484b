#include "maps/map.hpp"

#include <linux/bpf.h>

#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>

#include "maps/families.hpp"
#include "maps/map_helpers.hpp"
#include "maps/map_in_map.hpp"
#include "support/cpu.hpp"

namespace bpfvm::maps {
namespace detail {
namespace {
thread_local const char* t_reason = nullptr;
std::atomic<uint32_t> g_next_id{1};
}  // namespace

long fail(int errnum, const char* reason) {
  t_reason = reason;
  return -errnum;
}

const char* take_reason() {
  const char* r = t_reason;
  t_reason = nullptr;
  return r;
}

AlignedBuffer::AlignedBuffer(std::size_t n) : bytes(n) {
  if (n == 0) return;
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  data_ = static_cast<uint8_t*>(p);
}

AlignedBuffer::~AlignedBuffer() {
  if (data_) munmap(data_, bytes);
}

uint32_t next_map_id() { return g_next_id.fetch_add(1, std::memory_order_relaxed); }

}  // namespace detail

using detail::fail;
using detail::map_error;

std::string map_type_name(uint32_t type) {
  switch (type) {
    case BPF_MAP_TYPE_HASH: return "hash";
    case BPF_MAP_TYPE_ARRAY: return "array";
    case BPF_MAP_TYPE_PROG_ARRAY: return "prog_array";
    case BPF_MAP_TYPE_PERF_EVENT_ARRAY: return "perf_event_array";
    case BPF_MAP_TYPE_PERCPU_HASH: return "percpu_hash";
    case BPF_MAP_TYPE_PERCPU_ARRAY: return "percpu_array";
    case BPF_MAP_TYPE_STACK_TRACE: return "stack_trace";
    case BPF_MAP_TYPE_CGROUP_ARRAY: return "cgroup_array";
    case BPF_MAP_TYPE_LRU_HASH: return "lru_hash";
    case BPF_MAP_TYPE_LRU_PERCPU_HASH: return "lru_percpu_hash";
    case BPF_MAP_TYPE_LPM_TRIE: return "lpm_trie";
    case BPF_MAP_TYPE_ARRAY_OF_MAPS: return "array_of_maps";
    case BPF_MAP_TYPE_HASH_OF_MAPS: return "hash_of_maps";
    case BPF_MAP_TYPE_DEVMAP: return "devmap";
    case BPF_MAP_TYPE_SOCKMAP: return "sockmap";
    case BPF_MAP_TYPE_CPUMAP: return "cpumap";
    case BPF_MAP_TYPE_XSKMAP: return "xskmap";
    case BPF_MAP_TYPE_SOCKHASH: return "sockhash";
    case BPF_MAP_TYPE_QUEUE: return "queue";
    case BPF_MAP_TYPE_STACK: return "stack";
    case BPF_MAP_TYPE_RINGBUF: return "ringbuf";
    case BPF_MAP_TYPE_BLOOM_FILTER: return "bloom_filter";
    default: return "type " + std::to_string(type);
  }
}

namespace {

// Checks every map type shares (map_create() in kernel/bpf/syscall.c).
Status check_common(const MapDef& def) {
  if (def.name.size() >= BPF_OBJ_NAME_LEN)
    return map_error(EINVAL, fmt::format("map name '{}' is longer than {} characters", def.name, BPF_OBJ_NAME_LEN - 1));
  for (char c : def.name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!ok) return map_error(EINVAL, fmt::format("map name '{}' has a character other than [A-Za-z0-9_.]", def.name));
  }
  if (def.type != BPF_MAP_TYPE_BLOOM_FILTER && def.map_extra != 0)
    return map_error(EINVAL, fmt::format("map_extra must be 0 for a {} map", map_type_name(def.type)));
  if ((def.map_flags & BPF_F_RDONLY) && (def.map_flags & BPF_F_WRONLY))
    return map_error(EINVAL, "BPF_F_RDONLY and BPF_F_WRONLY are exclusive");
  if ((def.map_flags & BPF_F_RDONLY_PROG) && (def.map_flags & BPF_F_WRONLY_PROG))
    return map_error(EINVAL, "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG are exclusive");
  if (def.spin_lock_off >= 0 && (static_cast<uint64_t>(def.spin_lock_off) + 4 > def.value_size || def.spin_lock_off % 4))
    return map_error(EINVAL, fmt::format("bpf_spin_lock at offset {} does not fit the {}-byte value", def.spin_lock_off,
                                         def.value_size));
  return ok_status();
}

}  // namespace

namespace {
Result<MapPtr> create_family(const MapDef& def) {
  switch (def.type) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY: return detail::make_array(def);
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH: return detail::make_hash(def);
    case BPF_MAP_TYPE_PROG_ARRAY: return detail::make_prog_array(def);
    case BPF_MAP_TYPE_PERF_EVENT_ARRAY: return detail::make_perf_event_array(def);
    case BPF_MAP_TYPE_RINGBUF: return detail::make_ringbuf(def);
    case BPF_MAP_TYPE_QUEUE:
    case BPF_MAP_TYPE_STACK: return detail::make_queue_stack(def);
    case BPF_MAP_TYPE_LPM_TRIE: return detail::make_lpm_trie(def);
    case BPF_MAP_TYPE_ARRAY_OF_MAPS:
    case BPF_MAP_TYPE_HASH_OF_MAPS: return detail::make_map_in_map(def);
    case BPF_MAP_TYPE_BLOOM_FILTER: return detail::make_bloom_filter(def);
    default:
      return map_error(EINVAL, fmt::format("map type {} ({}) is not supported", def.type, map_type_name(def.type)));
  }
}
}  // namespace

namespace {
struct LiveMaps {
  std::mutex mutex;
  std::unordered_map<uint32_t, std::weak_ptr<Map>> by_id;
  std::unordered_map<const Map*, uint32_t> by_address;
  // Bumped (under the mutex) whenever a map comes or goes: what a thread found live stays
  // live until it changes.
  std::atomic<uint64_t> generation{1};
};
LiveMaps& live_maps() {
  static LiveMaps* l = new LiveMaps();  // maps may outlive static destruction
  return *l;
}
}  // namespace

MapPtr find_map(uint32_t id) {
  std::lock_guard lock(live_maps().mutex);
  auto it = live_maps().by_id.find(id);
  return it == live_maps().by_id.end() ? nullptr : it->second.lock();
}

Map* live_map(uint64_t address) {
  // Unverified programs pass a map to every map helper call: the last map this thread found
  // live is remembered, so a loop of lookups takes the lock once, not every time.
  thread_local uint64_t cached_address = 0;
  thread_local uint64_t cached_generation = 0;  // 0: nothing remembered
  LiveMaps& live = live_maps();
  if (address == cached_address && cached_generation == live.generation.load(std::memory_order_acquire)) {
    return reinterpret_cast<Map*>(address);
  }
  std::lock_guard lock(live.mutex);
  auto it = live.by_address.find(reinterpret_cast<const Map*>(address));
  if (it == live.by_address.end()) return nullptr;
  cached_address = address;
  cached_generation = live.generation.load(std::memory_order_relaxed);
  return const_cast<Map*>(it->first);
}

Map::~Map() {
  std::lock_guard lock(live_maps().mutex);
  live_maps().by_id.erase(id_);
  live_maps().by_address.erase(this);
  live_maps().generation.fetch_add(1, std::memory_order_release);
}

Result<MapPtr> create_map(const MapDef& def) {
  if (auto s = check_common(def); !s) return s.error();
  try {
    auto m = create_family(def);
    if (m) {
      std::lock_guard lock(live_maps().mutex);
      live_maps().by_id[(*m)->id()] = *m;
      live_maps().by_address[m->get()] = (*m)->id();
      live_maps().generation.fetch_add(1, std::memory_order_release);
    }
    return m;
  } catch (const std::bad_alloc&) {
    return map_error(ENOMEM, fmt::format("not enough memory for {} map '{}'", map_type_name(def.type), def.name));
  }
}

Map::Map(const MapDef& def) : def_(def), id_(detail::next_map_id()), ncpus_(is_percpu() ? cpu::possible() : 1) {}

bool Map::is_percpu() const {
  return def_.type == BPF_MAP_TYPE_PERCPU_ARRAY || def_.type == BPF_MAP_TYPE_PERCPU_HASH ||
         def_.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

uint32_t Map::user_value_size() const { return is_percpu() ? round_up8(def_.value_size) * ncpus_ : def_.value_size; }

// The program face's defaults: what the kernel answers for an op a map type lacks.
void* Map::lookup_elem(const void*) { return nullptr; }
DirectLookup Map::direct_lookup() const {
  return [](void* map, const void* key) { return static_cast<Map*>(map)->lookup_elem(key); };
}
long Map::update_elem(const void*, const void*, uint64_t) { return fail(EINVAL, "not supported by this map type"); }
long Map::delete_elem(const void*) { return fail(EINVAL, "not supported by this map type"); }
long Map::push_elem(const void*, uint64_t) { return fail(EINVAL, "push is only for queue, stack and bloom filter maps"); }
long Map::pop_elem(void*) { return fail(EINVAL, "pop is only for queue and stack maps"); }
long Map::peek_elem(void*) { return fail(EINVAL, "peek is only for queue, stack and bloom filter maps"); }

long Map::sys_lookup(const void*, void*, uint64_t) const { return fail(EINVAL, "not supported by this map type"); }
long Map::sys_update(const void*, const void*, uint64_t) { return fail(EINVAL, "not supported by this map type"); }
long Map::sys_delete(const void*) { return fail(EINVAL, "not supported by this map type"); }
long Map::sys_get_next_key(const void*, void*) const { return fail(EINVAL, "not supported by this map type"); }
long Map::sys_lookup_and_delete(const void*, void*, uint64_t) {
  // The kernel answers ENOTSUPP (524, an errno of its own that reaches user space as is).
  return fail(detail::kEnotsupp, "lookup_and_delete is only for queue, stack and hash maps (ENOTSUPP)");
}

void Map::copy_value_in(void* dst, const void* src) const {
  if (!has_spin_lock()) {
    std::memcpy(dst, src, def_.value_size);
    return;
  }
  const auto off = static_cast<uint32_t>(def_.spin_lock_off);
  auto* d = static_cast<uint8_t*>(dst);
  const auto* s = static_cast<const uint8_t*>(src);
  std::memcpy(d, s, off);
  std::memcpy(d + off + 4, s + off + 4, def_.value_size - off - 4);
}

void Map::copy_value_out(void* dst, const void* src) const {
  std::memcpy(dst, src, def_.value_size);
  if (has_spin_lock()) std::memset(static_cast<uint8_t*>(dst) + def_.spin_lock_off, 0, 4);
}

Error Map::error(const char* op, long err, uint64_t flags) const {
  const int e = static_cast<int>(-err);
  std::string why;
  if (const char* r = detail::take_reason()) {
    why = r;
  } else {
    switch (e) {
      case ENOENT: why = "no such element"; break;
      case EEXIST: why = "element exists (BPF_NOEXIST)"; break;
      case E2BIG: why = fmt::format("map is full (max_entries {})", def_.max_entries); break;
      case EINVAL: why = fmt::format("invalid argument (flags {:#x})", flags); break;
      case EPERM: why = "operation not permitted"; break;
      default: why = std::strerror(e); break;
    }
  }
  return map_error(e, fmt::format("map '{}' ({}): {}: {}", def_.name, map_type_name(def_.type), op, why));
}

namespace {
Error size_error(const Map& m, const char* op, const char* what, std::size_t got, std::size_t want) {
  return map_error(EINVAL, fmt::format("map '{}' ({}): {}: {} is {} bytes, the map's is {}", m.name(),
                                       map_type_name(m.type()), op, what, got, want));
}
}  // namespace

Result<std::vector<uint8_t>> Map::lookup(std::span<const uint8_t> key, uint64_t flags) const {
  if (key.size() != def_.key_size) return size_error(*this, "lookup", "key", key.size(), def_.key_size);
  if (def_.map_flags & BPF_F_WRONLY) return error("lookup", fail(EPERM, "map is write-only (BPF_F_WRONLY)"), flags);
  if (flags & ~uint64_t{BPF_F_LOCK}) return error("lookup", fail(EINVAL, "only BPF_F_LOCK is allowed"), flags);
  if ((flags & BPF_F_LOCK) && !has_spin_lock())
    return error("lookup", fail(EINVAL, "BPF_F_LOCK needs a bpf_spin_lock in the value"), flags);
  std::vector<uint8_t> value(user_value_size());
  if (long r = sys_lookup(key.empty() ? nullptr : key.data(), value.data(), flags); r < 0)
    return error("lookup", r, flags);
  return value;
}

Status Map::update(std::span<const uint8_t> key, std::span<const uint8_t> value, uint64_t flags) {
  if (key.size() != def_.key_size) return size_error(*this, "update", "key", key.size(), def_.key_size);
  if (value.size() != user_value_size()) return size_error(*this, "update", "value", value.size(), user_value_size());
  if (def_.map_flags & BPF_F_RDONLY) return error("update", fail(EPERM, "map is read-only (BPF_F_RDONLY)"), flags);
  if (frozen_) return error("update", fail(EPERM, "map is frozen"), flags);
  if ((flags & BPF_F_LOCK) && !has_spin_lock())
    return error("update", fail(EINVAL, "BPF_F_LOCK needs a bpf_spin_lock in the value"), flags);
  if (long r = sys_update(key.empty() ? nullptr : key.data(), value.data(), flags); r < 0)
    return error("update", r, flags);
  return ok_status();
}

Status Map::erase(std::span<const uint8_t> key) {
  if (key.size() != def_.key_size) return size_error(*this, "delete", "key", key.size(), def_.key_size);
  if (def_.map_flags & BPF_F_RDONLY) return error("delete", fail(EPERM, "map is read-only (BPF_F_RDONLY)"), 0);
  if (frozen_) return error("delete", fail(EPERM, "map is frozen"), 0);
  if (long r = sys_delete(key.data()); r < 0) return error("delete", r, 0);
  return ok_status();
}

Result<std::vector<uint8_t>> Map::get_next_key(std::span<const uint8_t> key) const {
  if (!key.empty() && key.size() != def_.key_size)
    return size_error(*this, "get_next_key", "key", key.size(), def_.key_size);
  if (def_.map_flags & BPF_F_WRONLY) return error("get_next_key", fail(EPERM, "map is write-only (BPF_F_WRONLY)"), 0);
  std::vector<uint8_t> next(def_.key_size);
  if (long r = sys_get_next_key(key.empty() ? nullptr : key.data(), next.data()); r < 0) {
    return error("get_next_key", r, 0);
  }
  return next;
}

Result<std::vector<uint8_t>> Map::lookup_and_delete(std::span<const uint8_t> key, uint64_t flags) {
  if (key.size() != def_.key_size) return size_error(*this, "lookup_and_delete", "key", key.size(), def_.key_size);
  if (def_.map_flags & (BPF_F_RDONLY | BPF_F_WRONLY))
    return error("lookup_and_delete", fail(EPERM, "map needs both read and write access"), flags);
  if (frozen_) return error("lookup_and_delete", fail(EPERM, "map is frozen"), flags);
  std::vector<uint8_t> value(user_value_size());
  if (long r = sys_lookup_and_delete(key.empty() ? nullptr : key.data(), value.data(), flags); r < 0)
    return error("lookup_and_delete", r, flags);
  return value;
}

Status Map::contains(std::span<const uint8_t> value) const {
  if (value.size() != def_.value_size) return size_error(*this, "lookup", "value", value.size(), def_.value_size);
  if (def_.map_flags & BPF_F_WRONLY) return error("lookup", fail(EPERM, "map is write-only (BPF_F_WRONLY)"), 0);
  std::vector<uint8_t> copy(value.begin(), value.end());
  if (long r = sys_lookup(nullptr, copy.data(), 0); r < 0) return error("lookup", r, 0);
  return ok_status();
}

Status Map::for_each(const std::function<bool(std::span<const uint8_t>, std::span<const uint8_t>)>& fn) const {
  std::vector<uint8_t> key;
  for (;;) {
    auto next = get_next_key(key);
    if (!next) {
      if (next.error().errnum == ENOENT) return ok_status();
      return next.error();
    }
    key = std::move(*next);
    auto value = lookup(key);
    if (!value) {
      if (value.error().errnum == ENOENT) continue;  // deleted since get_next_key
      return value.error();
    }
    if (!fn(key, *value)) return ok_status();
  }
}

Result<std::vector<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>>> Map::dump(std::size_t max) const {
  std::vector<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>> out;
  auto s = for_each([&](std::span<const uint8_t> k, std::span<const uint8_t> v) {
    if (out.size() >= max) return false;
    out.emplace_back(std::vector<uint8_t>(k.begin(), k.end()), std::vector<uint8_t>(v.begin(), v.end()));
    return out.size() < max;
  });
  if (!s) return s.error();
  return out;
}

Status Map::freeze() {
  // Freezing needs write access, which a frozen or BPF_F_RDONLY map no longer gives: EPERM
  // (the kernel's EBUSY, for writable mmaps, cannot happen here).
  if (def_.map_flags & BPF_F_RDONLY) return error("freeze", fail(EPERM, "map is read-only (BPF_F_RDONLY)"), 0);
  if (frozen_.exchange(true)) return error("freeze", fail(EPERM, "map is already frozen"), 0);
  return ok_status();
}

void spin_lock(void* lock) {
  std::atomic_ref<uint32_t> word(*static_cast<uint32_t*>(lock));
  for (;;) {
    uint32_t expected = 0;
    if (word.compare_exchange_weak(expected, 1, std::memory_order_acquire)) return;
    while (word.load(std::memory_order_relaxed) != 0) {
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    }
  }
}

void spin_unlock(void* lock) { std::atomic_ref<uint32_t>(*static_cast<uint32_t*>(lock)).store(0, std::memory_order_release); }

}  // namespace bpfvm::maps
