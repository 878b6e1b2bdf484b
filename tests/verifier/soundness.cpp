#include "soundness.hpp"

#include "test_rng.hpp"

#include <fmt/format.h>
#include <linux/bpf.h>

#include <array>
#include <optional>
#include <cstring>
#include <utility>

#include "helpers/linux_helpers.hpp"
#include "hooks/test_run.hpp"
#include "maps/map_helpers.hpp"
#include "progtypes/contexts.hpp"
#include "progtypes/progtypes.hpp"
#include "exec/jit/x86_64/jit.hpp"
#include "verifier/verifier.hpp"

namespace bpfvm::test {
namespace {

// ---- helpers whose pointer arguments are checked ----------------------------------------
//
// Helpers run unchecked when the verifier accepted the program (it proved their arguments),
// so a wrong proof would go unnoticed there: each helper of linux_helpers() is wrapped by a
// trampoline that first checks every pointer argument against the program's memory.

thread_local std::vector<std::string>* t_violations = nullptr;
// Runs compared between engines: helpers whose results vary (time, random numbers, the CPU)
// give this sequence instead, restarted for each engine's run.
thread_local std::optional<uint64_t> t_fixed_helpers;

const std::vector<Helper>& original_helpers() {
  static const std::vector<Helper> helpers = linux_helpers().helpers();
  return helpers;
}

void check_pointer(const Helper& h, const HelperContext& ctx, int arg, uint64_t address, std::size_t size, bool write) {
  if (ctx.host == nullptr || size == 0 || ctx.host->translate(address, size, write) != nullptr) return;
  if (t_violations == nullptr) return;
  t_violations->push_back(fmt::format("insn {}: {}#{} argument R{}: {} of {} bytes at 0x{:x} is outside the "
                                      "program's memory",
                                      ctx.pc, h.name, h.id, arg + 1, write ? "write" : "read", size, address));
}

void check_arguments(const Helper& h, const std::array<uint64_t, 5>& r, const HelperContext& ctx) {
  const auto& args = h.proto.args;
  const maps::Map* map = args[0] == ArgType::kConstMapPtr ? maps::live_map(r[0]) : nullptr;
  for (int i = 0; i < 5; ++i) {
    const auto k = static_cast<std::size_t>(i);
    const bool sized = i + 1 < 5 && (args[k + 1] == ArgType::kConstSize || args[k + 1] == ArgType::kConstSizeOrZero);
    const std::size_t size = sized ? static_cast<std::size_t>(r[k + 1]) : 0;
    switch (args[k]) {
      case ArgType::kPtrToMapKey:
        if (map) check_pointer(h, ctx, i, r[k], map->key_size(), false);
        break;
      case ArgType::kPtrToMapValue:
        if (map) check_pointer(h, ctx, i, r[k], map->value_size(), false);
        break;
      case ArgType::kPtrToUninitMapValue:
        if (map) check_pointer(h, ctx, i, r[k], map->value_size(), true);
        break;
      case ArgType::kPtrToMem:
        check_pointer(h, ctx, i, r[k], size, false);
        break;
      case ArgType::kPtrToMemOrNull:
        if (r[k] != 0) check_pointer(h, ctx, i, r[k], size, false);
        break;
      case ArgType::kPtrToUninitMem:
        check_pointer(h, ctx, i, r[k], size, true);
        break;
      case ArgType::kPtrToLong:
        check_pointer(h, ctx, i, r[k], 8, true);
        break;
      default:
        break;
    }
  }
}

template <std::size_t I>
uint64_t checked_helper(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, HelperContext& ctx) {
  const Helper& h = original_helpers()[I];
  check_arguments(h, {r1, r2, r3, r4, r5}, ctx);
  if (t_fixed_helpers) {
    switch (h.id) {
      case BPF_FUNC_ktime_get_ns: return *t_fixed_helpers += 1000;
      case BPF_FUNC_get_prandom_u32: return (*t_fixed_helpers = *t_fixed_helpers * 6364136223846793005ULL + 1) >> 32;
      case BPF_FUNC_get_smp_processor_id: return 0;
      default: break;
    }
  }
  return h.fn(r1, r2, r3, r4, r5, ctx);
}

constexpr std::size_t kMaxHelpers = 512;

template <std::size_t... I>
constexpr std::array<HelperFn, sizeof...(I)> trampolines(std::index_sequence<I...>) {
  return {&checked_helper<I>...};
}

const HelperTable& checked_helpers() {
  static const HelperTable table = [] {
    static constexpr auto fns = trampolines(std::make_index_sequence<kMaxHelpers>());
    HelperTable t;
    const auto& originals = original_helpers();
    if (originals.size() > kMaxHelpers) throw std::logic_error("raise kMaxHelpers");
    for (std::size_t i = 0; i < originals.size(); ++i) {
      Helper h = originals[i];
      if (h.fn != nullptr) h.fn = fns[i];
      t.add(std::move(h));
    }
    return t;
  }();
  return table;
}

// ---- inputs ------------------------------------------------------------------------------

void randomize_maps(const LoadedObject& object, TestRng& rng) {
  for (const NamedMap& named : object.maps()) {
    maps::Map& m = *named.map;
    if (m.frozen()) continue;
    auto key_of = [&](uint32_t k) {
      std::vector<uint8_t> key(m.key_size(), 0);
      std::memcpy(key.data(), &k, std::min<std::size_t>(4, key.size()));
      return key;
    };
    switch (m.type()) {
      case BPF_MAP_TYPE_ARRAY:
      case BPF_MAP_TYPE_PERCPU_ARRAY:
        for (uint32_t i = 0; i < m.max_entries(); ++i) (void)m.update(key_of(i), rng.bytes(m.user_value_size()));
        break;
      case BPF_MAP_TYPE_HASH:
      case BPF_MAP_TYPE_PERCPU_HASH:
      case BPF_MAP_TYPE_LRU_HASH:
      case BPF_MAP_TYPE_LRU_PERCPU_HASH:
        // Keys the programs use (small numbers) present or absent; values random.
        for (uint32_t k = 0; k < 4; ++k) {
          if (rng.chance(50)) (void)m.update(key_of(k), rng.bytes(m.user_value_size()));
          else (void)m.erase(key_of(k));
        }
        break;
      default:
        break;
    }
  }
}

std::size_t packet_size(TestRng& rng) {
  switch (rng.below(10)) {
    case 0: return static_cast<std::size_t>(rng.range(600, 1499));
    case 1:
    case 2:
    case 3: return static_cast<std::size_t>(rng.range(80, 599));
    default: return static_cast<std::size_t>(rng.range(14, 79));
  }
}

// The memory the verifier promised the program, and nothing more: the context, the packet
// from data_meta (XDP) or data to data_end, every array element on its own (so an access past
// a value's end is caught even when the next element follows), other maps' value memory.
std::vector<MemoryRegion> narrowed_regions(const RunOptions& o, ContextKind kind, const LoadedObject& object) {
  std::vector<MemoryRegion> regions;
  if (kind == ContextKind::kXdp || kind == ContextKind::kSkb) {
    regions.push_back(o.regions.at(0));
    uint32_t begin = 0, end = 0;
    if (kind == ContextKind::kXdp) {
      const auto* md = reinterpret_cast<const xdp_md*>(o.args[0]);
      begin = md->data_meta;
      end = md->data_end;
    } else {
      const auto* skb = reinterpret_cast<const __sk_buff*>(o.args[0]);
      begin = skb->data;
      end = skb->data_end;
    }
    regions.push_back(MemoryRegion{packet_pointer(begin), static_cast<std::size_t>(end - begin), true});
  } else {
    regions = o.regions;
  }
  for (const NamedMap& named : object.maps()) {
    const maps::Map& m = *named.map;
    const bool writable = !m.frozen() && (m.map_flags() & BPF_F_RDONLY_PROG) == 0;
    if (m.type() == BPF_MAP_TYPE_ARRAY) {
      for (uint32_t i = 0; i < m.max_entries(); ++i) {
        auto* value = static_cast<uint8_t*>(const_cast<maps::Map&>(m).lookup_elem(&i));
        if (value != nullptr) regions.push_back(MemoryRegion{value, m.value_size(), writable});
      }
    } else {
      for (const MemoryRegion& r : m.value_regions()) regions.push_back(r);
    }
  }
  return regions;
}

bool in_map_memory(const LoadedObject& object, uint64_t address) {
  for (const NamedMap& named : object.maps()) {
    for (const MemoryRegion& r : named.map->value_regions()) {
      const auto start = reinterpret_cast<uint64_t>(r.data);
      if (address >= start && address - start < r.size) return true;
    }
  }
  return false;
}

}  // namespace

SoundnessReport check_loaded(const LoadedObject& object, const LoadedProgram& program, uint64_t seed, int runs,
                             const std::vector<verifier::InsnFacts>* facts) {
  SoundnessReport report;
  report.accepted = true;
  const ProgTypeInfo* info = prog_type_info(program.prog_type());
  if (info == nullptr || info->context == ContextKind::kNone || info->context == ContextKind::kMemory) {
    report.skipped = static_cast<std::size_t>(runs);
    return report;
  }
  auto interpreter = Interpreter::create(program.insns(), checked_helpers(), true);
  if (!interpreter) {
    report.violations.push_back("the interpreter refuses the program: " + interpreter.error().to_string());
    return report;
  }
  const ContextKind kind = info->context;
  const ProgramRunner runner = [&](const RunOptions& o) {
    RunOptions strict = o;
    strict.regions = narrowed_regions(o, kind, object);
    strict.branch_limit = uint64_t{1} << 22;  // accepted programs end; a hang is a violation too
    return interpreter->run(strict);
  };
  // With facts: the JIT applies them in checked code, and must agree with the interpreter on
  // every input (a wrong fact changes a result, or trips the checks).
  std::optional<jit::JitProgram> with_facts;
  if (facts != nullptr && jit::jit_available()) {
    auto compiled = jit::JitProgram::compile(
        program.insns(), checked_helpers(), jit::JitOptions{.checked = true, .relocated = true, .facts = *facts});
    if (!compiled) {
      report.violations.push_back("the JIT refuses the program: " + compiled.error().to_string());
      return report;
    }
    with_facts.emplace(std::move(*compiled));
  }
  const ProgramRunner jit_runner = [&](const RunOptions& o) {
    RunOptions strict = o;
    strict.regions = narrowed_regions(o, kind, object);
    strict.branch_limit = uint64_t{1} << 22;
    return with_facts->run(strict);
  };
  TestRng rng(seed);
  std::vector<std::string> violations;
  t_violations = &violations;
  for (int i = 0; i < runs; ++i) {
    const TestRng maps_rng = rng;
    randomize_maps(object, rng);
    TestRunRequest request;
    request.prog_type = program.prog_type();
    if (kind == ContextKind::kXdp || kind == ContextKind::kSkb) request.data_in = rng.bytes(packet_size(rng));
    else request.ctx_in = rng.bytes(kind == ContextKind::kPtRegs ? 168 : 512);
    if (with_facts) t_fixed_helpers = seed + static_cast<uint64_t>(i);
    const auto result = test_run(runner, request);
    if (!violations.empty()) break;
    if (with_facts) {
      TestRng again = maps_rng;
      randomize_maps(object, again);  // the same map contents again
      t_fixed_helpers = seed + static_cast<uint64_t>(i);
      const auto jitted = test_run(jit_runner, request);
      t_fixed_helpers.reset();
      if (!violations.empty()) break;
      // A map value's address may differ: the hash map's values were placed anew.
      const bool same_r0 = result.ok() && jitted.ok() &&
                           (jitted->r0 == result->r0 || (in_map_memory(object, result->r0) && in_map_memory(object, jitted->r0)));
      const bool same = result.ok() ? same_r0 && jitted->data_out == result->data_out && jitted->ctx_out == result->ctx_out
                                    : !jitted.ok() && jitted.error().to_string() == result.error().to_string();
      if (!same) {
        violations.push_back(fmt::format(
            "run {}: the JIT with the verifier's facts disagrees with the interpreter: {} vs {}", i,
            result.ok() ? fmt::format("r0 {:#x}", result->r0) : result.error().to_string(),
            jitted.ok() ? fmt::format("r0 {:#x}", jitted->r0) : jitted.error().to_string()));
        break;
      }
    }
    if (result.ok()) {
      ++report.runs;
    } else if (result.error().kind == ErrorKind::kInput && !result.error().insn) {
      ++report.skipped;  // the test run refused the input
    } else {
      violations.push_back(result.error().to_string());
      break;
    }
  }
  t_violations = nullptr;
  report.violations = std::move(violations);
  return report;
}

Result<LoadedObject> load_case(const verifier::ProgramCase& program) {
  object::ObjectSpec spec;
  spec.name = "soundness";
  spec.license = program.options.gpl_compatible ? "GPL" : "Proprietary";
  for (std::size_t i = 0; i < program.options.maps.size(); ++i) {
    const verifier::MapInfo& m = program.options.maps[i];
    object::MapSpec ms;
    ms.name = ms.kernel_name = fmt::format("m{}", i);
    ms.type = m.type;
    ms.key_size = m.key_size;
    ms.value_size = m.value_size;
    ms.max_entries = m.max_entries;
    ms.map_flags = m.map_flags;
    spec.maps.push_back(std::move(ms));
  }
  object::ProgramSpec ps;
  ps.name = "prog";
  ps.prog_type = program.options.prog_type;
  ps.expected_attach_type = program.options.expected_attach_type;
  ps.insns = program.insns;
  ps.own_insn_count = ps.insns.size();
  for (std::size_t i = 0; i + 1 < ps.insns.size(); ++i) {
    const isa::RawInsn& insn = ps.insns[i];
    if (insn.code == (BPF_LD | BPF_IMM | BPF_DW) && (insn.src() == BPF_PSEUDO_MAP_FD || insn.src() == BPF_PSEUDO_MAP_VALUE)) {
      object::MapReloc reloc;
      reloc.insn = i;
      reloc.map = static_cast<std::size_t>(insn.imm);
      reloc.kind = insn.src() == BPF_PSEUDO_MAP_FD ? object::MapReloc::Kind::kMapFd : object::MapReloc::Kind::kMapValue;
      reloc.offset = static_cast<uint32_t>(ps.insns[i + 1].imm);
      ps.map_relocs.push_back(reloc);
    }
  }
  spec.programs.push_back(std::move(ps));
  return LoadedObject::load(spec, nullptr, LoadOptions{.engine = Engine::kInterpreter, .verify = false});
}

SoundnessReport check_case(const verifier::ProgramCase& program, uint64_t seed, int runs) {
  SoundnessReport report;
  verifier::Options options = program.options;
  options.helpers = &linux_helpers();
  options.log_level = 0;
  const verifier::Verdict verdict = verifier::verify(program.insns, options);
  if (!verdict.accepted) return report;
  report.accepted = true;
  auto loaded = load_case(program);
  if (!loaded) {
    // Only map values bpfvm cannot address directly end here (not the verifier's business).
    report.skipped = static_cast<std::size_t>(runs);
    return report;
  }
  SoundnessReport ran = check_loaded(*loaded, *loaded->programs().front(), seed, runs, &verdict.facts);
  ran.accepted = true;
  return ran;
}

}  // namespace bpfvm::test
