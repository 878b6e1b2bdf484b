// What the verifier needs to check a program of an ELF object: its instructions with map
// references as indices into the object's maps, and the maps, license and program type.
#pragma once

#include "object/object.hpp"
#include "support/result.hpp"
#include "verifier/case_file.hpp"

namespace bpfvm::verifier {

[[nodiscard]] Result<ProgramCase> program_case(const object::ObjectSpec& object, const object::ProgramSpec& program);

// Licenses the kernel's license_is_gpl_compatible() accepts.
[[nodiscard]] bool gpl_compatible_license(std::string_view license);

}  // namespace bpfvm::verifier
