// The abstract machine state the verifier walks with: registers, stack slots, frames and
// references, named and laid out after Linux's bpf_reg_state / bpf_func_state.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "verifier/bounds.hpp"

namespace bpfvm::verifier {

enum class RegType : uint8_t {
  kNotInit,
  kScalar,
  kCtx,
  kMapPtr,      // CONST_PTR_TO_MAP
  kMapValue,
  kMapKey,      // a for_each_map_elem callback's key
  kStack,       // PTR_TO_STACK ("fp")
  kPacket,
  kPacketMeta,
  kPacketEnd,
  kMem,         // PTR_TO_MEM: ringbuf records and other helper-returned memory
  kFunc,        // a subprogram (ld_imm64 src 4)
};

struct Reg {
  RegType type = RegType::kNotInit;
  bool maybe_null = false;   // PTR_MAYBE_NULL
  bool ringbuf = false;      // kMem: MEM_RINGBUF
  bool precise = false;
  int32_t off = 0;           // pointers: fixed offset
  Bounds b;                  // scalars: the value; pointers: the variable offset
  uint32_t id = 0;           // scalars linked by copies; pointers sharing a null check or packet range
  uint32_t ref_obj_id = 0;   // the reference this pointer holds
  int32_t range = 0;         // packets: bytes known readable; kMem: size
  int32_t map = -1;          // kMapPtr, kMapValue, kMapKey: index in Options::maps
  int32_t frameno = 0;       // kStack: the frame whose stack this points to
  int32_t subprog = -1;      // kFunc: target instruction
  int32_t defined_at = -1;   // the instruction that last wrote it on this path (explanations only)

  [[nodiscard]] bool is_pointer() const { return type != RegType::kNotInit && type != RegType::kScalar; }
  [[nodiscard]] bool is_packet() const { return type == RegType::kPacket || type == RegType::kPacketMeta; }
  [[nodiscard]] bool is_const() const { return type == RegType::kScalar && b.is_const(); }
  [[nodiscard]] bool is_null_const() const { return is_const() && b.var.value == 0; }

  static Reg scalar(const Bounds& bounds) {
    Reg r;
    r.type = RegType::kScalar;
    r.b = bounds;
    return r;
  }
  static Reg unknown() { return scalar(Bounds::unknown()); }
  static Reg constant(uint64_t v) { return scalar(Bounds::constant(v)); }
  // A pointer with offset 0 and no variable part.
  static Reg pointer(RegType type) {
    Reg r;
    r.type = type;
    r.b = Bounds::constant(0);
    return r;
  }
};

enum class SlotType : uint8_t { kInvalid, kSpill, kMisc, kZero };

inline constexpr int kStackSize = 512;  // MAX_BPF_STACK
inline constexpr int kSlots = kStackSize / 8;

struct StackSlot {
  std::array<SlotType, 8> bytes{};  // byte i is fp-(slot*8+8)+i
  Reg spilled;                      // bytes all kSpill
  // Linux spills a scalar stored at an 8-byte aligned offset in any size (its
  // check_stack_write_fixed_off): bpfvm keeps such a narrow spill as misc/zero bytes and
  // remembers the register here (bytes 0..size-1; also an 8-byte store of immediate 0, kept
  // as zero bytes), for fills from the slot's first byte and get_constant_map_key().
  uint8_t narrow_spill_size = 0;
  Reg narrow_spill;
};

struct Frame {
  std::array<Reg, 11> regs{};
  std::array<StackSlot, kSlots> stack{};  // slot i covers fp-8*(i+1) .. fp-8*i-1
  std::size_t callsite = 0;               // where the caller resumes (call insn + 1)
  std::size_t subprog_start = 0;
  bool callback = false;                  // a helper's callback (bpf_loop, for_each_map_elem)
  int stack_depth = 0;                    // deepest byte used, positive
};

struct Reference {
  uint32_t id = 0;
  std::size_t insn = 0;  // where it was acquired
};

// The bpf_spin_lock a path holds: which map's value, through which pointer id.
struct HeldLock {
  int32_t map = -1;  // -1: none held
  uint32_t id = 0;
  friend bool operator==(const HeldLock&, const HeldLock&) = default;
};

struct State {
  std::vector<Frame> frames;
  std::vector<Reference> refs;
  HeldLock lock;
  int parent = -1;  // the explored-state entry this path last passed (branch accounting)

  Frame& cur() { return frames.back(); }
  const Frame& cur() const { return frames.back(); }
};

}  // namespace bpfvm::verifier
