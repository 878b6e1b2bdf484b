// Register and stack state as the kernel's verifier log prints them (print_verifier_state()).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "verifier/state.hpp"
#include "verifier/verifier.hpp"

namespace bpfvm::verifier {

[[nodiscard]] std::string format_tnum(Tnum t);                   // "(0x0; 0xff)"
[[nodiscard]] std::string reg_type_name(const Reg& r);           // "map_value_or_null", "fp", ...
[[nodiscard]] std::string format_reg(const Reg& r, std::span<const MapInfo> maps);  // "scalar(smin=0,...)"
[[nodiscard]] std::string format_slot(const StackSlot& slot, std::span<const MapInfo> maps);  // "" when unused
[[nodiscard]] std::string format_frame(const Frame& frame, std::span<const MapInfo> maps);    // " R1=ctx() R10=fp0"
// Scalar ranges as "smin=0 smax=255", for messages about return values.
[[nodiscard]] std::string format_range_words(const Bounds& b);

}  // namespace bpfvm::verifier
