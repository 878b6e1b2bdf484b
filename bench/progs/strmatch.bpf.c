#include "bench.h"
/* Counts the places where "HTTP" starts in the packet (a string compare at every offset). */
BENCH(strmatch) {
  const char needle[4] = {'H', 'T', 'T', 'P'};
  __u64 found = 0;
  for (int i = 0; i < PACKET_MAX - 4; i++) {
    if (data + i + 4 > end) break;
    int k = 0;
    for (; k < 4; k++) {
      if (data[i + k] != (__u8)needle[k]) break;
    }
    if (k == 4) found++;
  }
  return found;
}
