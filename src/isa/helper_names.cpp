// Helper names by uapi id, from <linux/bpf.h>'s own list so the numbers can never drift.
#include <linux/bpf.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "isa/disasm.hpp"

namespace bpfvm::isa {
namespace {

#define BPFVM_HELPER_NAME(x) "bpf_" #x
constexpr std::string_view kUapiHelperNames[] = {__BPF_FUNC_MAPPER(BPFVM_HELPER_NAME)};
#undef BPFVM_HELPER_NAME

// Helpers newer than the installed uapi header, numbered as in Linux's include/uapi/linux/bpf.h.
struct LateHelper {
  int32_t id;
  std::string_view name;
};
constexpr LateHelper kLateHelpers[] = {
    {210, "bpf_cgrp_storage_get"},
    {211, "bpf_cgrp_storage_delete"},
};

}  // namespace

std::optional<std::string> kernel_helper_name(int32_t id) {
  constexpr auto count = static_cast<int32_t>(std::size(kUapiHelperNames));
  if (id > 0 && id < count) return std::string(kUapiHelperNames[id]);
  for (const auto& late : kLateHelpers) {
    if (late.id == id && id >= count) return std::string(late.name);
  }
  return std::nullopt;
}

}  // namespace bpfvm::isa
