#include "maps/families.hpp"
namespace bpfvm::maps::detail {
Result<MapPtr> make_prog_array(const MapDef&) { return map_error(EINVAL, "todo"); }
Result<MapPtr> make_perf_event_array(const MapDef&) { return map_error(EINVAL, "todo"); }
Result<MapPtr> make_ringbuf(const MapDef&) { return map_error(EINVAL, "todo"); }
Result<MapPtr> make_queue_stack(const MapDef&) { return map_error(EINVAL, "todo"); }
Result<MapPtr> make_lpm_trie(const MapDef&) { return map_error(EINVAL, "todo"); }
Result<MapPtr> make_map_in_map(const MapDef&) { return map_error(EINVAL, "todo"); }
Result<MapPtr> make_bloom_filter(const MapDef&) { return map_error(EINVAL, "todo"); }
}
