#include "bench.h"
/* Sieve of Eratosthenes on the stack: the primes below 128, then their sum with the packet's
 * first byte (so the result depends on the input). */
BENCH(sieve) {
  __u8 composite[128] = {};
  __u64 sum = 0;
  for (int i = 2; i < 12; i++) {
    if (composite[i]) continue;
    for (int j = i * i; j < 128; j += i) composite[j] = 1;
  }
  for (int i = 2; i < 128; i++) {
    if (!composite[i]) sum += i;
  }
  if (data + 1 <= end) sum += data[0];
  return sum;
}
