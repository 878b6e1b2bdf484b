#include "maps/prog_array.hpp"

#include <cstring>
#include <mutex>

#include "maps/families.hpp"

namespace bpfvm::maps::detail {
namespace {

class ProgArray final : public ProgArrayMap {
 public:
  explicit ProgArray(const MapDef& def) : ProgArrayMap(def), slots_(def.max_entries) {}

  void set_resolver(Resolver resolver) override {
    std::lock_guard lock(lock_);
    resolver_ = std::move(resolver);
  }

  Status set(uint32_t index, ProgramRef prog) override {
    if (index >= def_.max_entries)
      return map_error(E2BIG, fmt::format("prog_array '{}': index {} is out of range (max_entries {})", def_.name, index,
                                          def_.max_entries));
    slots_.exchange(index, std::move(prog));
    return ok_status();
  }

  ProgramRef get(uint32_t index) const override { return index < def_.max_entries ? slots_.get(index) : ProgramRef{}; }

  // Programs cannot look up, update or delete prog_array slots (the verifier says so).
  void* lookup_elem(const void*) override { return nullptr; }
  long update_elem(const void*, const void*, uint64_t) override { return fail(EINVAL, "programs cannot update a prog_array"); }
  long delete_elem(const void* key) override { return sys_delete(key); }

 protected:
  long sys_lookup(const void* key, void* value, uint64_t flags) const override {
    if (flags) return fail(EINVAL, "no lookup flags for a prog_array");
    const uint32_t index = load_u32(key);
    if (index >= def_.max_entries) return fail(ENOENT, "index out of range");
    const ProgramRef prog = slots_.get(index);
    if (!prog) return fail(ENOENT, "slot is empty");
    std::memcpy(value, &prog.id, 4);  // user space sees the program's id
    return 0;
  }

  long sys_update(const void* key, const void* value, uint64_t flags) override {
    if (flags != BPF_ANY) return fail(EINVAL, "prog_array updates take BPF_ANY only");
    const uint32_t index = load_u32(key);
    if (index >= def_.max_entries) return fail(E2BIG, "index out of range");
    Resolver resolver;
    {
      std::lock_guard lock(lock_);
      resolver = resolver_;
    }
    std::optional<ProgramRef> prog = resolver ? resolver(load_u32(value)) : std::nullopt;
    if (!prog || !*prog) return fail(EBADF, "no such program");
    slots_.exchange(index, std::move(*prog));
    return 0;
  }

  long sys_delete(const void* key) override { return slots_.erase(key); }

  long sys_get_next_key(const void* key, void* next) const override {
    return array_get_next_key(def_.max_entries, key, next);
  }

 private:
  FdSlots<ProgramRef> slots_;
  mutable std::mutex lock_;  // for the resolver
  Resolver resolver_;
};

}  // namespace

Result<MapPtr> make_prog_array(const MapDef& def) {
  if (auto s = check_fd_array(def); !s) return s.error();
  return MapPtr(new ProgArray(def));
}

}  // namespace bpfvm::maps::detail
