// The Linux helpers bpfvm implements, under their uapi ids (BPF_FUNC_*), with the kernel's
// prototypes and semantics. Map helpers join this table from src/maps.
#pragma once

#include "helpers/helper_table.hpp"

namespace bpfvm {

// Adds the helpers of linux_helpers.cpp to `table` (replacing rows with the same id).
void add_linux_helpers(HelperTable& table);
// Adds bpf_tail_call (runtime/tail_call.cpp). The other map helpers are maps::add_map_helpers.
void add_tail_call_helper(HelperTable& table);

// A table with every helper bpfvm implements: the above and the map helpers.
[[nodiscard]] const HelperTable& linux_helpers();

}  // namespace bpfvm
