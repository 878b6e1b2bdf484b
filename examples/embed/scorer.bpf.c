// Extension code for the embedding example: scores a text the application hands over (r1 =
// the text, r2 = its length), logs through a helper the application provides, and counts its
// calls in a map the application reads.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// Provided by the application (bpfvm::Object::add_helper), not by Linux.
static long (*app_log)(const char *message, __u32 size, __u64 value) = (void *)1000;

const volatile __u32 vowel_weight = 1;  // configured by the application before load

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} calls SEC(".maps");

SEC("extension")
int score(const char *text, __u64 len) {
  __u32 zero = 0;
  __u64 *count = bpf_map_lookup_elem(&calls, &zero);
  if (count)
    __sync_fetch_and_add(count, 1);
  int score = 0;
  for (__u64 i = 0; i < len && i < 256; i++) {
    char c = text[i];
    if (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u')
      score += vowel_weight;
    else if (c != ' ')
      score += 1;
  }
  const char message[] = "scored";
  app_log(message, sizeof(message), score);
  return score;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
