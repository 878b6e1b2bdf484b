// bpf_spin_lock rules, one program per rule (the verifier tests load them one at a time, in
// bpfvm and in the kernel). Only `locked_update` is valid.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counter {
  struct bpf_spin_lock lock;
  __u32 value;
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2);
  __type(key, __u32);
  __type(value, struct counter);
} counters SEC(".maps");

static struct counter *get(__u32 key) { return bpf_map_lookup_elem(&counters, &key); }

SEC("tc")
int locked_update(struct __sk_buff *skb) {
  struct counter *c = get(skb->mark & 1);
  if (!c) return 0;
  bpf_spin_lock(&c->lock);
  c->value++;
  bpf_spin_unlock(&c->lock);
  return 0;
}

SEC("tc")
int missing_unlock(struct __sk_buff *skb) {
  struct counter *c = get(skb->mark & 1);
  if (!c) return 0;
  bpf_spin_lock(&c->lock);
  c->value++;
  return 0;
}

SEC("tc")
int call_while_locked(struct __sk_buff *skb) {
  struct counter *c = get(skb->mark & 1);
  if (!c) return 0;
  bpf_spin_lock(&c->lock);
  c->value = bpf_get_prandom_u32();
  bpf_spin_unlock(&c->lock);
  return 0;
}

SEC("tc")
int two_locks(struct __sk_buff *skb) {
  struct counter *a = get(0), *b = get(1);
  if (!a || !b) return 0;
  bpf_spin_lock(&a->lock);
  bpf_spin_lock(&b->lock);
  bpf_spin_unlock(&b->lock);
  bpf_spin_unlock(&a->lock);
  return 0;
}

SEC("tc")
int unlock_other(struct __sk_buff *skb) {
  struct counter *a = get(0), *b = get(1);
  if (!a || !b) return 0;
  bpf_spin_lock(&a->lock);
  bpf_spin_unlock(&b->lock);
  return 0;
}

SEC("tc")
int touch_lock(struct __sk_buff *skb) {
  struct counter *c = get(0);
  if (!c) return 0;
  return *(volatile __u32 *)&c->lock;
}

SEC("kprobe/do_nanosleep")
int tracing_lock(void *ctx) {
  struct counter *c = get(0);
  if (!c) return 0;
  bpf_spin_lock(&c->lock);
  bpf_spin_unlock(&c->lock);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
