#include "bench.h"
/* FNV-1a over the packet's bytes. */
BENCH(fnv1a) {
  __u32 h = 2166136261u;
  for (int i = 0; i < PACKET_MAX; i++) {
    if (data + i + 1 > end) break;
    h = (h ^ data[i]) * 16777619u;
  }
  return h;
}
