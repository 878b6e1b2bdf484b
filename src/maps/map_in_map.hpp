// ARRAY_OF_MAPS and HASH_OF_MAPS (kernel/bpf/map_in_map.c): values are maps. A program's
// lookup returns the inner Map* (a map pointer it can pass to map helpers); user space sees
// the inner map's id. Inner maps must match the template in MapDef::inner (type, key and value
// sizes, flags, and max_entries unless the template has BPF_F_INNER_MAP).
#pragma once

#include <functional>

#include "maps/map.hpp"

namespace bpfvm::maps {

class MapInMap : public Map {
 public:
  // How user space's update value (a map fd or id) becomes a map; by default, the id of a
  // live map (find_map). nullptr: EBADF.
  using Resolver = std::function<MapPtr(uint32_t fd_or_id)>;
  virtual void set_resolver(Resolver resolver) = 0;

  // For the runtime (libbpf's static initialisation) and tests; flags as for update.
  [[nodiscard]] virtual Status set(std::span<const uint8_t> key, MapPtr inner, uint64_t flags = 0) = 0;
  [[nodiscard]] virtual MapPtr get(std::span<const uint8_t> key) const = 0;

 protected:
  using Map::Map;
};

// A live map by id (maps register themselves at creation), or nullptr.
[[nodiscard]] MapPtr find_map(uint32_t id);

}  // namespace bpfvm::maps
