#include "port.h"

#include <rte_errno.h>
#include <rte_ethdev.h>

#include "eal_args.h"
#include "log.h"

namespace vswitch {

bool SetupPort(const PrimaryOptions& options, rte_mempool* pool, PortInfo* out,
               std::string* error) {
  const std::string name = PortDeviceName(options.port);
  uint16_t port_id = 0;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &port_id) != 0) {
    *error = "--port '" + options.port + "': DPDK found no port named '" + name +
             "' (a PCI address must be bound to vfio-pci/uio; a vdev string must name a "
             "driver, e.g. net_tap0,iface=vsw0)";
    return false;
  }
  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(port_id, &info); rc != 0) {
    *error = "port " + name + ": cannot read device info: " + std::string(rte_strerror(-rc));
    return false;
  }
  out->port_id = port_id;
  out->rx_queues = 1;
  out->tx_queues = 1;
  out->max_vmdq_pools = info.max_vmdq_pools;
  out->driver = info.driver_name != nullptr ? info.driver_name : "?";

  rte_eth_conf conf{};
  if (int rc = rte_eth_dev_configure(port_id, out->rx_queues, out->tx_queues, &conf); rc != 0) {
    *error = "port " + name + ": configure failed: " + std::string(rte_strerror(-rc));
    return false;
  }
  uint16_t rx_desc = static_cast<uint16_t>(options.rx_desc);
  uint16_t tx_desc = static_cast<uint16_t>(options.tx_desc);
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_desc, &tx_desc); rc != 0) {
    *error = "port " + name + ": descriptor counts rejected: " + std::string(rte_strerror(-rc));
    return false;
  }
  const int socket = rte_eth_dev_socket_id(port_id);
  const unsigned sock = socket < 0 ? 0u : static_cast<unsigned>(socket);
  if (int rc = rte_eth_rx_queue_setup(port_id, 0, rx_desc, sock, nullptr, pool); rc != 0) {
    *error = "port " + name + ": RX queue setup failed: " + std::string(rte_strerror(-rc));
    return false;
  }
  if (int rc = rte_eth_tx_queue_setup(port_id, 0, tx_desc, sock, nullptr); rc != 0) {
    *error = "port " + name + ": TX queue setup failed: " + std::string(rte_strerror(-rc));
    return false;
  }
  if (int rc = rte_eth_dev_start(port_id); rc != 0) {
    *error = "port " + name + ": start failed: " + std::string(rte_strerror(-rc));
    return false;
  }
  // Guests' MACs are not the port's: the switch must see every frame.
  if (int rc = rte_eth_promiscuous_enable(port_id); rc != 0) {
    VSW_LOG(WARNING, "port %s: promiscuous mode not available (%s)", name.c_str(),
            rte_strerror(-rc));
  }
  if (info.max_vmdq_pools == 0) {
    VSW_LOG(INFO, "port %s (%s) has no VMDQ: frames are split per device in software", name.c_str(),
            out->driver.c_str());
  } else {
    VSW_LOG(INFO, "port %s (%s) has %u VMDQ pools; running it in plain mode", name.c_str(),
            out->driver.c_str(), info.max_vmdq_pools);
  }
  VSW_LOG(INFO, "port %s is ethdev %u: %u RX queue(s) x %u descriptors, %u TX queue(s) x %u",
          name.c_str(), port_id, out->rx_queues, rx_desc, out->tx_queues, tx_desc);
  return true;
}

void ClosePort(uint16_t port_id) {
  if (rte_eth_dev_stop(port_id) != 0) VSW_LOG(WARNING, "port %u: stop failed", port_id);
  rte_eth_dev_close(port_id);
}

void LinkWatch::Poll() {
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(port_id_, &link) != 0) return;
  if (link.link_status == last_status_) return;
  last_status_ = link.link_status;
  if (link.link_status == RTE_ETH_LINK_UP) {
    VSW_LOG(INFO, "port %u: link up, %u Mbps, %s duplex", port_id_, link.link_speed,
            link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX ? "full" : "half");
  } else {
    VSW_LOG(INFO, "port %u: link down", port_id_);
  }
}

}  // namespace vswitch
