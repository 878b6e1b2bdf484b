// An XDP filter: parses Ethernet, IPv4 and IPv6 headers, counts packets per IP protocol and
// drops UDP (the protocol to drop is configurable before load).
//   bpfvm run xdp-filter.bpf.o --pcap packets.pcap --pcap-out passed.pcap --dump-maps
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

const volatile __u8 drop_protocol = 17;  // IPPROTO_UDP

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, __u64);
} protocols SEC(".maps");

SEC("xdp")
int xdp_filter(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > data_end)
    return XDP_DROP;
  __u32 protocol;
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end)
      return XDP_DROP;
    protocol = ip->protocol;
  } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > data_end)
      return XDP_DROP;
    protocol = ip6->nexthdr;
  } else {
    return XDP_PASS;  // not IP
  }
  __u64 *count = bpf_map_lookup_elem(&protocols, &protocol);
  if (count)
    __sync_fetch_and_add(count, 1);
  return protocol == drop_protocol ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
