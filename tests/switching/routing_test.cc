#include "routing.h"

#include <gtest/gtest.h>

#include <vector>

#include "vlan_tag.h"

namespace vswitch {
namespace {

const MacKey kA = *MacFromString("52:54:00:00:00:0a");  // device 0
const MacKey kB = *MacFromString("52:54:00:00:00:0b");  // device 1
const MacKey kHost = *MacFromString("02:00:00:00:00:99");
const MacKey kBroadcast = *MacFromString("ff:ff:ff:ff:ff:ff");

std::vector<DeviceView> Devices() {
  std::vector<DeviceView> d(4);
  for (uint32_t i = 0; i < d.size(); ++i) d[i].vlan = VlanOfDevice(i);
  d[0] = {true, true, kA, VlanOfDevice(0)};
  d[1] = {true, true, kB, VlanOfDevice(1)};
  d[2].ready = true;  // connected, has sent nothing yet
  return d;
}

FrameInfo Frame(MacKey dst, MacKey src, bool tagged = false, uint16_t vlan = 0, uint32_t len = 64) {
  FrameInfo f;
  f.status = FrameStatus::kOk;
  f.dst = dst;
  f.src = src;
  f.tagged = tagged;
  f.vlan_id = vlan;
  f.length = len;
  return f;
}

GuestRouteInput FromA(MacKey dst, bool software_vm2vm) {
  GuestRouteInput in;
  in.src_device = 0;
  in.frame = Frame(dst, kA);
  in.src_owner = 0u;
  if (dst == kB) in.dst_owner = 1u;
  in.software_vm2vm = software_vm2vm;
  return in;
}

Route ToPort() { Route r; r.to_port = true; return r; }
Route ToDevices(uint64_t mask) { Route r; r.devices = mask; return r; }

TEST(RoutingTest, Vm2vm1SendsToTheOwningDevice) {
  const auto d = Devices();
  EXPECT_EQ(RouteFromGuest(FromA(kB, true), d), ToDevices(0b10));
  EXPECT_EQ(RouteFromGuest(FromA(kHost, true), d), ToPort()) << "unknown: to the port";
}

TEST(RoutingTest, Vm2vm0SendsEverythingToThePort) {
  const auto d = Devices();
  EXPECT_EQ(RouteFromGuest(FromA(kB, false), d), ToPort());
  EXPECT_EQ(RouteFromGuest(FromA(kHost, false), d), ToPort());
}

TEST(RoutingTest, GuestBroadcastGoesToThePortAndItsVlanOnly) {
  auto d = Devices();
  EXPECT_EQ(RouteFromGuest(FromA(kBroadcast, true), d), ToPort()) << "device 0 is alone on VLAN 1000";
  d[3] = {true, false, 0, VlanOfDevice(0)};  // a device sharing the sender's VLAN
  Route both = ToPort();
  both.devices = 0b1000;
  EXPECT_EQ(RouteFromGuest(FromA(kBroadcast, true), d), both);
  EXPECT_EQ(RouteFromGuest(FromA(kBroadcast, false), d), ToPort()) << "vm2vm 0: the port does it";
}

TEST(RoutingTest, GuestBadFramesAreDroppedByReason) {
  const auto d = Devices();
  GuestRouteInput in = FromA(kB, true);
  in.frame.status = FrameStatus::kRunt;
  EXPECT_EQ(RouteFromGuest(in, d), Route::Drop(DropReason::kRunt));
  in = FromA(kB, true);
  in.frame.tagged = true;
  in.frame.vlan_id = 5;
  EXPECT_EQ(RouteFromGuest(in, d), Route::Drop(DropReason::kDoubleVlan)) << "our tag would stack on it";
  in = FromA(kB, true);
  in.frame.status = FrameStatus::kDoubleVlan;
  EXPECT_EQ(RouteFromGuest(in, d), Route::Drop(DropReason::kDoubleVlan));
  in = FromA(kHost, true);
  in.frame.src = kB;
  in.src_owner = 1u;
  EXPECT_EQ(RouteFromGuest(in, d), Route::Drop(DropReason::kSpoofedSource));
  in = FromA(kHost, true);
  in.frame.src = kBroadcast;
  in.src_owner = std::nullopt;
  EXPECT_EQ(RouteFromGuest(in, d), Route::Drop(DropReason::kSpoofedSource));
  in = FromA(kHost, true);
  in.frame.length = 1515;
  EXPECT_EQ(RouteFromGuest(in, d), Route::Drop(DropReason::kOversize));
  in.segmentation_offload = true;
  EXPECT_EQ(RouteFromGuest(in, d), ToPort()) << "TSO frames are cut later";
}

constexpr uint64_t kMergeable = uint64_t{1} << kVirtioNetMrgRxbuf;

// Guest to guest (vm2vm 1), the limit is the receiver's, not the port's MTU.
TEST(RoutingTest, JumboGuestToGuestFollowsTheReceiversBuffers) {
  auto d = Devices();
  d[1].max_frame = GuestMaxFrame(kMergeable);
  GuestRouteInput in = FromA(kB, true);
  in.frame.length = 9000;
  EXPECT_EQ(RouteFromGuest(in, d), ToDevices(0b10)) << "B has mergeable buffers; the port's 1514 does not apply";
  in.port_max_frame = 9014;
  EXPECT_EQ(RouteFromGuest(in, d), ToDevices(0b10));

  d[1].max_frame = GuestMaxFrame(0);  // 1526-byte buffers
  in.port_max_frame = 9014;
  Route refused;
  refused.too_big = 0b10;
  EXPECT_EQ(RouteFromGuest(in, d), refused) << "counted against B, not a drop of A's";
  in.frame.length = 1514;
  EXPECT_EQ(RouteFromGuest(in, d), ToDevices(0b10));
  // A TSO frame reaches a guest whole: one without big buffers cannot take it.
  in.frame.length = 30000;
  in.segmentation_offload = true;
  EXPECT_EQ(RouteFromGuest(in, d), refused);
  d[1].max_frame = GuestMaxFrame(uint64_t{1} << kVirtioNetGuestTso6);
  EXPECT_EQ(RouteFromGuest(in, d), ToDevices(0b10));
}

TEST(RoutingTest, JumboToThePortFollowsThePortsMtu) {
  const auto d = Devices();
  GuestRouteInput in = FromA(kHost, true);
  in.frame.length = 9000;
  in.port_max_frame = 9014;
  EXPECT_EQ(RouteFromGuest(in, d), ToPort());
  in.frame.length = 9015;
  EXPECT_EQ(RouteFromGuest(in, d), Route::Drop(DropReason::kOversize));
}

TEST(RoutingTest, JumboBroadcastReachesWhoCanTakeIt) {
  auto d = Devices();
  d[0].vlan = d[1].vlan = d[2].vlan = VlanOfDevice(0);  // one VLAN for the test
  d[1].max_frame = GuestMaxFrame(kMergeable);
  GuestRouteInput in = FromA(kBroadcast, true);
  in.frame.length = 4000;
  Route r;
  r.port_too_big = true;  // the port carries 1514
  r.devices = 0b10;       // B has mergeable buffers
  r.too_big = 0b100;      // device 2 has not
  EXPECT_EQ(RouteFromGuest(in, d), r);
  in.port_max_frame = 9014;
  r.port_too_big = false;
  r.to_port = true;
  EXPECT_EQ(RouteFromGuest(in, d), r);
}

TEST(RoutingTest, JumboFromThePortFollowsTheReceiversBuffers) {
  auto d = Devices();
  Route refused;
  refused.too_big = 0b1;
  EXPECT_EQ(RouteFromPort(Frame(kA, kHost, true, 1000, 9004), 0u, d, 9014), refused);
  d[0].max_frame = GuestMaxFrame(kMergeable);
  EXPECT_EQ(RouteFromPort(Frame(kA, kHost, true, 1000, 9004), 0u, d, 9014), ToDevices(0b1));
}

TEST(RoutingTest, GuestToANotReadyDeviceIsDropped) {
  auto d = Devices();
  d[1].ready = false;
  EXPECT_EQ(RouteFromGuest(FromA(kB, true), d), Route::Drop(DropReason::kDeviceNotReady));
}

TEST(RoutingTest, PortFramesNeedTheOwnersVlan) {
  const auto d = Devices();
  EXPECT_EQ(RouteFromPort(Frame(kA, kHost, true, 1000), 0u, d, 1514), ToDevices(0b1));
  EXPECT_EQ(RouteFromPort(Frame(kB, kHost, true, 1001), 1u, d, 1514), ToDevices(0b10));
  EXPECT_EQ(RouteFromPort(Frame(kA, kHost, true, 1001), 0u, d, 1514),
            Route::Drop(DropReason::kUnknownDestination)) << "A's MAC on B's VLAN";
  EXPECT_EQ(RouteFromPort(Frame(kA, kHost), 0u, d, 1514), Route::Drop(DropReason::kUnknownDestination))
      << "untagged: no pool";
  EXPECT_EQ(RouteFromPort(Frame(kHost, kA, true, 1000), std::nullopt, d, 1514),
            Route::Drop(DropReason::kUnknownDestination));
  EXPECT_EQ(RouteFromPort(Frame(kA, kHost, true, 1050), 0u, d, 1514),
            Route::Drop(DropReason::kUnknownDestination)) << "no device has VLAN 1050";
}

TEST(RoutingTest, PortBroadcastReachesTheDevicesOnItsVlan) {
  auto d = Devices();
  EXPECT_EQ(RouteFromPort(Frame(kBroadcast, kHost, true, 1000), std::nullopt, d, 1514), ToDevices(0b1));
  EXPECT_EQ(RouteFromPort(Frame(kBroadcast, kHost, true, 1002), std::nullopt, d, 1514), ToDevices(0b100))
      << "a ready device gets broadcasts before it has learned";
  EXPECT_EQ(RouteFromPort(Frame(kBroadcast, kHost, true, 1003), std::nullopt, d, 1514),
            Route::Drop(DropReason::kDeviceNotReady));
  EXPECT_EQ(RouteFromPort(Frame(kBroadcast, kHost), std::nullopt, d, 1514),
            Route::Drop(DropReason::kUnknownDestination));
}

TEST(RoutingTest, PortBadFramesAreDroppedByReason) {
  const auto d = Devices();
  FrameInfo f = Frame(kA, kHost, true, 1000);
  f.status = FrameStatus::kRunt;
  EXPECT_EQ(RouteFromPort(f, 0u, d, 1514), Route::Drop(DropReason::kRunt));
  f.status = FrameStatus::kDoubleVlan;
  EXPECT_EQ(RouteFromPort(f, 0u, d, 1514), Route::Drop(DropReason::kDoubleVlan));
  EXPECT_EQ(RouteFromPort(Frame(kA, kHost, true, 1000, 1519), 0u, d, 1514), Route::Drop(DropReason::kOversize));
  EXPECT_EQ(RouteFromPort(Frame(kA, kHost, true, 1000, 1518), 0u, d, 1514), ToDevices(0b1));
  auto off = Devices();
  off[0].ready = false;
  EXPECT_EQ(RouteFromPort(Frame(kA, kHost, true, 1000), 0u, off, 1514), Route::Drop(DropReason::kDeviceNotReady));
}

}  // namespace
}  // namespace vswitch
