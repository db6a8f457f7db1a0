#include "vmdq_config.h"

#include "state_layout.h"

namespace vswitch {
namespace {

// The pool counts rte_eth_nb_pools can express, largest first.
constexpr uint16_t kPoolCounts[] = {64, 32, 16, 8};

}  // namespace

PortPlan VmdqConfigFor(const rte_eth_dev_info& info, bool dcb, uint32_t max_devices, bool loopback) {
  PortPlan p;
  p.conf.txmode.offloads = info.tx_offload_capa & kWantedTxOffloads;
  if (info.max_vmdq_pools == 0) {
    if (dcb) p.error = "--dcb needs a port with VMDQ+DCB (an 82599); this port has no VMDQ";
    return p;  // plain mode: 1 RX + 1 TX queue, software VMDQ
  }
  p.vmdq = true;
  p.first_pool_queue = info.vmdq_queue_base;
  p.rx_drop_en = true;
  if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_VLAN_STRIP) {
    p.conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_VLAN_STRIP;
  }
  if (max_devices > RTE_ETH_VMDQ_MAX_VLAN_FILTERS) {
    p.error = "VMDQ maps at most 64 VLANs to pools; [primary] max-devices is " + std::to_string(max_devices);
    return p;
  }
  if (dcb) {
    if (max_devices <= 16) {
      p.pools = 16;
      p.traffic_classes = 8;
    } else if (max_devices <= 32) {
      p.pools = 32;
      p.traffic_classes = 4;
    } else {
      p.error = "VMDQ+DCB serves at most 32 devices (32 pools x 4 traffic classes); [primary] "
                "max-devices is " + std::to_string(max_devices);
      return p;
    }
    if (p.pools > info.max_vmdq_pools) {
      p.error = "the port has " + std::to_string(info.max_vmdq_pools) + " VMDQ pools; VMDQ+DCB needs " +
                std::to_string(p.pools);
      return p;
    }
    p.queues_per_pool = p.traffic_classes;
    p.rx_queues = static_cast<uint16_t>(p.first_pool_queue + p.pools * p.queues_per_pool);
    p.tx_queues = static_cast<uint16_t>(p.pools * p.queues_per_pool);
    if (p.rx_queues > info.max_rx_queues || p.tx_queues > info.max_tx_queues) {
      p.error = "the port has too few queues for VMDQ+DCB (" + std::to_string(info.max_rx_queues) +
                " RX, " + std::to_string(info.max_tx_queues) + " TX)";
      return p;
    }
    p.conf.rxmode.mq_mode = RTE_ETH_MQ_RX_VMDQ_DCB;
    p.conf.txmode.mq_mode = RTE_ETH_MQ_TX_VMDQ_DCB;
    auto& rx = p.conf.rx_adv_conf.vmdq_dcb_conf;
    auto& tx = p.conf.tx_adv_conf.vmdq_dcb_tx_conf;
    rx.nb_queue_pools = static_cast<rte_eth_nb_pools>(p.pools);
    tx.nb_queue_pools = static_cast<rte_eth_nb_pools>(p.pools);
    rx.enable_default_pool = 0;
    rx.default_pool = 0;
    rx.nb_pool_maps = static_cast<uint8_t>(max_devices);
    for (uint32_t i = 0; i < max_devices; ++i) {
      rx.pool_map[i].vlan_id = static_cast<uint16_t>(kVlanBase + i);
      rx.pool_map[i].pools = uint64_t{1} << i;
    }
    for (uint8_t up = 0; up < RTE_ETH_DCB_NUM_USER_PRIORITIES; ++up) {
      rx.dcb_tc[up] = static_cast<uint8_t>(up % p.traffic_classes);
      tx.dcb_tc[up] = static_cast<uint8_t>(up % p.traffic_classes);
    }
    // The 82599 has no VT loopback setting in VMDQ+DCB mode: --vm2vm 2 is not available.
    p.loopback = false;
    if (loopback) p.error = "--vm2vm 2 (port loopback) is not available with --dcb; use --vm2vm 1";
    return p;
  }
  for (uint16_t n : kPoolCounts) {
    if (n <= info.max_vmdq_pools) {
      p.pools = n;
      break;
    }
  }
  if (p.pools == 0 || p.pools < max_devices) {
    p.error = "the port has " + std::to_string(info.max_vmdq_pools) + " VMDQ pools, fewer than the " +
              std::to_string(max_devices) + " devices of [primary] max-devices";
    return p;
  }
  const uint16_t queue_num = info.vmdq_queue_num != 0 ? info.vmdq_queue_num : info.max_rx_queues;
  p.queues_per_pool = static_cast<uint16_t>(queue_num / p.pools);
  if (p.queues_per_pool == 0) {
    p.error = "the port reports " + std::to_string(queue_num) + " VMDQ queues for " +
              std::to_string(p.pools) + " pools";
    return p;
  }
  p.rx_queues = static_cast<uint16_t>(p.first_pool_queue + p.pools * p.queues_per_pool);
  p.tx_queues = 1;  // the switching secondary transmits on one queue
  p.loopback = loopback;
  p.conf.rxmode.mq_mode = RTE_ETH_MQ_RX_VMDQ_ONLY;
  p.conf.txmode.mq_mode = RTE_ETH_MQ_TX_NONE;
  auto& rx = p.conf.rx_adv_conf.vmdq_rx_conf;
  rx.nb_queue_pools = static_cast<rte_eth_nb_pools>(p.pools);
  rx.enable_default_pool = 0;
  rx.default_pool = 0;
  rx.enable_loop_back = loopback ? 1 : 0;
  rx.rx_mode = RTE_ETH_VMDQ_ACCEPT_BROADCAST | RTE_ETH_VMDQ_ACCEPT_MULTICAST;
  rx.nb_pool_maps = static_cast<uint8_t>(max_devices);
  for (uint32_t i = 0; i < max_devices; ++i) {
    rx.pool_map[i].vlan_id = static_cast<uint16_t>(kVlanBase + i);
    rx.pool_map[i].pools = uint64_t{1} << i;
  }
  return p;
}

}  // namespace vswitch
