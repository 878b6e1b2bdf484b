// The Linux helpers bpfvm implements, under their uapi ids (BPF_FUNC_*), with the kernel's
// prototypes and semantics. Map helpers join this table from src/maps.
#pragma once

#include "helpers/helper_table.hpp"

namespace bpfvm {

// Adds the helpers of this file to `table` (replacing rows with the same id).
void add_linux_helpers(HelperTable& table);

// A table with every helper bpfvm implements.
[[nodiscard]] const HelperTable& linux_helpers();

}  // namespace bpfvm
