// The Linux helpers bpfvm implements, under their uapi ids (BPF_FUNC_*), with the kernel's
// prototypes and semantics. Map helpers join this table from src/maps.
#pragma once

#include "helpers/helper_table.hpp"

namespace bpfvm {

// Adds the helpers of linux_helpers.cpp to `table` (replacing rows with the same id).
void add_linux_helpers(HelperTable& table);
// Adds the map helpers (map_helpers.cpp): lookup/update/delete, push/pop/peek, ringbuf,
// perf_event_output, spin locks, get_smp_processor_id.
void add_map_helpers(HelperTable& table);

// A table with every helper bpfvm implements (both of the above).
[[nodiscard]] const HelperTable& linux_helpers();

}  // namespace bpfvm
