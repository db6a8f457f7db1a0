// The MTU the primary sets on the port ([primary] mtu), from what was asked and what the
// port reports (rte_eth_dev_info). Pure: no DPDK calls, so every case is unit-tested.
#pragma once

#include <cstdint>
#include <string>

namespace vswitch {

// `[primary] mtu = auto`: 1500, or with mergeable RX buffers on ([vhost] mergeable 1)
// 9710, the MTU of DPDK's vhost-switch with --mergeable 1 (9728-byte frames less the
// Ethernet header and FCS).
inline constexpr uint32_t kDefaultMtu = 1500;
inline constexpr uint32_t kMergeableMtu = 9710;

[[nodiscard]] constexpr uint32_t AutoMtu(bool mergeable) { return mergeable ? kMergeableMtu : kDefaultMtu; }

// What rte_eth_dev_info says about the port's frame sizes, and the pool's mbufs.
struct PortFrameLimits {
  uint16_t min_mtu = 68;
  uint16_t max_mtu = UINT16_MAX;        // UINT16_MAX: the driver did not say
  uint32_t max_rx_pktlen = 0;           // largest frame it receives, L2 overhead included
  bool rx_scatter = false;              // RTE_ETH_RX_OFFLOAD_SCATTER in rx_offload_capa
  uint32_t mbuf_data = 0;               // bytes one mbuf of the pool holds (data room - headroom)
};

struct PortMtuPlan {
  uint16_t mtu = kDefaultMtu;
  uint32_t port_max = 0;    // the largest MTU the port takes (max_mtu, max_rx_pktlen)
  bool rx_scatter = false;  // the port must chain mbufs to receive a frame of this MTU
  std::string note;         // why the MTU is below what was asked; empty when it is not
};

// `wanted`: the resolved [primary] mtu. Clamped to the port's maximum (both max_mtu and
// max_rx_pktlen less the port's L2 overhead, which is what ethdev's MTU check takes) and,
// on a port that cannot scatter, to what one mbuf holds; raised to min_mtu.
[[nodiscard]] PortMtuPlan PlanPortMtu(uint32_t wanted, const PortFrameLimits& port);

}  // namespace vswitch
