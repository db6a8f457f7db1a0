// Where one frame goes, decided from its header, the MAC table's answer and the devices'
// state. Pure: no DPDK; the switch engine does the moving.
//
// From a guest (device `src`):
//   - broadcast/multicast: to the port, and (software vm2vm) to every other ready device on
//     the sender's VLAN;
//   - unicast to a MAC another device owns: to that device's to_vm ring when vm2vm is done
//     in software (--vm2vm 1, or 2 on a port without VMDQ loopback), else to the port;
//   - anything else: to the port, tagged with the sender's VLAN.
// From the port: only frames tagged with a device's VLAN go anywhere (VMDQ maps VLAN
// 1000 + i to pool i and has no default pool); unicast must also be to the MAC that
// device registered.
// Size: a copy toward the port is limited by the port's MTU, a copy toward a guest by what
// that guest can receive (DeviceView::max_frame, guest_frame_limit.h), so guest-to-guest
// frames are not held to the port's MTU. A copy a receiver cannot take is left out and
// named in Route::too_big / port_too_big, for the engine to count against that receiver.
#pragma once

#include <cstdint>
#include <span>
#include <optional>

#include "drop_reason.h"
#include "ethernet_frame.h"
#include "guest_frame_limit.h"
#include "state_layout.h"

namespace vswitch {

struct DeviceView {
  bool ready = false;    // DeviceInfo::state == kReady
  bool learned = false;  // DeviceL2::learned
  MacKey mac = 0;
  uint16_t vlan = 0;     // VlanOfDevice(i)
  uint32_t max_frame = kGuestSmallBufferFrame;  // GuestMaxFrame(its negotiated features)
};

struct Route {
  bool drop = false;
  DropReason reason = DropReason::kCount;
  bool to_port = false;
  uint64_t devices = 0;  // bit i: a copy to device i's to_vm ring (kMaxDevices <= 64)
  // Copies left out because the receiver cannot take a frame this large (oversize):
  // bit i for device i; port_too_big for the port's copy of a broadcast/multicast frame.
  uint64_t too_big = 0;
  bool port_too_big = false;

  [[nodiscard]] static Route Drop(DropReason r) { return {true, r, false, 0, 0, false}; }
  [[nodiscard]] bool operator==(const Route&) const = default;
};
static_assert(kMaxDevices <= 64, "Route::devices is a 64-bit mask");

struct GuestRouteInput {
  uint32_t src_device = 0;
  FrameInfo frame;
  std::optional<uint32_t> dst_owner;  // table lookup of frame.dst
  std::optional<uint32_t> src_owner;  // table lookup of frame.src
  bool software_vm2vm = false;        // deliver guest-to-guest frames ourselves
  uint32_t port_max_frame = 1514;     // untagged bytes the port carries (MTU + 14)
  // TSO/UFO frame: the port's limit applies per segment (switching cuts it for the port);
  // a guest gets it whole, so its limit applies to the whole frame.
  bool segmentation_offload = false;
};

[[nodiscard]] Route RouteFromGuest(const GuestRouteInput& in, std::span<const DeviceView> devices);

// `dst_owner`: table lookup of frame.dst. `port_max_frame`: untagged bytes the port
// carries; a larger frame from it is dropped as oversize.
[[nodiscard]] Route RouteFromPort(const FrameInfo& frame, std::optional<uint32_t> dst_owner,
                                  std::span<const DeviceView> devices, uint32_t port_max_frame);

}  // namespace vswitch
