#include "bench.h"
/* A hash map lookup/update loop: 64 keys reset, then a lookup per packet byte (its low six
 * bits), adding the position to the value found; returns the sum of the updated values. */
BENCH_MAP_HASH(flows, 64);
BENCH(hashmap) {
  __u64 sum = 0;
  for (__u32 k = 0; k < 64; k++) HASH_UPDATE(flows, k, k);
  for (int i = 0; i < PACKET_MAX; i++) {
    if (data + i + 1 > end) break;
    __u64 *value = HASH_LOOKUP(flows, data[i] & 63);
    if (value) {
      *value += i;
      sum += *value;
    }
  }
  return sum;
}
