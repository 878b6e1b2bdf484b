#include "bench.h"
/* Integer log2 of every 32-bit word of the packet, by shifting, summed. */
BENCH(ilog2) {
  __u64 sum = 0;
  for (int i = 0; i < PACKET_MAX / 4; i++) {
    if (data + 4 * i + 4 > end) break;
    __u32 v = data[4 * i] | (data[4 * i + 1] << 8) | (data[4 * i + 2] << 16) | ((__u32)data[4 * i + 3] << 24);
    int r = 0;
    for (int k = 0; k < 32; k++) {
      v >>= 1;
      if (!v) break;
      r++;
    }
    sum += r;
  }
  return sum;
}
