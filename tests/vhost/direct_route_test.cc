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
constexpr uint32_t kMaxFrame = kGuestSmallBufferFrame;  // a guest without mergeable buffers

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
  EXPECT_EQ(DirectDestination(From(0, kA, kB), d), 1u);
  EXPECT_EQ(DirectDestination(From(1, kB, kA), d), 0u);
}

TEST(DirectRouteTest, SenderNotLearnedOrAnotherSourceIsSwitchings) {
  const auto d = Devices();
  // Device 3 has not been learned: switching must see its frames to learn its MAC.
  EXPECT_EQ(DirectDestination(From(3, kHost, kA), d), std::nullopt);
  // A frame from device 0 with a source that is not its learned MAC (a second MAC, a
  // spoofed one, B's): switching learns, refuses or drops it.
  EXPECT_EQ(DirectDestination(From(0, kHost, kB), d), std::nullopt);
  EXPECT_EQ(DirectDestination(From(0, kB, kB), d), std::nullopt);
  EXPECT_EQ(DirectDestination(From(9, kA, kB), d), std::nullopt);
}

TEST(DirectRouteTest, PortBoundMulticastAndUnreadyDestinationsAreSwitchings) {
  const auto d = Devices();
  EXPECT_EQ(DirectDestination(From(0, kA, kHost), d), std::nullopt) << "unknown: the port";
  EXPECT_EQ(DirectDestination(From(0, kA, *MacFromString("ff:ff:ff:ff:ff:ff")), d), std::nullopt);
  EXPECT_EQ(DirectDestination(From(0, kA, *MacFromString("01:00:5e:00:00:01")), d), std::nullopt);
  EXPECT_EQ(DirectDestination(From(0, kA, kA), d), std::nullopt) << "to itself: the port";
  // C's device is not ready (its guest reconnected): switching counts the drop.
  EXPECT_EQ(DirectDestination(From(0, kA, kC), d), std::nullopt);
}

TEST(DirectRouteTest, FramesSwitchingWouldDropAreSwitchings) {
  const auto d = Devices();
  DirectFrame runt = From(0, kA, kB, 10);
  runt.frame.status = FrameStatus::kRunt;
  EXPECT_EQ(DirectDestination(runt, d), std::nullopt);
  DirectFrame tagged = From(0, kA, kB);
  tagged.frame.tagged = true;
  tagged.frame.vlan_id = 1001;
  EXPECT_EQ(DirectDestination(tagged, d), std::nullopt);
  DirectFrame qinq = From(0, kA, kB);
  qinq.frame.status = FrameStatus::kDoubleVlan;
  EXPECT_EQ(DirectDestination(qinq, d), std::nullopt);
  // More than the receiver takes: switching counts it as oversize against the receiver.
  EXPECT_EQ(DirectDestination(From(0, kA, kB, kMaxFrame + 1), d), std::nullopt);
  EXPECT_EQ(DirectDestination(From(0, kA, kB, kMaxFrame), d), 1u);
  // A TSO frame reaches the guest whole: only one with big buffers (GUEST_TSO) takes it.
  DirectFrame tso = From(0, kA, kB, 64000);
  tso.segmentation_offload = true;
  EXPECT_EQ(DirectDestination(tso, d), std::nullopt);
  auto big = Devices();
  big[1].max_frame = GuestMaxFrame(uint64_t{1} << kVirtioNetGuestTso4);
  EXPECT_EQ(DirectDestination(tso, big), 1u);
}

// Jumbo frames between guests do not depend on the port's MTU: a 9000-byte frame goes
// direct to a guest with mergeable RX buffers, and to switching (which counts the drop)
// for one without.
TEST(DirectRouteTest, JumboFramesGoDirectToAGuestThatCanTakeThem) {
  auto d = Devices();
  d[1].max_frame = GuestMaxFrame(uint64_t{1} << kVirtioNetMrgRxbuf);
  EXPECT_EQ(DirectDestination(From(0, kA, kB, 9000), d), 1u);
  EXPECT_EQ(DirectDestination(From(1, kB, kA, 9000), d), std::nullopt) << "A has 1526-byte buffers";
  EXPECT_EQ(DirectDestination(From(1, kB, kA, 1514), d), 0u);
}

}  // namespace
}  // namespace vswitch
