#include "port.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

#include <cstring>

#include "eal_args.h"
#include "fd_handover.h"
#include "log.h"
#include "port_mtu.h"
#include "port_rx_wake.h"
#include "state_layout.h"
#include "vmdq_config.h"
#include "vmdq_mac_request.h"

namespace vswitch {

namespace {

// Drivers whose RX queue interrupt fd is the queue itself, readable exactly while frames
// wait in it: a sleeper waits on it as it is, with nothing to re-arm before a sleep and
// nothing to read after one (rte_eth_rx_burst takes the frames, and with them the
// readiness). net_tap: DPDK's tap PMD installs its tun queue fds as the queue interrupt
// fds when intr_conf.rxq is set, and has no rx_queue_intr_enable to call. A NIC's queue
// interrupt (a VFIO eventfd) must instead be re-enabled before every sleep and read after
// it; vswitch-switching does not do that, so such a port keeps the timed look.
bool RxQueueFdIsTheQueue(const std::string& driver) { return driver == "net_tap"; }

struct QueueSetup {
  uint16_t rx_desc = 0;
  uint16_t tx_desc = 0;
};

// Configures the port with `conf`, sets its queues up and starts it.
bool ConfigureAndStart(uint16_t port_id, const std::string& name, const rte_eth_dev_info& info,
                       const PrimaryOptions& options, const PortPlan& plan, rte_mempool* pool,
                       const PortInfo& out, rte_eth_conf& conf, QueueSetup* q_out, std::string* error) {
  if (int rc = rte_eth_dev_configure(port_id, out.rx_queues, out.tx_queues, &conf); rc != 0) {
    *error = "port " + name + ": configure failed: " + std::string(rte_strerror(-rc));
    return false;
  }
  // Configure records the MTU; set_mtu also hands it to the driver (net_tap: the kernel
  // interface's MTU). A driver without set_mtu keeps the configured one.
  if (int rc = rte_eth_dev_set_mtu(port_id, conf.rxmode.mtu); rc != 0 && rc != -ENOTSUP) {
    *error = "port " + name + ": cannot set MTU " + std::to_string(conf.rxmode.mtu) + ": " +
             std::string(rte_strerror(-rc)) + " (set [primary] mtu lower)";
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
  rte_eth_rxconf rxconf = info.default_rxconf;
  rxconf.offloads = conf.rxmode.offloads;
  // VMDQ: a pool whose guest is slow drops its own frames instead of stalling the port.
  if (plan.rx_drop_en) rxconf.rx_drop_en = 1;
  for (uint16_t q = 0; q < out.rx_queues; ++q) {
    if (int rc = rte_eth_rx_queue_setup(port_id, q, rx_desc, sock, &rxconf, pool); rc != 0) {
      *error = "port " + name + ": RX queue " + std::to_string(q) + " setup failed: " +
               std::string(rte_strerror(-rc));
      return false;
    }
  }
  rte_eth_txconf txconf = info.default_txconf;
  txconf.offloads = conf.txmode.offloads;
  for (uint16_t q = 0; q < out.tx_queues; ++q) {
    if (int rc = rte_eth_tx_queue_setup(port_id, q, tx_desc, sock, &txconf); rc != 0) {
      *error = "port " + name + ": TX queue " + std::to_string(q) + " setup failed: " +
               std::string(rte_strerror(-rc));
      return false;
    }
  }
  if (int rc = rte_eth_dev_start(port_id); rc != 0) {
    *error = "port " + name + ": start failed: " + std::string(rte_strerror(-rc));
    return false;
  }
  q_out->rx_desc = rx_desc;
  q_out->tx_desc = tx_desc;
  return true;
}

}  // namespace

bool SetupPort(const PrimaryOptions& options, bool loopback, uint32_t wanted_mtu, rte_mempool* pool,
               PortInfo* out, std::string* error) {
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
  const PortPlan plan = VmdqConfigFor(info, options.dcb, options.max_devices, loopback);
  if (!plan.error.empty()) {
    *error = "port " + name + ": " + plan.error;
    return false;
  }
  out->port_id = port_id;
  out->rx_queues = plan.rx_queues;
  out->tx_queues = plan.tx_queues;
  out->max_vmdq_pools = info.max_vmdq_pools;
  out->vmdq_pools = plan.vmdq ? plan.pools : 0;
  out->driver = info.driver_name != nullptr ? info.driver_name : "?";
  out->rx_wake_fds.clear();

  // RX queue interrupts, for vswitch-switching to sleep on (port_rx_wake.h).
  const char* no_wake = nullptr;
  if (!RxQueueFdIsTheQueue(out->driver)) {
    no_wake = "its driver has no RX queue interrupt fd vswitch-switching can sleep on";
  } else if (out->rx_queues > kMaxPortRxWakeFds) {
    no_wake = "it has more RX queues than one IPC message carries fds";
  }
  // The MTU: jumbo frames where the port takes them (port_mtu.h).
  PortFrameLimits limits;
  limits.min_mtu = info.min_mtu;
  limits.max_mtu = info.max_mtu;
  limits.max_rx_pktlen = info.max_rx_pktlen;
  limits.rx_scatter = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER) != 0;
  limits.mbuf_data = rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM;
  const PortMtuPlan mtu = PlanPortMtu(wanted_mtu, limits);
  rte_eth_conf mtu_conf = plan.conf;
  mtu_conf.rxmode.mtu = mtu.mtu;
  if (mtu.rx_scatter) mtu_conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;

  bool rx_intr = no_wake == nullptr;
  rte_eth_conf conf = mtu_conf;
  conf.intr_conf.rxq = rx_intr ? 1 : 0;
  QueueSetup queues;
  if (!ConfigureAndStart(port_id, name, info, options, plan, pool, *out, conf, &queues, error)) {
    if (!rx_intr) return false;
    VSW_LOG(WARNING, "%s with RX queue interrupts; trying again without them", error->c_str());
    error->clear();
    rx_intr = false;
    no_wake = "it did not start with RX queue interrupts";
    conf = mtu_conf;
    conf.intr_conf.rxq = 0;
    if (!ConfigureAndStart(port_id, name, info, options, plan, pool, *out, conf, &queues, error)) {
      return false;
    }
  }
  for (uint16_t q = 0; rx_intr && q < out->rx_queues; ++q) {
    // No rte_eth_dev_rx_intr_enable: this fd is the queue (RxQueueFdIsTheQueue), and the
    // driver has nothing to enable.
    const int fd = rte_eth_dev_rx_intr_ctl_q_get_fd(port_id, q);
    if (fd < 0) {
      out->rx_wake_fds.clear();
      no_wake = "an RX queue has no interrupt fd";
      break;
    }
    out->rx_wake_fds.push_back(fd);
  }
  if (out->rx_wake_fds.empty()) {
    VSW_LOG(INFO, "port %s (%s) has no RX interrupts (%s): vswitch-switching looks at it on a "
            "timer, 20 us after it fell asleep doubling to 1 ms", name.c_str(), out->driver.c_str(),
            no_wake != nullptr ? no_wake : "?");
  } else {
    VSW_LOG(INFO, "port %s (%s): RX interrupts on, %zu queue fd(s) handed to vswitch-switching, "
            "which sleeps until a frame comes", name.c_str(), out->driver.c_str(),
            out->rx_wake_fds.size());
  }
  // Guests' MACs are not the port's: the switch must see every frame.
  if (int rc = rte_eth_promiscuous_enable(port_id); rc != 0) {
    VSW_LOG(WARNING, "port %s: promiscuous mode not available (%s)", name.c_str(),
            rte_strerror(-rc));
  }
  if (!plan.vmdq) {
    VSW_LOG(INFO, "port %s (%s) has no VMDQ: frames are split per device in software", name.c_str(),
            out->driver.c_str());
  } else {
    VSW_LOG(INFO, "port %s (%s): VMDQ%s, %u pools x %u queues, VLAN %u + i -> pool i, loopback %s",
            name.c_str(), out->driver.c_str(), plan.traffic_classes ? "+DCB" : "", plan.pools,
            plan.queues_per_pool, kVlanBase, plan.loopback ? "on" : "off");
  }
  out->mtu = mtu.mtu;
  if (rte_eth_dev_get_mtu(port_id, &out->mtu) != 0) out->mtu = mtu.mtu;
  VSW_LOG(INFO, "port %s MTU %u (asked %u%s%s; the port takes up to %u%s): frames toward the "
          "port up to %u bytes untagged", name.c_str(), out->mtu, wanted_mtu,
          mtu.note.empty() ? "" : ", clamped to ", mtu.note.c_str(),
          mtu.port_max, mtu.rx_scatter ? ", received into chained mbufs" : "",
          out->mtu + RTE_ETHER_HDR_LEN);
  VSW_LOG(INFO, "port %s TX offloads enabled: 0x%lx", name.c_str(),
          static_cast<unsigned long>(conf.txmode.offloads));
  VSW_LOG(INFO, "port %s is ethdev %u: %u RX queue(s) x %u descriptors, %u TX queue(s) x %u",
          name.c_str(), port_id, out->rx_queues, queues.rx_desc, out->tx_queues, queues.tx_desc);
  return true;
}

namespace {

uint16_t g_vmdq_port = 0;

int OnVmdqMacRequest(const rte_mp_msg* msg, const void* peer) {  // NOLINT
  rte_mp_msg reply{};
  std::snprintf(reply.name, sizeof(reply.name), "%s", kVmdqMacAction);
  int rc = -EINVAL;
  if (const auto r = DecodeVmdqMacRequest(msg->param, msg->len_param)) {
    rte_ether_addr addr;
    std::memcpy(addr.addr_bytes, r->mac, 6);
    rc = r->add ? rte_eth_dev_mac_addr_add(g_vmdq_port, &addr, r->pool)
                : rte_eth_dev_mac_addr_remove(g_vmdq_port, &addr);
    char text[RTE_ETHER_ADDR_FMT_SIZE];
    rte_ether_format_addr(text, sizeof(text), &addr);
    VSW_LOG(INFO, "VMDQ pool %u: %s mac %s: %s", r->pool, r->add ? "added" : "removed", text,
            rc == 0 ? "ok" : rte_strerror(-rc));
  }
  std::memcpy(reply.param, &rc, sizeof(rc));
  reply.len_param = sizeof(rc);
  return rte_mp_reply(&reply, static_cast<const char*>(peer));
}

}  // namespace

bool ServeVmdqMacRequests(uint16_t port_id, std::string* error) {
  g_vmdq_port = port_id;
  if (rte_mp_action_register(kVmdqMacAction, OnVmdqMacRequest) != 0) {
    *error = "cannot register the VMDQ MAC request handler: " + std::string(rte_strerror(rte_errno));
    return false;
  }
  return true;
}

void StopServingVmdqMacRequests() { rte_mp_action_unregister(kVmdqMacAction); }

bool ServePortRxFds(const std::vector<int>& fds, std::string* error) {
  return HandOverFds(kPortRxFdsAction, fds, error);
}

void StopServingPortRxFds() { StopHandingOverFds(kPortRxFdsAction); }

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
