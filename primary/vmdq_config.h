// How the primary configures the port, derived from its capabilities alone (pure: no
// ethdev calls, unit-tested with the 82599's rte_eth_dev_info).
//
// A port with VMDQ (max_vmdq_pools > 0, e.g. the 82599: 64 pools x 2 queues) runs in VMDQ
// RX mode, as DPDK's vhost-switch does: pool map VLAN 1000 + i -> pool i, no default pool,
// broadcast and multicast accepted per pool, RX drop enabled on every queue, VT loopback
// for --vm2vm 2. With --dcb, VMDQ+DCB: 16 pools x 8 traffic classes for up to 16 devices,
// 32 x 4 for up to 32. A port without VMDQ runs plain (1 RX + 1 TX queue) and the switching
// secondary does the same splitting in software.
#pragma once

#include <rte_ethdev.h>

#include <cstdint>
#include <string>

namespace vswitch {

struct PortPlan {
  bool vmdq = false;         // false: plain mode, software VMDQ
  std::string error;         // non-empty: the port cannot serve this configuration
  uint16_t pools = 0;
  uint16_t queues_per_pool = 0;  // with DCB: the traffic classes
  uint8_t traffic_classes = 0;   // 0 without DCB
  uint16_t rx_queues = 1;
  uint16_t tx_queues = 1;
  uint16_t first_pool_queue = 0;  // rte_eth_dev_info::vmdq_queue_base
  bool loopback = false;
  bool rx_drop_en = false;
  rte_eth_conf conf{};       // what to pass to rte_eth_dev_configure
};

// TX offloads the switch uses when the port has them (VLAN insert, TSO, chained mbufs,
// checksums); the switching secondary reads back which were enabled.
inline constexpr uint64_t kWantedTxOffloads =
    RTE_ETH_TX_OFFLOAD_VLAN_INSERT | RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_UDP_TSO |
    RTE_ETH_TX_OFFLOAD_MULTI_SEGS | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
    RTE_ETH_TX_OFFLOAD_UDP_CKSUM;

// `loopback`: --vm2vm 2 (the port's L2 switch loops guest-to-guest frames back).
[[nodiscard]] PortPlan VmdqConfigFor(const rte_eth_dev_info& info, bool dcb, uint32_t max_devices,
                                     bool loopback);

}  // namespace vswitch
