// PROG_ARRAY (kernel/bpf/arraymap.c, prog_array_map_ops): slots holding programs for
// bpf_tail_call. Maps do not know what a program is: a slot holds the program's id and an
// opaque handle the runtime gives (its own program object), kept alive while in the slot and
// while a tail call that fetched it runs.
#pragma once

#include <functional>

#include "maps/map.hpp"

namespace bpfvm::maps {

struct ProgramRef {
  uint32_t id = 0;
  std::shared_ptr<const void> handle;  // the runtime's program object
  explicit operator bool() const { return handle != nullptr; }
};

class ProgArrayMap : public Map {
 public:
  // How user space's BPF_MAP_UPDATE_ELEM value (a program fd or id, as the runtime defines it)
  // becomes a program; nullopt when there is no such program (EBADF). Without a resolver,
  // user-space updates fail with EBADF.
  using Resolver = std::function<std::optional<ProgramRef>(uint32_t fd_or_id)>;
  virtual void set_resolver(Resolver resolver) = 0;

  // For the runtime (libbpf's static initialisation of slots) and tests.
  [[nodiscard]] virtual Status set(uint32_t index, ProgramRef prog) = 0;
  // bpf_tail_call: the program in slot `index`, or an empty ref when out of range or empty.
  [[nodiscard]] virtual ProgramRef get(uint32_t index) const = 0;

 protected:
  using Map::Map;
};

}  // namespace bpfvm::maps
