#include "tx_path.h"

#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <rte_mbuf_core.h>

namespace vswitch {
namespace {

// What net_tap offers in DPDK 22.11 (no VLAN insert), the 82599 (everything) and
// net_af_packet (VLAN insert and chains, no TSO, no checksums).
constexpr uint64_t kTap = RTE_ETH_TX_OFFLOAD_MULTI_SEGS | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM |
                          RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
                          RTE_ETH_TX_OFFLOAD_TCP_TSO;
constexpr uint64_t kIxgbe = kTap | RTE_ETH_TX_OFFLOAD_VLAN_INSERT;
constexpr uint64_t kAfPacket = RTE_ETH_TX_OFFLOAD_MULTI_SEGS | RTE_ETH_TX_OFFLOAD_VLAN_INSERT;

TEST(TxPathTest, VlanByThePortWhenItCanElseInSoftware) {
  EXPECT_TRUE(PlanPortTx(PortTxCapsFrom(kIxgbe), 0, 1).offload_vlan);
  EXPECT_FALSE(PlanPortTx(PortTxCapsFrom(kTap), 0, 1).offload_vlan);
  const TxPlan p = PlanPortTx(PortTxCapsFrom(kTap), 0, 1);
  EXPECT_FALSE(p.software_gso || p.linearize || p.software_ip_cksum || p.software_l4_cksum);
}

TEST(TxPathTest, TsoWholeWhenThePortSegmentsElseRteGso) {
  const uint64_t tso = RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IPV4;
  const TxPlan whole = PlanPortTx(PortTxCapsFrom(kIxgbe), tso, 3);
  EXPECT_FALSE(whole.software_gso);
  EXPECT_FALSE(whole.linearize);
  EXPECT_TRUE(whole.offload_vlan);
  const TxPlan cut = PlanPortTx(PortTxCapsFrom(kAfPacket), tso, 3);
  EXPECT_TRUE(cut.software_gso);
  EXPECT_FALSE(cut.offload_vlan) << "the tag must be in the headers rte_gso copies";
  EXPECT_FALSE(cut.linearize) << "af_packet takes chains";
  EXPECT_TRUE(cut.software_l4_cksum);
  EXPECT_TRUE(cut.software_ip_cksum);
  const TxPlan bare = PlanPortTx(PortTxCapsFrom(0), tso, 1);
  EXPECT_TRUE(bare.software_gso);
  EXPECT_TRUE(bare.linearize);
}

TEST(TxPathTest, ChainsAndChecksums) {
  EXPECT_TRUE(PlanPortTx(PortTxCapsFrom(0), 0, 2).linearize);
  EXPECT_FALSE(PlanPortTx(PortTxCapsFrom(kAfPacket), 0, 2).linearize);
  const uint64_t udp = RTE_MBUF_F_TX_UDP_CKSUM | RTE_MBUF_F_TX_IPV4;
  EXPECT_TRUE(PlanPortTx(PortTxCapsFrom(kAfPacket), udp, 1).software_l4_cksum);
  EXPECT_FALSE(PlanPortTx(PortTxCapsFrom(kTap), udp, 1).software_l4_cksum);
  EXPECT_FALSE(PlanPortTx(PortTxCapsFrom(0), 0, 1).software_l4_cksum) << "the guest did it";
}

}  // namespace
}  // namespace vswitch
