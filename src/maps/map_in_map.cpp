// Values are maps. Inner maps replaced or deleted while a program may still hold the Map*
// its lookup returned are kept alive until the outer map goes (the kernel waits for an RCU
// grace period instead); churn on a map-in-map therefore costs memory until then.
#include "maps/map_in_map.hpp"

#include <cstring>
#include <map>
#include <mutex>

#include "maps/families.hpp"

namespace bpfvm::maps::detail {
namespace {

class MapInMapImpl final : public MapInMap {
 public:
  explicit MapInMapImpl(const MapDef& def) : MapInMap(def), array_(def.type == BPF_MAP_TYPE_ARRAY_OF_MAPS) {
    resolver_ = [](uint32_t id) { return find_map(id); };
  }

  void set_resolver(Resolver resolver) override {
    std::lock_guard lock(lock_);
    resolver_ = std::move(resolver);
  }

  Status set(std::span<const uint8_t> key, MapPtr inner, uint64_t flags) override {
    if (key.size() != def_.key_size)
      return map_error(EINVAL, fmt::format("map '{}': key is {} bytes, the map's is {}", def_.name, key.size(), def_.key_size));
    if (long r = store(key.data(), std::move(inner), flags); r < 0) {
      const char* why = take_reason();
      return map_error(static_cast<int>(-r), fmt::format("map '{}' ({}): set: {}", def_.name, map_type_name(def_.type),
                                                         why ? why : std::strerror(static_cast<int>(-r))));
    }
    return ok_status();
  }

  MapPtr get(std::span<const uint8_t> key) const override {
    if (key.size() != def_.key_size) return nullptr;
    std::lock_guard lock(lock_);
    auto it = slots_.find(std::vector<uint8_t>(key.begin(), key.end()));
    return it == slots_.end() ? nullptr : it->second;
  }

  void* lookup_elem(const void* key) override {
    const auto* k = static_cast<const uint8_t*>(key);
    std::lock_guard lock(lock_);
    auto it = slots_.find(std::vector<uint8_t>(k, k + def_.key_size));
    return it == slots_.end() ? nullptr : it->second.get();
  }
  long update_elem(const void*, const void*, uint64_t) override { return fail(EINVAL, "programs cannot update a map-in-map"); }
  long delete_elem(const void* key) override { return sys_delete(key); }

 protected:
  long sys_lookup(const void* key, void* value, uint64_t flags) const override {
    if (flags) return fail(EINVAL, "no lookup flags for a map-in-map");
    if (array_ && load_u32(key) >= def_.max_entries) return fail(ENOENT, "index out of range");
    const auto* k = static_cast<const uint8_t*>(key);
    std::lock_guard lock(lock_);
    auto it = slots_.find(std::vector<uint8_t>(k, k + def_.key_size));
    if (it == slots_.end()) return fail(ENOENT, "no such key");
    const uint32_t id = it->second->id();  // user space sees the inner map's id
    std::memcpy(value, &id, 4);
    return 0;
  }

  long sys_update(const void* key, const void* value, uint64_t flags) override {
    Resolver resolver;
    {
      std::lock_guard lock(lock_);
      resolver = resolver_;
    }
    if (long r = check_update(key, flags); r < 0) return r;
    MapPtr inner = resolver ? resolver(load_u32(value)) : nullptr;
    if (!inner) return fail(EBADF, "no such map");
    return store(key, std::move(inner), flags);
  }

  long sys_delete(const void* key) override {
    if (array_ && load_u32(key) >= def_.max_entries) return fail(E2BIG, "index out of range");
    const auto* k = static_cast<const uint8_t*>(key);
    std::lock_guard lock(lock_);
    auto it = slots_.find(std::vector<uint8_t>(k, k + def_.key_size));
    if (it == slots_.end()) return fail(ENOENT, "no such key");
    retired_.push_back(std::move(it->second));
    slots_.erase(it);
    return 0;
  }

  long sys_get_next_key(const void* key, void* next) const override {
    if (array_) return array_get_next_key(def_.max_entries, key, next);
    std::lock_guard lock(lock_);
    auto it = slots_.begin();
    if (key) {
      const auto* k = static_cast<const uint8_t*>(key);
      auto found = slots_.find(std::vector<uint8_t>(k, k + def_.key_size));
      if (found != slots_.end()) it = std::next(found);  // not found: the first key, as for hash maps
    }
    if (it == slots_.end()) return fail(ENOENT, "no more keys");
    std::memcpy(next, it->first.data(), def_.key_size);
    return 0;
  }

 private:
  long check_update(const void* key, uint64_t flags) const {
    if (array_) {
      if (flags != BPF_ANY) return fail(EINVAL, "array_of_maps updates take BPF_ANY only");
      if (load_u32(key) >= def_.max_entries) return fail(E2BIG, "index out of range");
    } else if (flags > BPF_EXIST) {
      return fail(EINVAL, "invalid update flags");
    }
    return 0;
  }

  // bpf_map_meta_equal: the inner map must look like the template.
  long compatible(const Map& inner) const {
    const MapDef& t = *def_.inner;
    if (inner.type() != t.type || inner.key_size() != t.key_size || inner.value_size() != t.value_size ||
        (inner.map_flags() & ~uint32_t{BPF_F_INNER_MAP}) != (t.map_flags & ~uint32_t{BPF_F_INNER_MAP}))
      return fail(EINVAL, "inner map's type, key_size, value_size or flags differ from the template");
    if (!(t.map_flags & BPF_F_INNER_MAP) && inner.max_entries() != t.max_entries)
      return fail(EINVAL, "inner map's max_entries differs from the template (and it has no BPF_F_INNER_MAP)");
    return 0;
  }

  long store(const void* key, MapPtr inner, uint64_t flags) {
    if (long r = check_update(key, flags); r < 0) return r;
    if (!inner) return fail(EBADF, "no such map");
    if (long r = compatible(*inner); r < 0) return r;
    const auto* k = static_cast<const uint8_t*>(key);
    std::vector<uint8_t> kv(k, k + def_.key_size);
    std::lock_guard lock(lock_);
    auto it = slots_.find(kv);
    if (it != slots_.end() && flags == BPF_NOEXIST) return fail(EEXIST, "key exists (BPF_NOEXIST)");
    if (it == slots_.end() && flags == BPF_EXIST) return fail(ENOENT, "no such key (BPF_EXIST)");
    if (it == slots_.end()) {
      if (!array_ && slots_.size() >= def_.max_entries) return fail(E2BIG, "map is full");
      slots_.emplace(std::move(kv), std::move(inner));
    } else {
      retired_.push_back(std::exchange(it->second, std::move(inner)));
    }
    return 0;
  }

  const bool array_;
  mutable std::mutex lock_;
  std::map<std::vector<uint8_t>, MapPtr> slots_;  // array: little-endian keys, but order is by index below
  std::vector<MapPtr> retired_;
  Resolver resolver_;
};

}  // namespace

Result<MapPtr> make_map_in_map(const MapDef& def) {
  const std::string type = map_type_name(def.type);
  if (!def.inner) return map_error(EBADF, fmt::format("a {} map needs an inner map definition", type));
  const uint32_t inner = def.inner->type;
  if (inner == BPF_MAP_TYPE_ARRAY_OF_MAPS || inner == BPF_MAP_TYPE_HASH_OF_MAPS)
    return map_error(EINVAL, "an inner map cannot itself be a map-in-map");
  if (inner == BPF_MAP_TYPE_PROG_ARRAY) return map_error(EINVAL, "a prog_array cannot be an inner map");
  if (def.value_size != 4) return map_error(EINVAL, fmt::format("value_size is {}; a {} map holds 4-byte map fds", def.value_size, type));
  if (def.type == BPF_MAP_TYPE_ARRAY_OF_MAPS) {
    if (auto s = check_fd_array(def); !s) return s.error();
  } else {
    MapDef as_hash = def;
    as_hash.type = BPF_MAP_TYPE_HASH;
    if (def.map_flags & BPF_F_NO_COMMON_LRU) return map_error(EINVAL, "BPF_F_NO_COMMON_LRU is only for LRU maps");
    if (auto s = check_hash(as_hash); !s) return s.error();  // the same checks as a hash map
  }
  return MapPtr(new MapInMapImpl(def));
}

}  // namespace bpfvm::maps::detail
