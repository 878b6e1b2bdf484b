// Loading an object: the maps of an ObjectSpec are created, global data written into them
// (.rodata frozen), map references in the programs resolved, each program checked by the
// verifier's structural pass and made runnable. The libbpf bpf_object__load() of bpfvm.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "exec/interpreter.hpp"
#include "exec/jit/x86_64/jit.hpp"
#include "hooks/test_run.hpp"
#include "maps/map.hpp"
#include "object/object.hpp"
#include "runtime/environment.hpp"

namespace bpfvm {

// What runs an object's programs: the JIT where the host has one, or the interpreter. Either
// runs verified programs unchecked, the others with run-time checks (docs/design.md).
enum class Engine { kJit, kInterpreter };

[[nodiscard]] inline Engine default_engine() { return jit::jit_available() ? Engine::kJit : Engine::kInterpreter; }

struct LoadOptions {
  Engine engine = default_engine();
  // Run the verifier (src/verifier) on every program of a kernel program type, and refuse
  // the object when it rejects one, as BPF_PROG_LOAD would. Programs of bpfvm's own types
  // (plain memory for embedders) have no kernel rules and rely on the run-time checks.
  bool verify = true;
};

class LoadedProgram {
 public:
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::string& section() const { return section_; }
  [[nodiscard]] uint32_t prog_type() const { return prog_type_; }
  [[nodiscard]] uint32_t id() const { return id_; }  // unique in the process, from 1
  [[nodiscard]] Engine engine() const { return jit_ ? Engine::kJit : Engine::kInterpreter; }
  // The JIT-compiled code, when the program was loaded for the JIT.
  [[nodiscard]] const jit::JitProgram* jit() const { return jit_ ? &*jit_ : nullptr; }
  // What bpf_tail_call switches to: each engine's version of this program.
  [[nodiscard]] TailCallTarget tail_call_target() const { return {&interpreter_, jit()}; }
  // The instructions as loaded: map references carry the map's id in imm (as the kernel's
  // xlated dump shows them); the address to load is in the second slot's imm64.
  [[nodiscard]] const std::vector<isa::Insn>& insns() const { return interpreter_.insns(); }

  // Runs once with the object's maps reachable; options.env and the map regions are added.
  [[nodiscard]] Result<uint64_t> run(RunOptions options) const;
  // A runner for test_run() / run_pcap().
  [[nodiscard]] ProgramRunner runner(TraceSink* trace = nullptr) const;

 private:
  friend class LoadedObject;
  [[nodiscard]] Result<uint64_t> run_with(const RunOptions& options, TraceSink* trace) const;
  LoadedProgram(std::string name, std::string section, uint32_t type, Interpreter interpreter,
                std::optional<jit::JitProgram> jit, std::shared_ptr<const ProgramEnvironment> env);
  uint32_t id_;
  std::string name_;
  std::string section_;
  uint32_t prog_type_;
  Interpreter interpreter_;              // always: tail calls from interpreted programs use it
  std::optional<jit::JitProgram> jit_;   // when loaded for the JIT
  std::shared_ptr<const ProgramEnvironment> env_;
};

struct NamedMap {
  std::string name;  // libbpf's name: "counts", "hello.bss"
  maps::MapPtr map;
  // The key's and value's types in LoadedObject::btf() (0: none), as libbpf gives them to the
  // kernel: global data maps have a value type (the DATASEC) and no key type, and the map
  // types libbpf creates without BTF (perf event arrays, queues, map-in-maps...) have neither.
  uint32_t btf_key_type_id = 0;
  uint32_t btf_value_type_id = 0;
};

class LoadedObject {
 public:
  // Fails with what is wrong and where: the map that could not be created (with the kernel's
  // errno), the program and instruction the verifier rejected (with its message, errno and
  // explanation).
  // `helpers` defaults to linux_helpers(); embedders add their own (bpfvm::Object::add_helper).
  [[nodiscard]] static Result<LoadedObject> load(const object::ObjectSpec& spec,
                                                 std::shared_ptr<const HelperTable> helpers = nullptr,
                                                 LoadOptions options = {});

  [[nodiscard]] const std::vector<std::shared_ptr<LoadedProgram>>& programs() const { return programs_; }
  [[nodiscard]] const LoadedProgram* program(std::string_view name) const;
  [[nodiscard]] const std::vector<NamedMap>& maps() const { return maps_; }
  [[nodiscard]] maps::Map* map(std::string_view name) const;
  // The object's BTF (nullptr when it has none): the types of NamedMap's type ids.
  [[nodiscard]] const struct ::btf* btf() const { return btf_.get(); }

 private:
  object::BtfHandle btf_;
  std::vector<NamedMap> maps_;
  std::vector<std::shared_ptr<LoadedProgram>> programs_;
};

}  // namespace bpfvm
