// The group's port, configured by the primary: any DPDK ethdev (a PCI NIC or a vdev such
// as net_tap). Plain mode: one RX and one TX queue, promiscuous, used by the switching
// secondary. (82599 VMDQ/DCB pools come with the switching issue.)
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <string>

#include "config.h"

namespace vswitch {

struct PortInfo {
  uint16_t port_id = 0;
  uint16_t rx_queues = 0;
  uint16_t tx_queues = 0;
  uint16_t max_vmdq_pools = 0;
  std::string driver;
};

[[nodiscard]] bool SetupPort(const PrimaryOptions& options, rte_mempool* pool, PortInfo* out,
                             std::string* error);
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
