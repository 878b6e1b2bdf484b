// Helpers over maps (kernel/bpf/helpers.c, ringbuf.c, bpf_trace.c). A map argument must be one
// of the maps of the running program's object (RunOptions::env); keys and values are checked
// like every other pointer argument.
#include <linux/bpf.h>

#include <cerrno>

#include "helpers/linux_helpers.hpp"
#include "isa/disasm.hpp"
#include "maps/map.hpp"
#include "maps/perf_event_array.hpp"
#include "maps/prog_array.hpp"
#include "maps/ringbuf.hpp"
#include "runtime/environment.hpp"
#include "runtime/loader.hpp"
#include "support/cpu.hpp"

namespace bpfvm {
namespace {

constexpr uint64_t err(int e) { return static_cast<uint64_t>(-static_cast<int64_t>(e)); }

maps::Map* map_arg(uint64_t value, HelperContext& ctx) {
  if (ctx.options == nullptr || ctx.options->env == nullptr) return nullptr;
  return ctx.options->env->find_map(value);
}

uint64_t map_lookup_elem(uint64_t map, uint64_t key, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  maps::Map* m = map_arg(map, ctx);
  const uint8_t* k = m ? ctx.access(key, m->key_size(), false) : nullptr;
  if (k == nullptr) return 0;
  return reinterpret_cast<uint64_t>(m->lookup_elem(k));
}

uint64_t map_update_elem(uint64_t map, uint64_t key, uint64_t value, uint64_t flags, uint64_t, HelperContext& ctx) {
  maps::Map* m = map_arg(map, ctx);
  if (m == nullptr) return err(EINVAL);
  const uint8_t* k = ctx.access(key, m->key_size(), false);
  const uint8_t* v = ctx.access(value, m->value_size(), false);
  if (k == nullptr || v == nullptr) return err(EFAULT);
  return static_cast<uint64_t>(m->update_elem(k, v, flags));
}

uint64_t map_delete_elem(uint64_t map, uint64_t key, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  maps::Map* m = map_arg(map, ctx);
  if (m == nullptr) return err(EINVAL);
  const uint8_t* k = ctx.access(key, m->key_size(), false);
  if (k == nullptr) return err(EFAULT);
  return static_cast<uint64_t>(m->delete_elem(k));
}

uint64_t map_push_elem(uint64_t map, uint64_t value, uint64_t flags, uint64_t, uint64_t, HelperContext& ctx) {
  maps::Map* m = map_arg(map, ctx);
  if (m == nullptr) return err(EINVAL);
  const uint8_t* v = ctx.access(value, m->value_size(), false);
  if (v == nullptr) return err(EFAULT);
  return static_cast<uint64_t>(m->push_elem(v, flags));
}

uint64_t map_pop_elem(uint64_t map, uint64_t value, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  maps::Map* m = map_arg(map, ctx);
  if (m == nullptr) return err(EINVAL);
  uint8_t* v = ctx.access(value, m->value_size(), true);
  if (v == nullptr) return err(EFAULT);
  return static_cast<uint64_t>(m->pop_elem(v));
}

uint64_t map_peek_elem(uint64_t map, uint64_t value, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  maps::Map* m = map_arg(map, ctx);
  if (m == nullptr) return err(EINVAL);
  uint8_t* v = ctx.access(value, m->value_size(), true);
  if (v == nullptr) return err(EFAULT);
  return static_cast<uint64_t>(m->peek_elem(v));
}

uint64_t get_smp_processor_id(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext&) {
  return cpu::current();
}

maps::RingBufMap* ringbuf_arg(uint64_t map, HelperContext& ctx) {
  return dynamic_cast<maps::RingBufMap*>(map_arg(map, ctx));
}

uint64_t ringbuf_output(uint64_t map, uint64_t data, uint64_t size, uint64_t flags, uint64_t, HelperContext& ctx) {
  maps::RingBufMap* rb = ringbuf_arg(map, ctx);
  const uint8_t* d = ctx.access(data, size, false);
  if (rb == nullptr) return err(EINVAL);
  if (d == nullptr && size != 0) return err(EFAULT);
  return static_cast<uint64_t>(rb->output(d, size, flags));
}

uint64_t ringbuf_reserve(uint64_t map, uint64_t size, uint64_t flags, uint64_t, uint64_t, HelperContext& ctx) {
  maps::RingBufMap* rb = ringbuf_arg(map, ctx);
  return rb ? reinterpret_cast<uint64_t>(rb->reserve(size, flags)) : 0;
}

uint64_t ringbuf_submit(uint64_t sample, uint64_t flags, uint64_t, uint64_t, uint64_t, HelperContext&) {
  if (maps::RingBufMap* rb = maps::RingBufMap::owning(reinterpret_cast<void*>(sample))) {
    rb->submit(reinterpret_cast<void*>(sample), flags);
  }
  return 0;
}

uint64_t ringbuf_discard(uint64_t sample, uint64_t flags, uint64_t, uint64_t, uint64_t, HelperContext&) {
  if (maps::RingBufMap* rb = maps::RingBufMap::owning(reinterpret_cast<void*>(sample))) {
    rb->discard(reinterpret_cast<void*>(sample), flags);
  }
  return 0;
}

uint64_t ringbuf_query(uint64_t map, uint64_t flags, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  maps::RingBufMap* rb = ringbuf_arg(map, ctx);
  return rb ? rb->query(flags) : 0;
}

uint64_t perf_event_output(uint64_t, uint64_t map, uint64_t flags, uint64_t data, uint64_t size, HelperContext& ctx) {
  auto* perf = dynamic_cast<maps::PerfEventArrayMap*>(map_arg(map, ctx));
  const uint8_t* d = ctx.access(data, size, false);
  if (perf == nullptr) return err(EINVAL);
  if (d == nullptr && size != 0) return err(EFAULT);
  return static_cast<uint64_t>(perf->output(flags, d, size));
}

uint64_t spin_lock(uint64_t lock, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  if (uint8_t* p = ctx.access(lock, 4, true)) maps::spin_lock(p);
  return 0;
}

uint64_t spin_unlock(uint64_t lock, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  if (uint8_t* p = ctx.access(lock, 4, true)) maps::spin_unlock(p);
  return 0;
}

// bpf_tail_call: on success the program in the slot continues in this frame and never returns
// here; on failure (no such slot, empty slot, 33 tail calls already) execution goes on.
uint64_t tail_call(uint64_t ctx_arg, uint64_t map, uint64_t index, uint64_t, uint64_t, HelperContext& ctx) {
  auto* array = dynamic_cast<maps::ProgArrayMap*>(map_arg(map, ctx));
  if (array == nullptr || ctx.host == nullptr) return err(EINVAL);
  const maps::ProgramRef ref = array->get(static_cast<uint32_t>(index));
  if (!ref.handle) return err(ENOENT);
  const auto* target = static_cast<const LoadedProgram*>(ref.handle.get());
  if (!ctx.host->tail_call(target->engine(), ctx_arg)) return err(ENOENT);
  return 0;
}

using A = ArgType;

}  // namespace

void add_map_helpers(HelperTable& table) {
  struct Row {
    int32_t id;
    HelperFn fn;
    HelperProto proto;
  };
  const Row rows[] = {
      {BPF_FUNC_map_lookup_elem, map_lookup_elem, {RetType::kPtrToMapValueOrNull, {A::kConstMapPtr, A::kPtrToMapKey}, false}},
      {BPF_FUNC_map_update_elem, map_update_elem,
       {RetType::kInteger, {A::kConstMapPtr, A::kPtrToMapKey, A::kPtrToMapValue, A::kAnything}, false}},
      {BPF_FUNC_map_delete_elem, map_delete_elem, {RetType::kInteger, {A::kConstMapPtr, A::kPtrToMapKey}, false}},
      {BPF_FUNC_get_smp_processor_id, get_smp_processor_id, {RetType::kInteger, {}, false}},
      {BPF_FUNC_tail_call, tail_call, {RetType::kVoid, {A::kPtrToCtx, A::kConstMapPtr, A::kAnything}, false}},
      {BPF_FUNC_perf_event_output, perf_event_output,
       {RetType::kInteger, {A::kPtrToCtx, A::kConstMapPtr, A::kAnything, A::kPtrToMem, A::kConstSizeOrZero}, false}},
      {BPF_FUNC_map_push_elem, map_push_elem, {RetType::kInteger, {A::kConstMapPtr, A::kPtrToMapValue, A::kAnything}, false}},
      {BPF_FUNC_map_pop_elem, map_pop_elem, {RetType::kInteger, {A::kConstMapPtr, A::kPtrToUninitMapValue}, false}},
      {BPF_FUNC_map_peek_elem, map_peek_elem, {RetType::kInteger, {A::kConstMapPtr, A::kPtrToUninitMapValue}, false}},
      {BPF_FUNC_spin_lock, spin_lock, {RetType::kVoid, {A::kPtrToSpinLock}, false}},
      {BPF_FUNC_spin_unlock, spin_unlock, {RetType::kVoid, {A::kPtrToSpinLock}, false}},
      {BPF_FUNC_ringbuf_output, ringbuf_output,
       {RetType::kInteger, {A::kConstMapPtr, A::kPtrToMem, A::kConstSizeOrZero, A::kAnything}, false}},
      {BPF_FUNC_ringbuf_reserve, ringbuf_reserve,
       {RetType::kPtrToAllocMemOrNull, {A::kConstMapPtr, A::kConstAllocSizeOrZero, A::kAnything}, false}},
      {BPF_FUNC_ringbuf_submit, ringbuf_submit, {RetType::kVoid, {A::kPtrToAllocMem, A::kAnything}, false}},
      {BPF_FUNC_ringbuf_discard, ringbuf_discard, {RetType::kVoid, {A::kPtrToAllocMem, A::kAnything}, false}},
      {BPF_FUNC_ringbuf_query, ringbuf_query, {RetType::kInteger, {A::kConstMapPtr, A::kAnything}, false}},
  };
  for (const Row& row : rows) {
    table.add(Helper{row.id, isa::kernel_helper_name(row.id).value_or("unknown"), row.fn, row.proto});
  }
}

}  // namespace bpfvm
