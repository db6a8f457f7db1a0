// How a frame from a guest leaves through the port, given the TX offloads the primary
// enabled on it: the VLAN tag by the port (RTE_ETH_TX_OFFLOAD_VLAN_INSERT) or in software
// (rte_vlan_insert); TSO frames whole when the port segments them, else cut in software
// (rte_gso); chained mbufs whole when the port takes them, else linearised; checksums the
// port cannot offload finished in software. Pure: flags in, plan out.
#pragma once

#include <cstdint>

namespace vswitch {

struct PortTxCaps {
  bool vlan_insert = false;
  bool tcp_tso = false;
  bool udp_tso = false;
  bool multi_segs = false;
  bool ipv4_cksum = false;
  bool tcp_cksum = false;
  bool udp_cksum = false;
};

// From the port's enabled TX offloads (rte_eth_conf.txmode.offloads).
[[nodiscard]] PortTxCaps PortTxCapsFrom(uint64_t tx_offloads);

struct TxPlan {
  bool offload_vlan = false;   // set RTE_MBUF_F_TX_VLAN; else rte_vlan_insert()
  bool software_gso = false;   // rte_gso_segment() before transmit
  bool linearize = false;      // the port cannot take chained mbufs
  bool software_ip_cksum = false;
  bool software_l4_cksum = false;
};

// `ol_flags` and `nb_segs` of the mbuf as the guest sent it.
[[nodiscard]] TxPlan PlanPortTx(const PortTxCaps& caps, uint64_t ol_flags, uint16_t nb_segs);

}  // namespace vswitch
