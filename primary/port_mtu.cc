#include "port_mtu.h"

#include <algorithm>

namespace vswitch {
namespace {

// Ethernet header and FCS: the overhead ethdev assumes when a driver gives no max_mtu.
constexpr uint32_t kDefaultL2Overhead = 14 + 4;

// What the port adds to an MTU to get a frame length: its own figure when it reports
// both limits (max_rx_pktlen - max_mtu), else the Ethernet header and FCS.
uint32_t L2Overhead(const PortFrameLimits& p) {
  if (p.max_mtu != UINT16_MAX && p.max_rx_pktlen > p.max_mtu) return p.max_rx_pktlen - p.max_mtu;
  return kDefaultL2Overhead;
}

}  // namespace

PortMtuPlan PlanPortMtu(uint32_t wanted, const PortFrameLimits& port) {
  PortMtuPlan plan;
  const uint32_t overhead = L2Overhead(port);
  uint32_t mtu = wanted;
  uint32_t port_max = port.max_mtu;
  if (port.max_rx_pktlen > overhead) port_max = std::min(port_max, port.max_rx_pktlen - overhead);
  plan.port_max = port_max;
  if (mtu > port_max) {
    mtu = port_max;
    plan.note = "the port's maximum";
  }
  // A frame larger than one mbuf needs the port to chain mbufs on receive.
  if (port.mbuf_data > overhead && mtu + overhead > port.mbuf_data) {
    if (port.rx_scatter) {
      plan.rx_scatter = true;
    } else {
      mtu = port.mbuf_data - overhead;
      plan.note = "what one mbuf holds (the port cannot receive into chained mbufs)";
    }
  }
  if (mtu < port.min_mtu) {
    mtu = port.min_mtu;
    plan.note = "raised to the port's minimum";
  }
  plan.mtu = static_cast<uint16_t>(std::min<uint32_t>(mtu, UINT16_MAX));
  return plan;
}

}  // namespace vswitch
