#include "bench.h"
/* Does nothing: what it costs to run a program at all (per-run overhead) in each engine. */
BENCH(empty) {
  (void)data;
  (void)end;
  return 2; /* XDP_PASS */
}
