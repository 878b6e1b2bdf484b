// QUEUE and STACK (kernel/bpf/queue_stack_maps.c): no keys; push/pop/peek on a ring of
// max_entries values. User space pushes with BPF_MAP_UPDATE_ELEM, peeks with LOOKUP and pops
// with LOOKUP_AND_DELETE. Pushing to a full map with BPF_EXIST drops the oldest value.
#include <cstring>
#include <mutex>

#include "maps/families.hpp"

namespace bpfvm::maps::detail {
namespace {

class QueueStackMap final : public Map {
 public:
  explicit QueueStackMap(const MapDef& def)
      : Map(def), stack_(def.type == BPF_MAP_TYPE_STACK), size_(def.max_entries + 1),
        data_(std::size_t{size_} * def.value_size) {}

  void* lookup_elem(const void*) override { return nullptr; }
  long update_elem(const void*, const void*, uint64_t) override { return fail(EINVAL, "use push on a queue or stack"); }
  long delete_elem(const void*) override { return fail(EINVAL, "use pop on a queue or stack"); }

  long push_elem(const void* value, uint64_t flags) override {
    if ((flags & BPF_NOEXIST) || flags > BPF_EXIST) return fail(EINVAL, "push flags are BPF_ANY or BPF_EXIST");
    std::lock_guard lock(lock_);
    if (full()) {
      if (!(flags & BPF_EXIST)) return fail(E2BIG, "map is full (push with BPF_EXIST to drop the oldest)");
      tail_ = (tail_ + 1) % size_;  // the oldest value, for a stack too
    }
    std::memcpy(at(head_), value, def_.value_size);
    head_ = (head_ + 1) % size_;
    return 0;
  }

  long pop_elem(void* value) override { return take(value, true); }
  long peek_elem(void* value) override { return take(value, false); }

 protected:
  long sys_lookup(const void*, void* value, uint64_t flags) const override {
    if (flags) return fail(EINVAL, "no lookup flags for a queue or stack");
    return const_cast<QueueStackMap*>(this)->take(value, false);
  }
  long sys_update(const void*, const void* value, uint64_t flags) override { return push_elem(value, flags); }
  long sys_delete(const void*) override { return fail(EINVAL, "use lookup_and_delete (pop) on a queue or stack"); }
  long sys_get_next_key(const void*, void*) const override { return fail(EINVAL, "a queue or stack has no keys"); }
  long sys_lookup_and_delete(const void*, void* value, uint64_t flags) override {
    if (flags) return fail(EINVAL, "no flags for pop");
    return take(value, true);
  }

 private:
  bool full() const { return (head_ + 1) % size_ == tail_; }
  uint8_t* at(uint32_t i) const { return data_.data() + std::size_t{i} * def_.value_size; }

  long take(void* value, bool remove) {
    std::lock_guard lock(lock_);
    if (head_ == tail_) return fail(ENOENT, "map is empty");
    uint32_t index;
    if (stack_) {
      index = (head_ + size_ - 1) % size_;
      if (remove) head_ = index;
    } else {
      index = tail_;
      if (remove) tail_ = (tail_ + 1) % size_;
    }
    std::memcpy(value, at(index), def_.value_size);
    return 0;
  }

  const bool stack_;
  const uint32_t size_;
  SpinLock lock_;
  uint32_t head_ = 0;  // next free slot
  uint32_t tail_ = 0;  // oldest value
  AlignedBuffer data_;
};

}  // namespace

Result<MapPtr> make_queue_stack(const MapDef& def) {
  constexpr uint32_t kFlags = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;
  const std::string type = map_type_name(def.type);
  if (def.max_entries == 0) return map_error(EINVAL, "max_entries must be > 0");
  if (def.key_size != 0) return map_error(EINVAL, fmt::format("key_size must be 0 for a {} map (it has no keys)", type));
  if (def.value_size == 0) return map_error(EINVAL, "value_size must be > 0");
  if (def.map_flags & ~kFlags)
    return map_error(EINVAL, fmt::format("map_flags {:#x} has flags a {} map does not take", def.map_flags, type));
  if (def.value_size > kKmallocMaxSize) return map_error(E2BIG, fmt::format("value_size {} is too large", def.value_size));
  const uint64_t bytes = (uint64_t{def.max_entries} + 1) * def.value_size;
  if (bytes > kMaxMapBytes) return map_error(ENOMEM, fmt::format("map would need {} bytes", bytes));
  return MapPtr(new QueueStackMap(def));
}

}  // namespace bpfvm::maps::detail
