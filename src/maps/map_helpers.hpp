// The helpers whose work is done by maps (kernel/bpf/helpers.c, ringbuf.c, arraymap.c...):
// map_lookup/update/delete_elem, map_push/pop/peek_elem, ringbuf_output/reserve/submit/
// discard/query, perf_event_output, spin_lock/unlock, for_each_map_elem and
// get_smp_processor_id, with the kernel's prototypes.
//
// A map argument (ARG_CONST_MAP_PTR) is a maps::Map* in the register: what the loader puts in
// an ld_imm64 map reference. For unverified programs (HelperContext::host set) it must be a
// live map or the helper fails with -EINVAL; key and value pointers go through
// HelperContext::access. tail_call is the runtime's: it needs to switch programs
// (ProgArrayMap::get gives the program).
#pragma once

#include "exec/interpreter.hpp"  // MapLookup
#include "helpers/helper_table.hpp"

namespace bpfvm::maps {

class Map;

// Adds the rows above to `table` (replacing rows with the same id).
void add_map_helpers(HelperTable& table);

// Whether `table` runs bpf_map_lookup_elem with the helper above: then verified code may do
// that lookup without it (MapLookup), with the same result.
[[nodiscard]] bool standard_map_lookup(const HelperTable& table);

// How verified code looks `map` up without the helper (its ld_imm64 loads the map's address):
// ARRAY maps inline, HASH maps their buckets' first elements inline (Map::DirectHash), the
// others by a direct call.
[[nodiscard]] MapLookup direct_map_lookup(Map& map);

// The live map at `address`, or nullptr: how helpers check an unverified program's map argument.
[[nodiscard]] Map* live_map(uint64_t address);

}  // namespace bpfvm::maps
