// ARRAY and PERCPU_ARRAY (kernel/bpf/arraymap.c): max_entries values indexed by a u32 key,
// all allocated (zeroed) at creation; elements always exist and cannot be deleted.
#include <cstring>
#include <mutex>

#include "maps/families.hpp"
#include "support/cpu.hpp"

namespace bpfvm::maps::detail {
namespace {

class ArrayMap final : public Map {
 public:
  explicit ArrayMap(const MapDef& def)
      : Map(def), stride_(round_up8(def.value_size)),
        data_(static_cast<std::size_t>(def.max_entries) * stride_ * ncpus_) {}

  void* lookup_elem(const void* key) override {
    const uint32_t index = load_u32(key);
    if (index >= def_.max_entries) return nullptr;
    return slot(index, is_percpu() ? cpu::current_of(ncpus_) : 0);
  }

  long update_elem(const void* key, const void* value, uint64_t flags) override {
    const uint32_t index = load_u32(key);
    if (long r = check_update(index, flags); r < 0) return r;
    write(slot(index, is_percpu() ? cpu::current_of(ncpus_) : 0), value, flags);
    return 0;
  }

  long delete_elem(const void*) override { return fail(EINVAL, "array elements cannot be deleted"); }

  std::optional<DirectArray> direct_array() override {
    if (is_percpu()) return std::nullopt;  // the slot depends on the CPU: the helper picks it
    return DirectArray{slot(0, 0), stride_, def_.max_entries};
  }

  std::vector<MemoryRegion> value_regions() const override {
    return {MemoryRegion{data_.data(), data_.bytes, (def_.map_flags & BPF_F_RDONLY_PROG) == 0}};
  }

 protected:
  long sys_lookup(const void* key, void* value, uint64_t flags) const override {
    const uint32_t index = load_u32(key);
    if (index >= def_.max_entries) return fail(ENOENT, "index out of range");
    auto* out = static_cast<uint8_t*>(value);
    for (unsigned c = 0; c < ncpus_; ++c) {
      uint8_t* src = slot(index, c);
      if (is_percpu()) {
        std::memcpy(out, src, stride_);  // the kernel copies the padding to 8 bytes too
      } else if (flags & BPF_F_LOCK) {
        spin_lock(src + def_.spin_lock_off);
        copy_value_out(out, src);
        spin_unlock(src + def_.spin_lock_off);
      } else {
        copy_value_out(out, src);
      }
      out += is_percpu() ? stride_ : def_.value_size;
    }
    return 0;
  }

  long sys_update(const void* key, const void* value, uint64_t flags) override {
    const uint32_t index = load_u32(key);
    if (long r = check_update(index, flags); r < 0) return r;
    const auto* in = static_cast<const uint8_t*>(value);
    if (is_percpu()) {
      // Each CPU's value with its padding to 8 bytes, as the kernel copies it.
      for (unsigned c = 0; c < ncpus_; ++c) std::memcpy(slot(index, c), in + std::size_t{c} * stride_, stride_);
      return 0;
    }
    write(slot(index, 0), in, flags);
    return 0;
  }

  long sys_delete(const void*) override { return fail(EINVAL, "array elements cannot be deleted"); }

  long sys_get_next_key(const void* key, void* next) const override {
    return array_get_next_key(def_.max_entries, key, next);
  }

 private:
  uint8_t* slot(uint32_t index, unsigned c) const {
    return data_.data() + (static_cast<std::size_t>(index) * ncpus_ + c) * stride_;
  }

  long check_update(uint32_t index, uint64_t flags) const {
    if (is_percpu() ? flags > BPF_EXIST : bad_update_flags(flags)) return fail(EINVAL, "invalid update flags");
    if (index >= def_.max_entries) return fail(E2BIG, "index out of range");
    if (flags & BPF_NOEXIST) return fail(EEXIST, "array elements always exist (BPF_NOEXIST)");
    return 0;
  }

  // Values are overwritten in place, as the kernel does; with BPF_F_LOCK under the value's lock.
  void write(uint8_t* dst, const void* src, uint64_t flags) const {
    if (flags & BPF_F_LOCK) {
      spin_lock(dst + def_.spin_lock_off);
      copy_value_in(dst, src);
      spin_unlock(dst + def_.spin_lock_off);
    } else {
      copy_value_in(dst, src);
    }
  }

  uint32_t stride_;
  AlignedBuffer data_;
};

}  // namespace

Result<MapPtr> make_array(const MapDef& def) {
  const bool percpu = def.type == BPF_MAP_TYPE_PERCPU_ARRAY;
  constexpr uint32_t kArrayFlags = BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG |
                                   BPF_F_WRONLY_PROG | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;
  if (def.max_entries == 0) return map_error(EINVAL, "max_entries must be > 0");
  if (def.key_size != 4) return map_error(EINVAL, fmt::format("key_size is {}; array keys are 4-byte indexes", def.key_size));
  if (def.value_size == 0) return map_error(EINVAL, "value_size must be > 0");
  if (def.map_flags & ~kArrayFlags) return map_error(EINVAL, fmt::format("map_flags {:#x} has flags an array does not take", def.map_flags));
  if (percpu && (def.map_flags & BPF_F_MMAPABLE)) return map_error(EINVAL, "a per-CPU array cannot be BPF_F_MMAPABLE");
  if (def.map_flags & BPF_F_PRESERVE_ELEMS) return map_error(EINVAL, "BPF_F_PRESERVE_ELEMS is only for perf event arrays");
  if (percpu && (def.map_flags & BPF_F_INNER_MAP)) return map_error(EINVAL, "BPF_F_INNER_MAP is only for arrays");
  if (def.value_size > kKmallocMaxSize) return map_error(E2BIG, fmt::format("value_size {} is too large", def.value_size));
  if (percpu && round_up8(def.value_size) > kPcpuMinUnitSize)
    return map_error(E2BIG, fmt::format("per-CPU value_size {} is over {}", def.value_size, kPcpuMinUnitSize));
  if (percpu && def.spin_lock_off >= 0) return map_error(EINVAL, "bpf_spin_lock is not allowed in per-CPU maps");
  const uint64_t bytes = uint64_t{def.max_entries} * round_up8(def.value_size) * (percpu ? cpu::possible() : 1);
  if (bytes > kMaxMapBytes) return map_error(ENOMEM, fmt::format("map would need {} bytes", bytes));
  return MapPtr(new ArrayMap(def));
}

long array_get_next_key(uint32_t max_entries, const void* key, void* next) {
  const uint32_t index = key ? load_u32(key) : max_entries;
  const uint32_t n = index >= max_entries ? 0 : index + 1;
  if (n == max_entries) return fail(ENOENT, "no more keys");
  std::memcpy(next, &n, 4);
  return 0;
}

Status check_fd_array(const MapDef& def) {
  const std::string type = map_type_name(def.type);
  if (def.value_size != 4) return map_error(EINVAL, fmt::format("value_size is {}; a {} map holds 4-byte fds", def.value_size, type));
  if (def.map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG))
    return map_error(EINVAL, fmt::format("BPF_F_RDONLY_PROG/BPF_F_WRONLY_PROG are not for {} maps", type));
  constexpr uint32_t kFlags = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_PRESERVE_ELEMS;
  if (def.max_entries == 0) return map_error(EINVAL, "max_entries must be > 0");
  if (def.key_size != 4) return map_error(EINVAL, fmt::format("key_size is {}; {} keys are 4-byte indexes", def.key_size, type));
  if (def.map_flags & ~kFlags) return map_error(EINVAL, fmt::format("map_flags {:#x} has flags a {} map does not take", def.map_flags, type));
  if ((def.map_flags & BPF_F_PRESERVE_ELEMS) && def.type != BPF_MAP_TYPE_PERF_EVENT_ARRAY)
    return map_error(EINVAL, "BPF_F_PRESERVE_ELEMS is only for perf event arrays");
  if (uint64_t{def.max_entries} * 16 > kMaxMapBytes) return map_error(ENOMEM, fmt::format("max_entries {} is too large", def.max_entries));
  return ok_status();
}

}  // namespace bpfvm::maps::detail
