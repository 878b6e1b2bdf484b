#include "maps/map_helpers.hpp"

#include <linux/bpf.h>

#include <cerrno>
#include <cstring>

#include "isa/disasm.hpp"
#include "maps/map.hpp"
#include "maps/perf_event_array.hpp"
#include "maps/ringbuf.hpp"
#include "support/cpu.hpp"

namespace bpfvm::maps {
namespace {

constexpr uint64_t err(int e) { return static_cast<uint64_t>(-static_cast<int64_t>(e)); }
uint64_t ret(long r) { return static_cast<uint64_t>(static_cast<int64_t>(r)); }
uint64_t addr(const void* p) { return reinterpret_cast<uint64_t>(p); }

// The map argument: trusted when the verifier checked the program, else looked up.
Map* map_arg(uint64_t r, const HelperContext& ctx) {
  if (ctx.trusted) return reinterpret_cast<Map*>(r);
  return live_map(r);
}

uint64_t map_lookup_elem(uint64_t m, uint64_t key, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  Map* map = map_arg(m, ctx);
  if (!map) return 0;
  const uint8_t* k = ctx.access(key, map->key_size(), false);
  if (!k && map->key_size()) return 0;
  return addr(map->lookup_elem(k));
}

uint64_t map_update_elem(uint64_t m, uint64_t key, uint64_t value, uint64_t flags, uint64_t, HelperContext& ctx) {
  Map* map = map_arg(m, ctx);
  if (!map) return err(EINVAL);
  const uint8_t* k = ctx.access(key, map->key_size(), false);
  const uint8_t* v = ctx.access(value, map->value_size(), false);
  if ((!k && map->key_size()) || !v) return err(EFAULT);
  return ret(map->update_elem(k, v, flags));
}

uint64_t map_delete_elem(uint64_t m, uint64_t key, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  Map* map = map_arg(m, ctx);
  if (!map) return err(EINVAL);
  const uint8_t* k = ctx.access(key, map->key_size(), false);
  if (!k && map->key_size()) return err(EFAULT);
  return ret(map->delete_elem(k));
}

uint64_t map_push_elem(uint64_t m, uint64_t value, uint64_t flags, uint64_t, uint64_t, HelperContext& ctx) {
  Map* map = map_arg(m, ctx);
  if (!map) return err(EINVAL);
  const uint8_t* v = ctx.access(value, map->value_size(), false);
  if (!v) return err(EFAULT);
  return ret(map->push_elem(v, flags));
}

uint64_t map_pop_elem(uint64_t m, uint64_t value, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  Map* map = map_arg(m, ctx);
  if (!map) return err(EINVAL);
  uint8_t* v = ctx.access(value, map->value_size(), true);
  if (!v) return err(EFAULT);
  return ret(map->pop_elem(v));
}

uint64_t map_peek_elem(uint64_t m, uint64_t value, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  Map* map = map_arg(m, ctx);
  if (!map) return err(EINVAL);
  uint8_t* v = ctx.access(value, map->value_size(), true);
  if (!v) return err(EFAULT);
  return ret(map->peek_elem(v));
}

uint64_t get_smp_processor_id(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext&) { return cpu::current(); }

uint64_t perf_event_output(uint64_t, uint64_t m, uint64_t flags, uint64_t data, uint64_t size, HelperContext& ctx) {
  auto* map = dynamic_cast<PerfEventArrayMap*>(map_arg(m, ctx));
  if (!map) return err(EINVAL);
  const uint8_t* d = ctx.access(data, size, false);
  if (!d && size) return err(EFAULT);
  return ret(map->output(flags, d, size));  // BPF_F_CTXLEN_MASK is for the skb/xdp variants: EINVAL here
}

uint64_t ringbuf_output(uint64_t m, uint64_t data, uint64_t size, uint64_t flags, uint64_t, HelperContext& ctx) {
  auto* rb = dynamic_cast<RingBufMap*>(map_arg(m, ctx));
  if (!rb) return err(EINVAL);
  const uint8_t* d = ctx.access(data, size, false);
  if (!d && size) return err(EFAULT);
  return ret(rb->output(d, size, flags));
}

uint64_t ringbuf_reserve(uint64_t m, uint64_t size, uint64_t flags, uint64_t, uint64_t, HelperContext& ctx) {
  auto* rb = dynamic_cast<RingBufMap*>(map_arg(m, ctx));
  if (!rb) return 0;
  return addr(rb->reserve(size, flags));
}

uint64_t ringbuf_submit(uint64_t sample, uint64_t flags, uint64_t, uint64_t, uint64_t, HelperContext&) {
  auto* p = reinterpret_cast<void*>(sample);
  if (RingBufMap* rb = RingBufMap::owning(p)) rb->submit(p, flags);
  return 0;
}

uint64_t ringbuf_discard(uint64_t sample, uint64_t flags, uint64_t, uint64_t, uint64_t, HelperContext&) {
  auto* p = reinterpret_cast<void*>(sample);
  if (RingBufMap* rb = RingBufMap::owning(p)) rb->discard(p, flags);
  return 0;
}

uint64_t ringbuf_query(uint64_t m, uint64_t flags, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  auto* rb = dynamic_cast<RingBufMap*>(map_arg(m, ctx));
  return rb ? rb->query(flags) : 0;
}

uint64_t spin_lock_helper(uint64_t lock, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  if (uint8_t* l = ctx.access(lock, 4, true)) spin_lock(l);
  return 0;
}

uint64_t spin_unlock_helper(uint64_t lock, uint64_t, uint64_t, uint64_t, uint64_t, HelperContext& ctx) {
  if (uint8_t* l = ctx.access(lock, 4, true)) spin_unlock(l);
  return 0;
}

// callback(map, key, value, ctx) for each element, in get_next_key order, until it returns 1.
// The key the callback sees is a copy (the kernel's is the element's own, equally read-only).
uint64_t for_each_map_elem(uint64_t m, uint64_t callback, uint64_t callback_ctx, uint64_t flags, uint64_t,
                           HelperContext& ctx) {
  Map* map = map_arg(m, ctx);
  if (!map) return err(EINVAL);
  if (flags) return err(EINVAL);
  if (ctx.host == nullptr) return err(EINVAL);
  thread_local std::vector<uint8_t> key;
  std::vector<uint8_t> cursor;
  uint64_t visited = 0;
  for (;;) {
    auto next = map->get_next_key(cursor);
    if (!next) break;
    cursor = std::move(*next);
    void* value = map->lookup_elem(cursor.data());
    if (!value) continue;
    key = cursor;
    ++visited;
    auto r = ctx.host->call(callback, {m, addr(key.data()), addr(value), callback_ctx, 0});
    if (!r) return err(EINVAL);
    if (*r != 0) break;
  }
  return visited;
}

struct Row {
  int32_t id;
  HelperFn fn;
  HelperProto proto;
  bool context_free = false;  // Helper::context_free
};

using A = ArgType;
const Row kRows[] = {
    {BPF_FUNC_map_lookup_elem, map_lookup_elem, {RetType::kPtrToMapValueOrNull, {A::kConstMapPtr, A::kPtrToMapKey}, false}},
    {BPF_FUNC_map_update_elem, map_update_elem,
     {RetType::kInteger, {A::kConstMapPtr, A::kPtrToMapKey, A::kPtrToMapValue, A::kAnything}, false}},
    {BPF_FUNC_map_delete_elem, map_delete_elem, {RetType::kInteger, {A::kConstMapPtr, A::kPtrToMapKey}, false}},
    {BPF_FUNC_get_smp_processor_id, get_smp_processor_id, {RetType::kInteger, {}, false}, true},
    {BPF_FUNC_perf_event_output, perf_event_output,
     {RetType::kInteger, {A::kPtrToCtx, A::kConstMapPtr, A::kAnything, A::kPtrToMem, A::kConstSizeOrZero}, true}},
    {BPF_FUNC_map_push_elem, map_push_elem, {RetType::kInteger, {A::kConstMapPtr, A::kPtrToMapValue, A::kAnything}, false}},
    {BPF_FUNC_map_pop_elem, map_pop_elem, {RetType::kInteger, {A::kConstMapPtr, A::kPtrToUninitMapValue}, false}},
    {BPF_FUNC_map_peek_elem, map_peek_elem, {RetType::kInteger, {A::kConstMapPtr, A::kPtrToUninitMapValue}, false}},
    {BPF_FUNC_spin_lock, spin_lock_helper, {RetType::kVoid, {A::kPtrToSpinLock}, false}},
    {BPF_FUNC_spin_unlock, spin_unlock_helper, {RetType::kVoid, {A::kPtrToSpinLock}, false}},
    {BPF_FUNC_ringbuf_output, ringbuf_output,
     {RetType::kInteger, {A::kConstMapPtr, A::kPtrToMem, A::kConstSizeOrZero, A::kAnything}, false}},
    {BPF_FUNC_ringbuf_reserve, ringbuf_reserve,
     {RetType::kPtrToAllocMemOrNull, {A::kConstMapPtr, A::kConstAllocSizeOrZero, A::kAnything}, false}},
    {BPF_FUNC_ringbuf_submit, ringbuf_submit, {RetType::kVoid, {A::kPtrToAllocMem, A::kAnything}, false}, true},
    {BPF_FUNC_ringbuf_discard, ringbuf_discard, {RetType::kVoid, {A::kPtrToAllocMem, A::kAnything}, false}, true},
    {BPF_FUNC_ringbuf_query, ringbuf_query, {RetType::kInteger, {A::kConstMapPtr, A::kAnything}, false}},
    {BPF_FUNC_for_each_map_elem, for_each_map_elem,
     {RetType::kInteger, {A::kConstMapPtr, A::kPtrToFunc, A::kPtrToStackOrNull, A::kAnything}, false}},
};

}  // namespace

bool standard_map_lookup(const HelperTable& table) {
  const Helper* h = table.find(BPF_FUNC_map_lookup_elem);
  return h != nullptr && h->fn == map_lookup_elem;
}

MapLookup direct_map_lookup(Map& map) {
  const auto ref = reinterpret_cast<uint64_t>(&map);
  if (auto d = map.direct_array()) {
    return MapLookup{ref, reinterpret_cast<uint64_t>(d->data), d->stride, d->max_entries};
  }
  MapLookup lookup{.ref = ref, .call = map.direct_lookup()};
  if (auto h = map.direct_hash()) {
    lookup.data = reinterpret_cast<uint64_t>(h->values);
    lookup.stride = h->value_stride;
    lookup.buckets = reinterpret_cast<uint64_t>(h->buckets);
    lookup.multiplier = h->multiplier;
    lookup.keys = reinterpret_cast<uint64_t>(h->keys);
    lookup.shift = h->shift;
    lookup.key_size = h->key_size;
  }
  return lookup;
}

void add_map_helpers(HelperTable& table) {
  for (const Row& row : kRows) {
    table.add(Helper{row.id, isa::kernel_helper_name(row.id).value_or("unknown"), row.fn, row.proto, row.context_free});
  }
}

}  // namespace bpfvm::maps
