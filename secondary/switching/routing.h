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
#pragma once

#include <cstdint>
#include <span>
#include <optional>

#include "drop_reason.h"
#include "ethernet_frame.h"
#include "state_layout.h"

namespace vswitch {

struct DeviceView {
  bool ready = false;    // DeviceInfo::state == kReady
  bool learned = false;  // DeviceL2::learned
  MacKey mac = 0;
  uint16_t vlan = 0;     // VlanOfDevice(i)
};

struct Route {
  bool drop = false;
  DropReason reason = DropReason::kCount;
  bool to_port = false;
  uint64_t devices = 0;  // bit i: a copy to device i's to_vm ring (kMaxDevices <= 64)

  [[nodiscard]] static Route Drop(DropReason r) { return {true, r, false, 0}; }
  [[nodiscard]] bool operator==(const Route&) const = default;
};
static_assert(kMaxDevices <= 64, "Route::devices is a 64-bit mask");

struct GuestRouteInput {
  uint32_t src_device = 0;
  FrameInfo frame;
  std::optional<uint32_t> dst_owner;  // table lookup of frame.dst
  std::optional<uint32_t> src_owner;  // table lookup of frame.src
  bool software_vm2vm = false;        // deliver guest-to-guest frames ourselves
  uint32_t max_frame = 1514;          // untagged bytes the port carries (MTU + 14)
  bool segmentation_offload = false;  // TSO/UFO frame: the size limit applies per segment
};

[[nodiscard]] Route RouteFromGuest(const GuestRouteInput& in, std::span<const DeviceView> devices);

// `dst_owner`: table lookup of frame.dst.
[[nodiscard]] Route RouteFromPort(const FrameInfo& frame, std::optional<uint32_t> dst_owner,
                                  std::span<const DeviceView> devices, uint32_t max_frame);

}  // namespace vswitch
