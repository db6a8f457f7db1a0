#include "tx_path.h"

#include <rte_ethdev.h>
#include <rte_mbuf_core.h>

namespace vswitch {

PortTxCaps PortTxCapsFrom(uint64_t o) {
  PortTxCaps c;
  c.vlan_insert = (o & RTE_ETH_TX_OFFLOAD_VLAN_INSERT) != 0;
  c.tcp_tso = (o & RTE_ETH_TX_OFFLOAD_TCP_TSO) != 0;
  c.udp_tso = (o & RTE_ETH_TX_OFFLOAD_UDP_TSO) != 0;
  c.multi_segs = (o & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
  c.ipv4_cksum = (o & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
  c.tcp_cksum = (o & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) != 0;
  c.udp_cksum = (o & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) != 0;
  return c;
}

TxPlan PlanPortTx(const PortTxCaps& caps, uint64_t ol, uint16_t nb_segs) {
  TxPlan p;
  const bool tcp_seg = (ol & RTE_MBUF_F_TX_TCP_SEG) != 0;
  const bool udp_seg = (ol & RTE_MBUF_F_TX_UDP_SEG) != 0;
  p.software_gso = (tcp_seg && !caps.tcp_tso) || (udp_seg && !caps.udp_tso);
  // rte_gso copies the headers of the packet into every segment: the tag must be in them.
  p.offload_vlan = caps.vlan_insert && !p.software_gso;
  // rte_gso's segments are chains (header + indirect payload), as is a guest's large frame.
  p.linearize = !caps.multi_segs && (nb_segs > 1 || p.software_gso);
  const uint64_t l4 = ol & RTE_MBUF_F_TX_L4_MASK;
  const bool seg = tcp_seg || udp_seg;
  if (seg && p.software_gso) {
    // rte_gso leaves the segments' checksums to the port (it keeps the checksum flags).
    p.software_ip_cksum = (ol & RTE_MBUF_F_TX_IPV4) != 0 && !caps.ipv4_cksum;
    p.software_l4_cksum = tcp_seg ? !caps.tcp_cksum : !caps.udp_cksum;
  } else if (!seg) {
    p.software_ip_cksum = (ol & RTE_MBUF_F_TX_IP_CKSUM) != 0 && !caps.ipv4_cksum;
    p.software_l4_cksum = (l4 == RTE_MBUF_F_TX_TCP_CKSUM && !caps.tcp_cksum) ||
                          (l4 == RTE_MBUF_F_TX_UDP_CKSUM && !caps.udp_cksum);
  }
  return p;
}

}  // namespace vswitch
