#include "bench.h"
/* Compares the packet's two halves byte by byte (memcmp-like), counting equal bytes. */
BENCH(halves) {
  __u64 equal = 0;
  const int half = PACKET_MAX / 2;
  for (int i = 0; i < half; i++) {
    if (data + half + i + 1 > end) break;
    if (data[i] == data[half + i]) equal++;
  }
  return equal;
}
