// The MTU the primary sets on its port (port_mtu.h): what was asked, within what the port
// and the pool's mbufs take. Port figures are those drivers report in rte_eth_dev_info.
#include "port_mtu.h"

#include <gtest/gtest.h>

namespace vswitch {
namespace {

constexpr uint32_t kMbufData = 2048;  // RTE_MBUF_DEFAULT_BUF_SIZE less the headroom

TEST(PortMtuTest, AutoFollowsMergeable) {
  EXPECT_EQ(AutoMtu(false), 1500u);
  EXPECT_EQ(AutoMtu(true), 9710u) << "vhost-switch's 9728-byte frames with --mergeable 1";
}

TEST(PortMtuTest, AJumboPortThatScattersTakesTheWholeMtu) {
  // An 82599 (ixgbe): max_rx_pktlen 15872, max_mtu 15872 - 18, RX scatter.
  const PortFrameLimits ixgbe{68, 15872 - 18, 15872, true, kMbufData};
  const PortMtuPlan p = PlanPortMtu(9710, ixgbe);
  EXPECT_EQ(p.mtu, 9710);
  EXPECT_TRUE(p.rx_scatter) << "9728-byte frames span 5 mbufs";
  EXPECT_TRUE(p.note.empty()) << p.note;
  const PortMtuPlan small = PlanPortMtu(1500, ixgbe);
  EXPECT_EQ(small.mtu, 1500);
  EXPECT_FALSE(small.rx_scatter);
}

TEST(PortMtuTest, ClampedToThePortsMaximum) {
  // DPDK's net_tap: max_rx_pktlen 1522 (a VLAN-tagged 1500-byte frame), no max_mtu.
  const PortFrameLimits tap{68, UINT16_MAX, 1522, false, kMbufData};
  const PortMtuPlan p = PlanPortMtu(9710, tap);
  EXPECT_EQ(p.mtu, 1504) << "1522 less the Ethernet header and FCS";
  EXPECT_EQ(p.note, "the port's maximum");
  EXPECT_EQ(p.port_max, 1504u);
  // A port that reports its own overhead (max_rx_pktlen - max_mtu = 26 here).
  const PortFrameLimits own{68, 9000, 9026, true, kMbufData};
  EXPECT_EQ(PlanPortMtu(9710, own).mtu, 9000);
  EXPECT_EQ(PlanPortMtu(8000, own).mtu, 8000);
}

TEST(PortMtuTest, APortThatCannotScatterIsHeldToOneMbuf) {
  const PortFrameLimits no_scatter{68, 9600, 9618, false, kMbufData};
  const PortMtuPlan p = PlanPortMtu(9000, no_scatter);
  EXPECT_EQ(p.mtu, kMbufData - 18);
  EXPECT_FALSE(p.rx_scatter);
  EXPECT_NE(p.note.find("one mbuf"), std::string::npos) << p.note;
}

TEST(PortMtuTest, RaisedToThePortsMinimum) {
  const PortFrameLimits p{1280, UINT16_MAX, 9728, true, kMbufData};
  EXPECT_EQ(PlanPortMtu(576, p).mtu, 1280);
}

}  // namespace
}  // namespace vswitch
