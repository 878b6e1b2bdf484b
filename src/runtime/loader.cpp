#include "runtime/loader.hpp"

#include <fmt/format.h>
#include <linux/bpf.h>

#include <atomic>
#include <cstring>

#include "helpers/linux_helpers.hpp"
#include "maps/map_helpers.hpp"
#include "maps/map_in_map.hpp"
#include "maps/prog_array.hpp"
#include "support/cpu.hpp"
#include "verifier/context_rules.hpp"
#include "verifier/explain.hpp"
#include "verifier/object_input.hpp"
#include "verifier/structure.hpp"
#include "verifier/verifier.hpp"

namespace bpfvm {
namespace {

Error load_error(std::string message, std::optional<std::size_t> insn = std::nullopt) {
  return Error{ErrorKind::kInput, std::move(message), insn, std::nullopt};
}

maps::MapDef map_def(const object::MapSpec& spec) {
  maps::MapDef def;
  def.type = spec.type;
  def.key_size = spec.key_size;
  def.value_size = spec.value_size;
  def.max_entries = spec.max_entries;
  // As libbpf does: a perf event array without max_entries gets one slot per possible CPU.
  if (def.type == BPF_MAP_TYPE_PERF_EVENT_ARRAY && def.max_entries == 0) def.max_entries = cpu::possible();
  def.map_flags = spec.map_flags;
  def.map_extra = spec.map_extra;
  def.name = spec.kernel_name;
  if (spec.inner) def.inner = std::make_shared<maps::MapDef>(map_def(*spec.inner));
  return def;
}

// libbpf's bpf_object__create_map creates these map types without BTF (the kernel would
// refuse key/value types for most of them).
bool created_without_btf(uint32_t type) {
  switch (type) {
    case BPF_MAP_TYPE_PERF_EVENT_ARRAY:
    case BPF_MAP_TYPE_CGROUP_ARRAY:
    case BPF_MAP_TYPE_STACK_TRACE:
    case BPF_MAP_TYPE_ARRAY_OF_MAPS:
    case BPF_MAP_TYPE_HASH_OF_MAPS:
    case BPF_MAP_TYPE_DEVMAP:
    case BPF_MAP_TYPE_DEVMAP_HASH:
    case BPF_MAP_TYPE_CPUMAP:
    case BPF_MAP_TYPE_XSKMAP:
    case BPF_MAP_TYPE_SOCKMAP:
    case BPF_MAP_TYPE_SOCKHASH:
    case BPF_MAP_TYPE_QUEUE:
    case BPF_MAP_TYPE_STACK:
      return true;
    default:
      return false;
  }
}

}  // namespace

LoadedProgram::LoadedProgram(std::string name, std::string section, uint32_t type, Interpreter interpreter,
                             std::optional<jit::JitProgram> jit, std::shared_ptr<const ProgramEnvironment> env)
    : name_(std::move(name)), section_(std::move(section)), prog_type_(type), interpreter_(std::move(interpreter)),
      jit_(std::move(jit)), env_(std::move(env)) {
  static std::atomic<uint32_t> next_id{1};
  id_ = next_id++;
}

Result<uint64_t> LoadedProgram::run(RunOptions options) const { return run_with(options, nullptr); }

// The caller's options plus the environment (the maps' memory, the trace sink), built in a
// per-thread RunOptions reused from run to run: its vector keeps its capacity, so a run
// allocates nothing. A run nested in another on the same thread (from a helper) builds its own.
Result<uint64_t> LoadedProgram::run_with(const RunOptions& options, TraceSink* trace) const {
  thread_local RunOptions reused;
  thread_local bool busy = false;
  const auto run_as_built = [&](RunOptions& o) {
    if (jit_ && !jit_->checked()) {
      // Only checked code and untrusted helpers read the regions: the rest, field by field
      // (copying the regions was a fifth of a short program's run).
      static_assert(sizeof(RunOptions) == 136, "a RunOptions field was added: copy it here");
      o.args = options.args;
      o.initialized_args = options.initialized_args;
      o.regions.clear();
      o.packet = options.packet;
      o.branch_limit = options.branch_limit;
      o.prog_type = options.prog_type;
      o.context = options.context;
      o.trace = trace ? trace : options.trace;
      o.env = env_.get();
      o.user = options.user;
      return jit_->run(o);
    }
    o = options;
    o.env = env_.get();
    if (trace) o.trace = trace;
    o.regions.insert(o.regions.end(), env_->regions.begin(), env_->regions.end());
    return jit_ ? jit_->run(o) : interpreter_.run(o);
  };
  if (busy) {
    // Not a std::optional<RunOptions> declared for every run: constructing even an empty one
    // zeroed its 144 bytes (`rep stos`), a third of a short program's run.
    RunOptions nested;
    return run_as_built(nested);
  }
  busy = true;
  auto r = run_as_built(reused);
  busy = false;
  return r;
}

ProgramRunner LoadedProgram::runner(TraceSink* trace) const {
  return [this, trace](const RunOptions& options) { return run_with(options, trace); };
}

const LoadedProgram* LoadedObject::program(std::string_view name) const {
  for (const auto& p : programs_) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

maps::Map* LoadedObject::map(std::string_view name) const {
  for (const NamedMap& m : maps_) {
    if (m.name == name) return m.map.get();
  }
  return nullptr;
}

Result<LoadedObject> LoadedObject::load(const object::ObjectSpec& spec, std::shared_ptr<const HelperTable> helpers,
                                        LoadOptions options) {
  LoadedObject object;
  object.btf_ = spec.btf;
  auto env = std::make_shared<ProgramEnvironment>();
  // The table lives as long as any program of the object (interpreters keep a pointer to it).
  env->helpers = helpers ? std::move(helpers) : std::shared_ptr<const HelperTable>(&linux_helpers(), [](const HelperTable*) {});

  // Maps first: programs refer to them.
  for (const object::MapSpec& ms : spec.maps) {
    auto created = maps::create_map(map_def(ms));
    if (!created) {
      Error e = created.error();
      e.message = fmt::format("map '{}': {}", ms.name, e.message);
      return e;
    }
    maps::MapPtr m = *created;
    if (ms.kind != object::MapKind::kBtfDefined && !ms.data.empty()) {
      const uint32_t zero = 0;
      auto st = m->update({reinterpret_cast<const uint8_t*>(&zero), 4}, ms.data);
      if (!st) return load_error(fmt::format("map '{}': initial data: {}", ms.name, st.error().message));
    }
    if (ms.read_only()) {
      if (auto st = m->freeze(); !st) return load_error(fmt::format("map '{}': {}", ms.name, st.error().message));
    }
    NamedMap named{ms.name, m};
    if (spec.btf && !created_without_btf(ms.type)) {
      named.btf_key_type_id = ms.btf_key_type_id;
      named.btf_value_type_id = ms.btf_value_type_id;
    }
    object.maps_.push_back(std::move(named));
    env->maps.push_back(m);
  }
  // Statically initialised map-in-map slots (`.values = { [i] = &inner }`).
  for (std::size_t i = 0; i < spec.maps.size(); ++i) {
    for (const object::MapSlotInit& slot : spec.maps[i].initial_slots) {
      if (slot.kind != object::MapSlotInit::Kind::kMap) continue;
      auto* outer = dynamic_cast<maps::MapInMap*>(object.maps_[i].map.get());
      const auto inner_index = spec.map_index(slot.target);
      if (outer == nullptr || !inner_index) {
        return load_error(fmt::format("map '{}': slot {} names '{}', which is not a map of this object",
                                      spec.maps[i].name, slot.slot, slot.target));
      }
      auto st = outer->set({reinterpret_cast<const uint8_t*>(&slot.slot), 4}, object.maps_[*inner_index].map);
      if (!st) return load_error(fmt::format("map '{}' slot {}: {}", spec.maps[i].name, slot.slot, st.error().message));
    }
  }
  for (const auto& m : env->maps) {
    for (const MemoryRegion& r : m->value_regions()) env->regions.push_back(r);
  }

  // The verifier walks a callback (bpf_loop, bpf_for_each_map_elem...) once, where Linux walks
  // it until its states converge (docs/verifier.md, "Remaining"): its proof does not cover what
  // repeated calls leave behind. So an object that passes callbacks keeps the run-time checks,
  // all its programs alike, so that tail calls between them stay in one mode.
  bool passes_callbacks = false;
  for (const object::ProgramSpec& ps : spec.programs) {
    for (std::size_t i = 0; i + 1 < ps.insns.size(); ++i) {
      const isa::RawInsn& insn = ps.insns[i];
      if (insn.code == (BPF_LD | BPF_IMM | BPF_DW) && insn.src() == object::kPseudoFunc) passes_callbacks = true;
    }
  }
  for (const object::ProgramSpec& ps : spec.programs) {
    bool verified = false;
    std::vector<verifier::InsnFacts> facts;  // what the verifier proved, for the JIT
    if (options.verify && verifier::has_context_rules(ps.prog_type)) {
      auto c = verifier::program_case(spec, ps);
      if (!c) return load_error(fmt::format("program '{}' (section {}): {}", ps.name, ps.section, c.error().message));
      verifier::Options vo = c->options;
      vo.helpers = env->helpers.get();
      verifier::Verdict verdict = verifier::verify(c->insns, vo);
      if (!verdict.accepted) {
        Error e = load_error(fmt::format("program '{}' (section {}): the verifier rejects it: {}\n{}", ps.name,
                                         ps.section, verdict.message, verifier::explain(verdict, *c)),
                             verdict.insn);
        e.errnum = verdict.error;
        return e;
      }
      verified = true;
      facts = std::move(verdict.facts);
    }
    std::vector<isa::RawInsn> raw = ps.insns;
    // Map references: the kernel would take an fd; bpfvm writes the map's id (for disassembly)
    // and, below, the address to load in the decoded instruction's second slot.
    for (const object::MapReloc& reloc : ps.map_relocs) {
      if (reloc.map >= object.maps_.size() || reloc.insn + 1 >= raw.size()) {
        return load_error(fmt::format("program '{}': relocation of insn {} names map {} of {}", ps.name, reloc.insn,
                                      reloc.map, object.maps_.size()));
      }
      raw[reloc.insn].imm = static_cast<int32_t>(object.maps_[reloc.map].map->id());
    }
    auto checked = verifier::check_structure(raw);
    if (const auto* r = std::get_if<verifier::Rejection>(&checked)) {
      return load_error(fmt::format("program '{}' (section {}): {}", ps.name, ps.section, r->message), r->insn);
    }
    std::vector<isa::Insn> insns = std::move(std::get<verifier::Structure>(checked).insns);
    for (const object::MapReloc& reloc : ps.map_relocs) {
      maps::Map* m = object.maps_[reloc.map].map.get();
      if (reloc.kind == object::MapReloc::Kind::kMapFd) {
        insns[reloc.insn + 1].imm64 = reinterpret_cast<uint64_t>(m);
        continue;
      }
      // A map value's address: direct access works for single-element arrays (global data).
      const uint32_t zero = 0;
      auto* value = static_cast<uint8_t*>(m->max_entries() == 1 ? m->lookup_elem(&zero) : nullptr);
      if (value == nullptr || reloc.offset >= m->value_size()) {
        return load_error(fmt::format("program '{}': insn {} points into map '{}' at offset {}, which has no "
                                      "directly addressable value there",
                                      ps.name, reloc.insn, object.maps_[reloc.map].name, reloc.offset),
                          reloc.insn);
      }
      insns[reloc.insn + 1].imm64 = reinterpret_cast<uint64_t>(value + reloc.offset);
    }
    auto in_program = [&](Error e) {
      e.message = fmt::format("program '{}' (section {}): {}", ps.name, ps.section, e.message);
      return e;
    };
    // Verified programs run as the kernel runs them, without run-time checks, and look their
    // maps up without the helper: ARRAY maps inline, the others by a direct call. The rest
    // (bpfvm's own program types, --unverified, objects passing callbacks) run in checked
    // mode (docs/design.md).
    const bool unchecked = verified && !passes_callbacks;
    std::vector<MapLookup> map_lookups;
    if (unchecked && maps::standard_map_lookup(*env->helpers)) {
      for (const auto& m : object.maps_) map_lookups.push_back(maps::direct_map_lookup(*m.map));
    }
    std::optional<jit::JitProgram> jit;
    if (options.engine == Engine::kJit) {
      jit::JitOptions jo{.checked = !unchecked, .relocated = true, .map_lookups = map_lookups};
      // The verifier saw these instructions by the same indices (only map references differ).
      if (unchecked && facts.size() == insns.size()) jo.facts = std::move(facts);
      auto compiled = jit::JitProgram::compile(insns, *env->helpers, std::move(jo));
      if (!compiled) return in_program(compiled.error());
      jit.emplace(std::move(*compiled));
    }
    auto interpreter = Interpreter::create(
        std::move(insns), *env->helpers,
        InterpreterOptions{.relocated = true, .checked = !unchecked, .map_lookups = std::move(map_lookups)});
    if (!interpreter) return in_program(interpreter.error());
    object.programs_.push_back(std::shared_ptr<LoadedProgram>(
        new LoadedProgram(ps.name, ps.section, ps.prog_type, std::move(*interpreter), std::move(jit), env)));
  }

  // PROG_ARRAY slots: statically initialised ones (`.values = { [i] = &prog }`) now, and
  // user-space updates by program id. The resolver holds the programs weakly: a map must not
  // keep its own object alive.
  std::vector<std::weak_ptr<LoadedProgram>> weak(object.programs_.begin(), object.programs_.end());
  for (std::size_t i = 0; i < spec.maps.size(); ++i) {
    auto* array = dynamic_cast<maps::ProgArrayMap*>(object.maps_[i].map.get());
    if (array == nullptr) continue;
    array->set_resolver([weak](uint32_t id) -> std::optional<maps::ProgramRef> {
      for (const auto& w : weak) {
        if (auto p = w.lock(); p && p->id() == id) return maps::ProgramRef{id, p};
      }
      return std::nullopt;
    });
    for (const object::MapSlotInit& slot : spec.maps[i].initial_slots) {
      std::shared_ptr<LoadedProgram> target;
      for (const auto& p : object.programs_) {
        if (p->name() == slot.target) target = p;
      }
      if (slot.kind != object::MapSlotInit::Kind::kProgram || !target) {
        return load_error(fmt::format("map '{}': slot {} names '{}', which is not a program of this object",
                                      spec.maps[i].name, slot.slot, slot.target));
      }
      if (auto st = array->set(slot.slot, maps::ProgramRef{target->id(), target}); !st) {
        return load_error(fmt::format("map '{}' slot {}: {}", spec.maps[i].name, slot.slot, st.error().message));
      }
    }
  }
  return object;
}

}  // namespace bpfvm
