// An Ethernet / IPv4 / UDP frame of `size` bytes from 198.18.0.1 to 198.18.0.2 (the
// benchmarking range of RFC 2544, as testpmd's txonly uses), written at `p`. Shared by the
// harness and the benchmark, which generate such frames toward a guest.
#pragma once

#include <netinet/in.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <cstdint>
#include <cstring>

namespace vswitch::tools {

inline void WriteUdpFrame(uint8_t* p, uint32_t size, const rte_ether_addr& dst, const rte_ether_addr& src,
                          uint16_t src_port, uint16_t dst_port) {
  auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
  eth->dst_addr = dst;
  eth->src_addr = src;
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  std::memset(ip, 0, sizeof(*ip));
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(size - sizeof(rte_ether_hdr)));
  ip->src_addr = rte_cpu_to_be_32(0xc6120001);
  ip->dst_addr = rte_cpu_to_be_32(0xc6120002);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = rte_cpu_to_be_16(src_port);
  udp->dst_port = rte_cpu_to_be_16(dst_port);
  udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(size - sizeof(rte_ether_hdr) - sizeof(rte_ipv4_hdr)));
  udp->dgram_cksum = 0;
}

}  // namespace vswitch::tools
