#include "bench.h"
/* A big switch: each byte selects one of 16 operations on an accumulator. */
BENCH(bigswitch) {
  __u64 acc = 1;
  for (int i = 0; i < PACKET_MAX; i++) {
    if (data + i + 1 > end) break;
    __u8 b = data[i];
    switch (b & 15) {
      case 0: acc += b; break;
      case 1: acc ^= (__u64)b << 3; break;
      case 2: acc -= b; break;
      case 3: acc *= 3; break;
      case 4: acc += acc >> 7; break;
      case 5: acc ^= 0x5a5a; break;
      case 6: acc += 17; break;
      case 7: acc = (acc << 1) | (acc >> 63); break;
      case 8: acc |= b; break;
      case 9: acc &= ~(__u64)b; break;
      case 10: acc += i; break;
      case 11: acc ^= acc >> 13; break;
      case 12: acc -= 99; break;
      case 13: acc += (__u64)b * b; break;
      case 14: acc ^= 0xffff; break;
      default: acc += 1; break;
    }
  }
  return acc;
}
