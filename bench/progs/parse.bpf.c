#include "bench.h"
/* A packet-header parser: Ethernet, IPv4 (with options), UDP, then a run of TLV records in the
 * payload; returns a digest of what it found. */
BENCH(parse) {
  if (data + 14 > end) return 1;
  __u16 proto = (data[12] << 8) | data[13];
  if (proto != 0x0800) return 2;
  const __u8 *ip = data + 14;
  if (ip + 20 > end) return 3;
  __u32 ihl = (ip[0] & 15) * 4;
  if (ihl < 20) return 4;
  const __u8 *udp = ip + ihl;
  if (udp + 8 > end) return 5;
  __u64 digest = (ip[12] << 24 | ip[13] << 16 | ip[14] << 8 | ip[15]) ^ ((__u64)ip[9] << 40);
  digest += (udp[0] << 8 | udp[1]) * 65537u + (udp[2] << 8 | udp[3]);
  const __u8 *p = udp + 8;
  for (int n = 0; n < 64; n++) {
    if (p + 2 > end) break;
    __u8 type = p[0], len = p[1];
    digest = digest * 131 + type;
    if (len > 32) break;
    p += 2 + len;
  }
  return digest;
}
