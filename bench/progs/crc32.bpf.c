#include "bench.h"
/* Table-driven CRC-32 (IEEE) over the packet; the table is built once into .data. */
static __u32 table[256];
BENCH(crc32) {
  if (table[1] == 0) {
    for (__u32 n = 0; n < 256; n++) {
      __u32 c = n;
      for (int k = 0; k < 8; k++) {
        if (c & 1) c = 0xedb88320u ^ (c >> 1);
        else c >>= 1;
      }
      table[n] = c;
    }
  }
  __u32 crc = 0xffffffffu;
  for (int i = 0; i < PACKET_MAX; i++) {
    if (data + i + 1 > end) break;
    crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
  }
  return crc ^ 0xffffffffu;
}
