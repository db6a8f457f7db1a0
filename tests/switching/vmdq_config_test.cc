#include "vmdq_config.h"

#include <gtest/gtest.h>

#include "vmdq_mac_request.h"

namespace vswitch {
namespace {

// rte_eth_dev_info as DPDK 22.11's ixgbe reports an 82599 (ixgbe_dev_info_get).
rte_eth_dev_info Ixgbe82599() {
  rte_eth_dev_info info{};
  info.driver_name = "net_ixgbe";
  info.max_rx_queues = 128;
  info.max_tx_queues = 128;
  info.max_vmdq_pools = RTE_ETH_64_POOLS;
  info.vmdq_queue_base = 0;
  info.vmdq_queue_num = 128;
  info.vmdq_pool_base = 0;
  info.rx_offload_capa = RTE_ETH_RX_OFFLOAD_VLAN_STRIP | RTE_ETH_RX_OFFLOAD_IPV4_CKSUM |
                         RTE_ETH_RX_OFFLOAD_VLAN_FILTER;
  info.tx_offload_capa = RTE_ETH_TX_OFFLOAD_VLAN_INSERT | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM |
                         RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
                         RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_MULTI_SEGS |
                         RTE_ETH_TX_OFFLOAD_SCTP_CKSUM;
  return info;
}

// net_tap: no VMDQ.
rte_eth_dev_info Tap() {
  rte_eth_dev_info info{};
  info.driver_name = "net_tap";
  info.max_rx_queues = 16;
  info.max_tx_queues = 16;
  info.tx_offload_capa = RTE_ETH_TX_OFFLOAD_MULTI_SEGS | RTE_ETH_TX_OFFLOAD_TCP_TSO;
  return info;
}

TEST(VmdqConfigTest, The82599Runs64PoolsOf2QueuesWithVlan1000PlusIToPoolI) {
  const PortPlan p = VmdqConfigFor(Ixgbe82599(), false, 64, false);
  ASSERT_EQ(p.error, "");
  EXPECT_TRUE(p.vmdq);
  EXPECT_EQ(p.pools, 64);
  EXPECT_EQ(p.queues_per_pool, 2);
  EXPECT_EQ(p.rx_queues, 128);
  EXPECT_EQ(p.tx_queues, 1);
  EXPECT_TRUE(p.rx_drop_en);
  EXPECT_FALSE(p.loopback);
  EXPECT_EQ(p.conf.rxmode.mq_mode, RTE_ETH_MQ_RX_VMDQ_ONLY);
  const auto& v = p.conf.rx_adv_conf.vmdq_rx_conf;
  EXPECT_EQ(v.nb_queue_pools, RTE_ETH_64_POOLS);
  EXPECT_EQ(v.enable_default_pool, 0);
  EXPECT_EQ(v.enable_loop_back, 0);
  EXPECT_EQ(v.nb_pool_maps, 64);
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(v.pool_map[i].vlan_id, 1000 + i);
    EXPECT_EQ(v.pool_map[i].pools, uint64_t{1} << i);
  }
  EXPECT_EQ(v.rx_mode, RTE_ETH_VMDQ_ACCEPT_BROADCAST | RTE_ETH_VMDQ_ACCEPT_MULTICAST);
  EXPECT_TRUE(p.conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_VLAN_STRIP);
  EXPECT_TRUE(p.conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_VLAN_INSERT);
  EXPECT_TRUE(p.conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_TCP_TSO);
  EXPECT_FALSE(p.conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_SCTP_CKSUM) << "not one we use";
}

TEST(VmdqConfigTest, EightDevicesMapEightVlansAndLoopbackForVm2vm2) {
  const PortPlan p = VmdqConfigFor(Ixgbe82599(), false, 8, true);
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.pools, 64);
  EXPECT_EQ(p.conf.rx_adv_conf.vmdq_rx_conf.nb_pool_maps, 8);
  EXPECT_EQ(p.conf.rx_adv_conf.vmdq_rx_conf.enable_loop_back, 1);
  EXPECT_TRUE(p.loopback);
}

TEST(VmdqConfigTest, DcbIs16PoolsOf8TrafficClassesOr32Of4) {
  PortPlan p = VmdqConfigFor(Ixgbe82599(), true, 16, false);
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.pools, 16);
  EXPECT_EQ(p.traffic_classes, 8);
  EXPECT_EQ(p.rx_queues, 128);
  EXPECT_EQ(p.tx_queues, 128);
  EXPECT_EQ(p.conf.rxmode.mq_mode, RTE_ETH_MQ_RX_VMDQ_DCB);
  EXPECT_EQ(p.conf.txmode.mq_mode, RTE_ETH_MQ_TX_VMDQ_DCB);
  EXPECT_EQ(p.conf.rx_adv_conf.vmdq_dcb_conf.nb_queue_pools, RTE_ETH_16_POOLS);
  EXPECT_EQ(p.conf.tx_adv_conf.vmdq_dcb_tx_conf.nb_queue_pools, RTE_ETH_16_POOLS);
  for (int up = 0; up < 8; ++up) EXPECT_EQ(p.conf.rx_adv_conf.vmdq_dcb_conf.dcb_tc[up], up);
  EXPECT_EQ(p.conf.rx_adv_conf.vmdq_dcb_conf.pool_map[15].vlan_id, 1015);

  p = VmdqConfigFor(Ixgbe82599(), true, 24, false);
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.pools, 32);
  EXPECT_EQ(p.traffic_classes, 4);
  EXPECT_EQ(p.rx_queues, 128);
  EXPECT_EQ(p.conf.rx_adv_conf.vmdq_dcb_conf.nb_queue_pools, RTE_ETH_32_POOLS);
  EXPECT_EQ(p.conf.rx_adv_conf.vmdq_dcb_conf.dcb_tc[5], 1);
  EXPECT_EQ(p.conf.rx_adv_conf.vmdq_dcb_conf.nb_pool_maps, 24);
}

TEST(VmdqConfigTest, ImpossibleConfigurationsSayWhy) {
  EXPECT_NE(VmdqConfigFor(Ixgbe82599(), true, 33, false).error.find("at most 32 devices"), std::string::npos);
  EXPECT_NE(VmdqConfigFor(Ixgbe82599(), true, 8, true).error.find("--vm2vm 2"), std::string::npos);
  EXPECT_NE(VmdqConfigFor(Tap(), true, 8, false).error.find("--dcb needs"), std::string::npos);
  rte_eth_dev_info small = Ixgbe82599();
  small.max_vmdq_pools = RTE_ETH_8_POOLS;
  small.vmdq_queue_num = 16;
  EXPECT_NE(VmdqConfigFor(small, false, 9, false).error.find("fewer than the 9 devices"), std::string::npos);
  const PortPlan ok = VmdqConfigFor(small, false, 8, false);
  EXPECT_EQ(ok.error, "");
  EXPECT_EQ(ok.pools, 8);
  EXPECT_EQ(ok.queues_per_pool, 2);
}

TEST(VmdqConfigTest, APortWithoutVmdqRunsPlainWithItsOffloads) {
  const PortPlan p = VmdqConfigFor(Tap(), false, 8, true);
  EXPECT_EQ(p.error, "");
  EXPECT_FALSE(p.vmdq);
  EXPECT_EQ(p.rx_queues, 1);
  EXPECT_EQ(p.tx_queues, 1);
  EXPECT_EQ(p.conf.rxmode.mq_mode, RTE_ETH_MQ_RX_NONE);
  EXPECT_EQ(p.conf.txmode.offloads, RTE_ETH_TX_OFFLOAD_MULTI_SEGS | RTE_ETH_TX_OFFLOAD_TCP_TSO);
}

TEST(VmdqMacRequestTest, RoundTripsAndRejectsGarbage) {
  VmdqMacRequest r;
  r.add = false;
  const uint8_t mac[6] = {0x52, 0x54, 0, 0, 0, 0x14};
  std::copy(mac, mac + 6, r.mac);
  r.pool = 63;
  uint8_t buf[kVmdqMacRequestLen];
  EncodeVmdqMacRequest(r, buf);
  const auto back = DecodeVmdqMacRequest(buf, kVmdqMacRequestLen);
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->add);
  EXPECT_EQ(back->pool, 63u);
  EXPECT_TRUE(std::equal(mac, mac + 6, back->mac));
  EXPECT_FALSE(DecodeVmdqMacRequest(buf, kVmdqMacRequestLen - 1).has_value());
  buf[1] = 7;
  EXPECT_FALSE(DecodeVmdqMacRequest(buf, kVmdqMacRequestLen).has_value());
}

}  // namespace
}  // namespace vswitch
