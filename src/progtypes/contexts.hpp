// The contexts bpfvm builds for packet programs: the uapi struct the program sees, followed by
// state only helpers see (the program's memory region covers the uapi struct alone).
#pragma once

#include <linux/bpf.h>

#include <cstdint>

namespace bpfvm {

inline constexpr std::size_t kXdpFrameSize = 40;  // sizeof(struct xdp_frame), kept before the data
inline constexpr std::size_t kXdpMaxMetadata = 255;  // skb_shared_info.meta_len is a u8
inline constexpr std::size_t kEthHeaderLen = 14;

struct XdpContext {
  xdp_md md;
  uint8_t* hard_start;  // xdp_buff.data_hard_start: the start of the headroom
  uint8_t* hard_end;    // the end of the room the packet may grow into (before the tailroom)
};

struct SkbContext {
  __sk_buff skb;
  uint8_t* head;        // the start of the buffer (headroom)
  uint8_t* end;         // the end of the room the packet may grow into
};

// The host pointer of a 32-bit packet field (packets live below 4 GiB: runtime/low_memory.hpp).
inline uint8_t* packet_pointer(uint32_t field) { return reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(field)); }

}  // namespace bpfvm
