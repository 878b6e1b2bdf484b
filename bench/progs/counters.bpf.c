#include "bench.h"
/* An array map of counters bumped for every byte (a map lookup per byte). */
BENCH_MAP_COUNTERS(counts, 64);
BENCH(counters) {
  for (int i = 0; i < PACKET_MAX; i++) {
    if (data + i + 1 > end) break;
    COUNTER_ADD(counts, data[i] & 63);
  }
  return 0;
}
