// The group's port, configured by the primary: any DPDK ethdev (a PCI NIC or a vdev such
// as net_tap). Plain mode: one RX and one TX queue, promiscuous, used by the switching
// secondary; or, on a port with VMDQ (82599), VMDQ / VMDQ+DCB pools per device
// (vmdq_config.h).
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"

namespace vswitch {

struct PortInfo {
  uint16_t port_id = 0;
  uint16_t rx_queues = 0;
  uint16_t tx_queues = 0;
  uint16_t max_vmdq_pools = 0;
  uint16_t vmdq_pools = 0;  // pools in use (0: plain mode, software VMDQ)
  std::string driver;
  uint16_t mtu = 1500;  // what the port runs with (rte_eth_dev_get_mtu after start)
  // Each RX queue's interrupt fd, in queue order, when all of them can wake a sleeping
  // vswitch-switching (port_rx_wake.h); empty: it looks at the port on a timer. The
  // driver owns them (they close with the port).
  std::vector<int> rx_wake_fds;
};

// `loopback`: the switching secondary runs --vm2vm 2 (VMDQ VT loopback). `wanted_mtu`:
// [primary] mtu resolved (auto: AutoMtu), clamped to what the port takes (PlanPortMtu).
[[nodiscard]] bool SetupPort(const PrimaryOptions& options, bool loopback, uint32_t wanted_mtu,
                             rte_mempool* pool, PortInfo* out, std::string* error);

// Serves the switching secondary's requests to add a learned MAC to its device's VMDQ
// pool (vmdq_mac_request.h) on a VMDQ port. False with *error when IPC is unavailable.
[[nodiscard]] bool ServeVmdqMacRequests(uint16_t port_id, std::string* error);
void StopServingVmdqMacRequests();
// Hands `fds` (PortInfo::rx_wake_fds) to any secondary that asks (kPortRxFdsAction). Stop
// before the port closes.
[[nodiscard]] bool ServePortRxFds(const std::vector<int>& fds, std::string* error);
void StopServingPortRxFds();
void ClosePort(uint16_t port_id);

// Logs link changes; call about once a second.
class LinkWatch {
 public:
  explicit LinkWatch(uint16_t port_id) : port_id_(port_id) {}
  void Poll();

 private:
  uint16_t port_id_;
  int last_status_ = -1;
};

}  // namespace vswitch
