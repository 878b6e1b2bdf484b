// bpfvm for applications: load a clang-built BPF object, configure it, and run its programs
// as verified extension code at your own hook points. The shape is libbpf's
// (bpf_object__open / __load, bpf_object__find_program_by_name, bpf_map__lookup_elem), in
// C++ with errors as values.
//
//   auto object = bpfvm::Object::open("filter.bpf.o");          // parse, nothing created yet
//   object->set_global("filter.rodata", "threshold", 10);         // const volatile config
//   object->add_helper({1000, "app_log", my_log_helper});         // your own helper
//   object->load();                                               // maps created, checked
//   auto r0 = object->program("score")->run_on(memory);           // r1 = memory, r2 = size
//   object->map("counts")->lookup(key);
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

#include "helpers/helper_table.hpp"
#include "helpers/linux_helpers.hpp"
#include "hooks/test_run.hpp"
#include "maps/map.hpp"
#include "object/object.hpp"
#include "runtime/loader.hpp"
#include "support/result.hpp"

namespace bpfvm {

// A program of a loaded object.
class Program {
 public:
  explicit Program(const LoadedProgram& program) : program_(&program) {}
  [[nodiscard]] const std::string& name() const { return program_->name(); }
  [[nodiscard]] uint32_t type() const { return program_->prog_type(); }
  [[nodiscard]] Engine engine() const { return program_->engine(); }

  // Runs on application memory: r1 = its address, r2 = its size; the program may read and
  // write it (and nothing else of the application). Returns r0.
  [[nodiscard]] Result<uint64_t> run_on(std::span<uint8_t> memory, TraceSink* trace = nullptr) const {
    RunOptions options = memory_run_options(memory);
    options.trace = trace;
    return program_->run(std::move(options));
  }

  // As BPF_PROG_TEST_RUN: a packet (XDP, tc, socket filter) or a context, built for the type.
  [[nodiscard]] Result<TestRunResult> test_run(TestRunRequest request, TraceSink* trace = nullptr) const {
    if (request.prog_type == 0) request.prog_type = program_->prog_type();
    return bpfvm::test_run(program_->runner(trace), request);
  }

 private:
  const LoadedProgram* program_;
};

class Object {
 public:
  [[nodiscard]] static Result<Object> open(const std::filesystem::path& path) {
    auto spec = object::open_object(path);
    if (!spec) return spec.error();
    return Object(std::move(*spec));
  }

  // Sets a global variable before load(): `const volatile` configuration in .rodata, or
  // initial values in .data. `map` is libbpf's name ("filter.rodata").
  [[nodiscard]] Status set_global(std::string_view map, std::string_view var, std::span<const uint8_t> bytes) {
    if (loaded_) return input_error("set_global after load(): globals are part of the loaded object");
    return spec_.set_var(map, var, bytes);
  }
  template <typename T>
    requires std::is_trivially_copyable_v<T>
  [[nodiscard]] Status set_global(std::string_view map, std::string_view var, const T& value) {
    return set_global(map, var, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }

  // Adds a helper the programs may call by id (replaces a Linux helper with the same id; use ids
  // above 1000 for your own). Before load().
  [[nodiscard]] Status add_helper(Helper helper) {
    if (loaded_) return input_error("add_helper after load(): programs are linked to their helpers at load");
    if (helper.fn == nullptr) return input_error("add_helper: the helper has no function");
    helpers_->add(std::move(helper));
    return ok_status();
  }

  // Creates the maps and makes the programs runnable; fails with what is wrong and where.
  // Programs run JIT-compiled where the host has the JIT (memory accesses checked at run time
  // until the verifier lands), else interpreted; LoadOptions{Engine::kInterpreter} asks for
  // the interpreter.
  [[nodiscard]] Status load(LoadOptions options = {}) {
    if (loaded_) return input_error("the object is already loaded");
    auto loaded = LoadedObject::load(spec_, helpers_, options);
    if (!loaded) return loaded.error();
    loaded_ = std::make_unique<LoadedObject>(std::move(*loaded));
    return ok_status();
  }

  // After load(); nullopt when there is no such program (or the object is not loaded).
  [[nodiscard]] std::optional<Program> program(std::string_view name) const {
    const LoadedProgram* p = loaded_ ? loaded_->program(name) : nullptr;
    if (p == nullptr) return std::nullopt;
    return Program(*p);
  }
  // After load(): the map named as libbpf names it ("counts", "filter.bss"), or nullptr.
  [[nodiscard]] maps::Map* map(std::string_view name) const { return loaded_ ? loaded_->map(name) : nullptr; }
  [[nodiscard]] const object::ObjectSpec& spec() const { return spec_; }

 private:
  explicit Object(object::ObjectSpec spec)
      : spec_(std::move(spec)), helpers_(std::make_shared<HelperTable>(linux_helpers())) {}
  object::ObjectSpec spec_;
  std::shared_ptr<HelperTable> helpers_;
  std::unique_ptr<LoadedObject> loaded_;
};

}  // namespace bpfvm
