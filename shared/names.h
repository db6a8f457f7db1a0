// Names of the DPDK objects the primary creates and the secondaries look up. A name is
// part of the shared layout: changing one is a layout change (bump kLayoutVersion).
#pragma once

#include <cstdio>
#include <string>

namespace vswitch {

inline constexpr const char* kStateMemzone = "vswitch_state";
inline constexpr const char* kMbufPool = "vsw_mbuf_pool";
inline constexpr const char* kMacTable = "vsw_mac_table";
// Where vswitch-vhost records each packed ring's device position (kPackedRingsBytes,
// state_layout.h), so that the next instance can resume it.
inline constexpr const char* kPackedRingsMemzone = "vsw_packed_rings";

// Per-device rings. DPDK names are at most RTE_RING_NAMESIZE - 1 (31) characters.
[[nodiscard]] inline std::string ToVmRingName(unsigned device) {
  return "vsw_to_vm_" + std::to_string(device);
}
[[nodiscard]] inline std::string FromVmRingName(unsigned device) {
  return "vsw_from_vm_" + std::to_string(device);
}

}  // namespace vswitch
