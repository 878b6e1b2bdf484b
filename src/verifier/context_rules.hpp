// Which context bytes each program type may read or write, and what a load gives: Linux's
// per-type is_valid_access() callbacks (xdp_md, __sk_buff, pt_regs, tracepoint records...).
#pragma once

#include <cstdint>
#include <optional>

namespace bpfvm::verifier {

enum class CtxResult : uint8_t { kScalar, kPacket, kPacketMeta, kPacketEnd };

// What a load of `size` bytes at `off` gives, or nullopt when the access is invalid
// ("invalid bpf_context access off=N size=M").
[[nodiscard]] std::optional<CtxResult> ctx_access(uint32_t prog_type, uint32_t expected_attach_type, int off,
                                                  int size, bool write);

// Whether programs of this type may write packet data through packet pointers.
[[nodiscard]] bool may_write_packet(uint32_t prog_type);

}  // namespace bpfvm::verifier
