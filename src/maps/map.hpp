// BPF maps with the kernel's semantics (kernel/bpf/*map*.c): one Map base, one family per file,
// one factory (create_map) that validates a MapDef the way the kernel's map_alloc_check
// functions do and answers with the kernel's errno.
//
// A map has two faces:
//  - the program face, used by helpers: lookup_elem() returns a pointer into map memory (or
//    nullptr), update/delete/push/pop/peek take pointers and return 0 or a negative errno, as
//    the kernel's helpers do. Values live in memory allocated when the map is created and never
//    moved or freed before the map is, so a pointer a running program holds never dangles
//    (like the kernel's preallocated elements, a deleted element's memory may be reused).
//    value_regions() lists that memory for the interpreter's access checks.
//  - the user-space face, used by the CLI and embedders (bpftool map lookup/update/delete/
//    dump): copy-in/copy-out operations that return Result/Status; errors carry the kernel's
//    errno (Error::errnum) and say what was wrong.
//
// Every operation is safe to call from many threads at once. Per-CPU maps pick the slot of
// cpu::current() on the program face; on the user-space face their values are all slots one
// after the other, each rounded up to 8 bytes (as the bpf() syscall lays them out).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "exec/interpreter.hpp"  // MemoryRegion
#include "support/result.hpp"

namespace bpfvm::maps {

struct MapDef {
  uint32_t type = 0;         // BPF_MAP_TYPE_*
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t map_flags = 0;    // BPF_F_*
  uint64_t map_extra = 0;    // bloom filter: number of hash functions in the low 4 bits
  std::shared_ptr<const MapDef> inner;  // ARRAY_OF_MAPS / HASH_OF_MAPS: the template inner map
  std::string name;          // up to BPF_OBJ_NAME_LEN - 1 (15) characters, [A-Za-z0-9_.]
  // Offset of a struct bpf_spin_lock in the value (from BTF), or -1 when there is none.
  // Needed for BPF_F_LOCK; the lock's 4 bytes are never copied to or from user space.
  int32_t spin_lock_off = -1;
};

class Map;
using MapPtr = std::shared_ptr<Map>;

// Creates a map, or fails with the kernel's errno (EINVAL, E2BIG, ...) and what is wrong.
// Ids are unique in the process and start at 1.
[[nodiscard]] Result<MapPtr> create_map(const MapDef& def);

// Names for messages: "hash", "array", ... (as bpftool prints them); "type 99" when unknown.
[[nodiscard]] std::string map_type_name(uint32_t type);

class Map {
 public:
  virtual ~Map();
  Map(const Map&) = delete;
  Map& operator=(const Map&) = delete;

  [[nodiscard]] uint32_t type() const { return def_.type; }
  [[nodiscard]] uint32_t key_size() const { return def_.key_size; }
  [[nodiscard]] uint32_t value_size() const { return def_.value_size; }
  [[nodiscard]] uint32_t max_entries() const { return def_.max_entries; }
  [[nodiscard]] uint32_t map_flags() const { return def_.map_flags; }
  [[nodiscard]] const std::string& name() const { return def_.name; }
  [[nodiscard]] uint32_t id() const { return id_; }
  [[nodiscard]] const MapDef& def() const { return def_; }
  [[nodiscard]] bool is_percpu() const;
  // Size of a value on the user-space face: value_size, or for per-CPU maps
  // round_up(value_size, 8) * number of CPUs the map was created for.
  [[nodiscard]] uint32_t user_value_size() const;
  [[nodiscard]] unsigned ncpus() const { return ncpus_; }

  // ---- program face (helpers). Keys and values are key_size / value_size bytes. ----
  virtual void* lookup_elem(const void* key);
  virtual long update_elem(const void* key, const void* value, uint64_t flags);
  virtual long delete_elem(const void* key);
  virtual long push_elem(const void* value, uint64_t flags);
  virtual long pop_elem(void* value);
  virtual long peek_elem(void* value);

  // Memory holding values a program may reach through lookup_elem (or a ringbuf reservation).
  [[nodiscard]] virtual std::vector<MemoryRegion> value_regions() const { return {}; }

  // A plain ARRAY map's layout, for code that computes lookup_elem inline (the JIT, as the
  // kernel's array_map_gen_lookup): key k < max_entries is at data + k * stride, any other
  // key has no element. Other maps: none.
  struct DirectArray {
    uint8_t* data = nullptr;
    uint32_t stride = 0;
    uint32_t max_entries = 0;
  };
  [[nodiscard]] virtual std::optional<DirectArray> direct_array() { return std::nullopt; }
  // A HASH map's layout (not per-CPU, not LRU, 4- or 8-byte keys), for code that looks up
  // the first element of a key's bucket inline and calls direct_lookup() for the rest. The key
  // k (zero-extended to 64 bits) hashes to bucket (k * multiplier) >> shift (shift 64: bucket
  // 0). Bucket b is 8 bytes at buckets + 8b: the u32 index of its first element (UINT32_MAX:
  // none), then a u32 change count, odd while a writer changes the chain. Element e's key is
  // at keys + 8e, its value at values + e * value_stride. A reader takes the count (even),
  // then the first element and its key, and trusts them if the count has not moved.
  struct DirectHash {
    const uint8_t* buckets = nullptr;
    uint64_t multiplier = 0;
    uint32_t shift = 0;
    uint32_t key_size = 0;
    const uint8_t* keys = nullptr;
    uint8_t* values = nullptr;
    uint32_t value_stride = 0;
  };
  [[nodiscard]] virtual std::optional<DirectHash> direct_hash() const { return std::nullopt; }
  // lookup_elem as a plain function of the map (this Map*, as a void*) and the key, for
  // verified code to call directly (MapLookup::call). Maps with a faster path than the virtual
  // call give their own.
  [[nodiscard]] virtual DirectLookup direct_lookup() const;

  // ---- user-space face (bpf() syscall commands). ----
  // flags: 0 or BPF_F_LOCK.
  [[nodiscard]] Result<std::vector<uint8_t>> lookup(std::span<const uint8_t> key, uint64_t flags = 0) const;
  [[nodiscard]] Status update(std::span<const uint8_t> key, std::span<const uint8_t> value, uint64_t flags = 0);
  [[nodiscard]] Status erase(std::span<const uint8_t> key);  // BPF_MAP_DELETE_ELEM
  // The key after `key`, or the first key when `key` is empty (or, as the kernel does, not in
  // the map); ENOENT after the last.
  [[nodiscard]] Result<std::vector<uint8_t>> get_next_key(std::span<const uint8_t> key) const;
  // Queue/stack: pop (key empty); hash maps: lookup then delete.
  [[nodiscard]] Result<std::vector<uint8_t>> lookup_and_delete(std::span<const uint8_t> key, uint64_t flags = 0);
  // Bloom filter membership (BPF_MAP_LOOKUP_ELEM with the value as input): ok when the value
  // may be in the filter, ENOENT when it is not.
  [[nodiscard]] Status contains(std::span<const uint8_t> value) const;
  // Every (key, value) in get_next_key order, at most `max` of them (bpftool map dump).
  [[nodiscard]] Result<std::vector<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>>> dump(
      std::size_t max = SIZE_MAX) const;
  // Calls fn(key, value) for each element in get_next_key order until it returns false.
  // Values are as lookup() returns them. Elements added or deleted meanwhile may or may not be
  // seen; none is seen twice unless re-added.
  Status for_each(const std::function<bool(std::span<const uint8_t>, std::span<const uint8_t>)>& fn) const;
  // BPF_MAP_FREEZE: user space can no longer write (EPERM); programs still can. EPERM when
  // already frozen or BPF_F_RDONLY.
  Status freeze();
  [[nodiscard]] bool frozen() const { return frozen_; }

 protected:
  explicit Map(const MapDef& def);

  // Family implementations of the user-space face: 0 or -errno. The base checks sizes,
  // access flags and freezing first.
  virtual long sys_lookup(const void* key, void* value, uint64_t flags) const;
  virtual long sys_update(const void* key, const void* value, uint64_t flags);
  virtual long sys_delete(const void* key);
  virtual long sys_get_next_key(const void* key, void* next) const;  // key may be nullptr
  virtual long sys_lookup_and_delete(const void* key, void* value, uint64_t flags);

  // Copies of a value that leave a bpf_spin_lock alone (copy_in) or zero it (copy_out).
  void copy_value_in(void* dst, const void* src) const;
  void copy_value_out(void* dst, const void* src) const;
  [[nodiscard]] bool has_spin_lock() const { return def_.spin_lock_off >= 0; }

  MapDef def_;
  uint32_t id_ = 0;
  unsigned ncpus_ = 1;
  std::atomic<bool> frozen_{false};

 private:
  Error error(const char* op, long err, uint64_t flags) const;
};

// bpf_spin_lock / bpf_spin_unlock on a 4-byte lock word inside a map value (shared with helpers).
void spin_lock(void* lock);
void spin_unlock(void* lock);

inline uint32_t round_up8(uint32_t n) { return (n + 7u) & ~7u; }

}  // namespace bpfvm::maps
