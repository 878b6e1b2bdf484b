// bpf_tail_call: the one map helper that belongs to the runtime, since it switches programs.
// On success the program in the PROG_ARRAY slot continues in the current frame and never
// returns here; on failure (no such slot, an empty slot, 33 tail calls already) the program
// goes on after the call, as in the kernel.
#include <linux/bpf.h>

#include <cerrno>

#include "helpers/linux_helpers.hpp"
#include "isa/disasm.hpp"
#include "maps/map_helpers.hpp"
#include "maps/prog_array.hpp"
#include "runtime/loader.hpp"

namespace bpfvm {
namespace {

uint64_t tail_call(uint64_t ctx_arg, uint64_t map, uint64_t index, uint64_t, uint64_t, HelperContext& ctx) {
  constexpr uint64_t kEnoent = static_cast<uint64_t>(-ENOENT);
  if (ctx.host == nullptr) return kEnoent;  // no engine to switch programs (a helper called directly)
  auto* array = dynamic_cast<maps::ProgArrayMap*>(maps::live_map(map));
  if (array == nullptr) return static_cast<uint64_t>(-EINVAL);
  const maps::ProgramRef ref = array->get(static_cast<uint32_t>(index));
  if (!ref.handle) return kEnoent;
  // Slots hold programs of a LoadedObject (the loader's resolver and static initialisation).
  const auto* target = static_cast<const LoadedProgram*>(ref.handle.get());
  return ctx.host->tail_call(target->tail_call_target(), ctx_arg) ? 0 : kEnoent;
}

}  // namespace

void add_tail_call_helper(HelperTable& table) {
  table.add(Helper{BPF_FUNC_tail_call, isa::kernel_helper_name(BPF_FUNC_tail_call).value_or("bpf_tail_call"),
                   tail_call, HelperProto{RetType::kVoid, {ArgType::kPtrToCtx, ArgType::kConstMapPtr, ArgType::kAnything}, false}});
}

}  // namespace bpfvm
