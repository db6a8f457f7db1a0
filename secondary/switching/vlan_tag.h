// VLAN numbering of the switch (as DPDK's vhost-switch): device i is alone on VLAN
// 1000 + i. Frames leave toward the port tagged with their device's VLAN; frames from the
// port reach the device that owns the tag. Pure.
#pragma once

#include <cstdint>
#include <optional>

#include "state_layout.h"

namespace vswitch {

[[nodiscard]] constexpr uint16_t VlanOfDevice(uint32_t device) {
  return static_cast<uint16_t>(kVlanBase + device);
}

[[nodiscard]] constexpr std::optional<uint32_t> DeviceOfVlan(uint16_t vlan_id, uint32_t max_devices) {
  if (vlan_id < kVlanBase || static_cast<uint32_t>(vlan_id - kVlanBase) >= max_devices) return std::nullopt;
  return static_cast<uint32_t>(vlan_id - kVlanBase);
}

}  // namespace vswitch
