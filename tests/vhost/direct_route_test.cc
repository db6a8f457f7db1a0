// When vswitch-vhost delivers a guest's frame to another guest itself (direct_route.h):
// exactly the frames switching would send to that one guest, from a sender whose MAC is
// learned; everything else stays switching's.
#include "direct_route.h"

#include <gtest/gtest.h>

#include <vector>

#include "vlan_tag.h"

namespace vswitch {
namespace {

const MacKey kA = *MacFromString("52:54:00:00:00:0a");  // device 0
const MacKey kB = *MacFromString("52:54:00:00:00:0b");  // device 1
const MacKey kC = *MacFromString("52:54:00:00:00:0c");  // device 2, learned but not ready
const MacKey kHost = *MacFromString("02:00:00:00:00:99");
constexpr uint32_t kMaxFrame = 1514;

std::vector<DeviceView> Devices() {
  std::vector<DeviceView> d(4);
  for (uint32_t i = 0; i < d.size(); ++i) d[i].vlan = VlanOfDevice(i);
  d[0] = {true, true, kA, VlanOfDevice(0)};
  d[1] = {true, true, kB, VlanOfDevice(1)};
  d[2] = {false, true, kC, VlanOfDevice(2)};
  d[3].ready = true;  // connected, nothing learned yet
  return d;
}

DirectFrame From(uint32_t device, MacKey src, MacKey dst, uint32_t len = 64) {
  DirectFrame f;
  f.src_device = device;
  f.frame.status = FrameStatus::kOk;
  f.frame.src = src;
  f.frame.dst = dst;
  f.frame.length = len;
  return f;
}

TEST(DirectRouteTest, UnicastBetweenLearnedReadyGuestsGoesDirect) {
  const auto d = Devices();
  EXPECT_EQ(DirectDestination(From(0, kA, kB), d, kMaxFrame), 1u);
  EXPECT_EQ(DirectDestination(From(1, kB, kA), d, kMaxFrame), 0u);
}

TEST(DirectRouteTest, SenderNotLearnedOrAnotherSourceIsSwitchings) {
  const auto d = Devices();
  // Device 3 has not been learned: switching must see its frames to learn its MAC.
  EXPECT_EQ(DirectDestination(From(3, kHost, kA), d, kMaxFrame), std::nullopt);
  // A frame from device 0 with a source that is not its learned MAC (a second MAC, a
  // spoofed one, B's): switching learns, refuses or drops it.
  EXPECT_EQ(DirectDestination(From(0, kHost, kB), d, kMaxFrame), std::nullopt);
  EXPECT_EQ(DirectDestination(From(0, kB, kB), d, kMaxFrame), std::nullopt);
  EXPECT_EQ(DirectDestination(From(9, kA, kB), d, kMaxFrame), std::nullopt);
}

TEST(DirectRouteTest, PortBoundMulticastAndUnreadyDestinationsAreSwitchings) {
  const auto d = Devices();
  EXPECT_EQ(DirectDestination(From(0, kA, kHost), d, kMaxFrame), std::nullopt) << "unknown: the port";
  EXPECT_EQ(DirectDestination(From(0, kA, *MacFromString("ff:ff:ff:ff:ff:ff")), d, kMaxFrame), std::nullopt);
  EXPECT_EQ(DirectDestination(From(0, kA, *MacFromString("01:00:5e:00:00:01")), d, kMaxFrame), std::nullopt);
  EXPECT_EQ(DirectDestination(From(0, kA, kA), d, kMaxFrame), std::nullopt) << "to itself: the port";
  // C's device is not ready (its guest reconnected): switching counts the drop.
  EXPECT_EQ(DirectDestination(From(0, kA, kC), d, kMaxFrame), std::nullopt);
}

TEST(DirectRouteTest, FramesSwitchingWouldDropAreSwitchings) {
  const auto d = Devices();
  DirectFrame runt = From(0, kA, kB, 10);
  runt.frame.status = FrameStatus::kRunt;
  EXPECT_EQ(DirectDestination(runt, d, kMaxFrame), std::nullopt);
  DirectFrame tagged = From(0, kA, kB);
  tagged.frame.tagged = true;
  tagged.frame.vlan_id = 1001;
  EXPECT_EQ(DirectDestination(tagged, d, kMaxFrame), std::nullopt);
  DirectFrame qinq = From(0, kA, kB);
  qinq.frame.status = FrameStatus::kDoubleVlan;
  EXPECT_EQ(DirectDestination(qinq, d, kMaxFrame), std::nullopt);
  // Over the port's MTU: switching drops it as oversize, unless the guest asked for
  // segmentation (each segment is within the limit).
  EXPECT_EQ(DirectDestination(From(0, kA, kB, kMaxFrame + 1), d, kMaxFrame), std::nullopt);
  EXPECT_EQ(DirectDestination(From(0, kA, kB, kMaxFrame), d, kMaxFrame), 1u);
  DirectFrame tso = From(0, kA, kB, 64000);
  tso.segmentation_offload = true;
  EXPECT_EQ(DirectDestination(tso, d, kMaxFrame), 1u);
}

}  // namespace
}  // namespace vswitch
