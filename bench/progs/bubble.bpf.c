#include "bench.h"
/* Bubble sort of the packet's first 16 bytes on the stack; returns a checksum of the order. */
BENCH(bubble) {
  __u8 v[16] = {};
  for (int i = 0; i < 16; i++) {
    if (data + i + 1 > end) break;
    v[i] = data[i];
  }
  for (int i = 0; i < 16; i++) {
    for (int j = 0; j + 1 < 16 - i; j++) {
      if (v[j] > v[j + 1]) {
        __u8 t = v[j];
        v[j] = v[j + 1];
        v[j + 1] = t;
      }
    }
  }
  __u64 sum = 0;
  for (int i = 0; i < 16; i++) sum = sum * 31 + v[i];
  return sum;
}
