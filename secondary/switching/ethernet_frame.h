// What the switch reads from a frame before deciding where it goes: the Ethernet header
// and at most one 802.1Q tag. Pure: works on the first bytes of a frame, no DPDK.
#pragma once

#include <cstdint>
#include <span>

#include "mac_table.h"

namespace vswitch {

inline constexpr uint32_t kEtherHeaderLen = 14;
inline constexpr uint32_t kVlanTagLen = 4;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;  // IEEE 802.1Q
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;  // IEEE 802.1ad service tag
inline constexpr uint16_t kEtherType9100 = 0x9100;  // pre-802.1ad stacked-VLAN tag
// ParseFrame needs the first kParseBytes of a frame (or the whole frame when shorter).
inline constexpr uint32_t kParseBytes = kEtherHeaderLen + 2 * kVlanTagLen;

enum class FrameStatus {
  kOk,
  kRunt,        // shorter than its Ethernet header (with the VLAN tag it announces)
  kDoubleVlan,  // a VLAN tag inside a VLAN tag (QinQ), or an 802.1ad outer tag
};

struct FrameInfo {
  FrameStatus status = FrameStatus::kRunt;
  MacKey dst = 0;
  MacKey src = 0;
  bool tagged = false;     // one 802.1Q tag (in the frame, or stripped by the port)
  uint16_t vlan_id = 0;    // its 12-bit VLAN id when tagged
  uint16_t ether_type = 0; // the type after the tag
  uint32_t length = 0;     // frame length in bytes, the tag included
};

[[nodiscard]] constexpr bool IsTagType(uint16_t type) {
  return type == kEtherTypeVlan || type == kEtherTypeQinQ || type == kEtherType9100;
}

// `head` holds the first min(kParseBytes, frame_length) bytes. `stripped_tci` is the tag
// the port already removed (RTE_MBUF_F_RX_VLAN_STRIPPED), if any.
[[nodiscard]] FrameInfo ParseFrame(std::span<const uint8_t> head, uint32_t frame_length,
                                   bool port_stripped = false, uint16_t stripped_tci = 0);

// The group/individual bit: broadcast and multicast destinations.
[[nodiscard]] constexpr bool IsMulticast(MacKey mac) { return (mac & 0x1) != 0; }
[[nodiscard]] constexpr bool IsBroadcast(MacKey mac) { return mac == 0xffffffffffffull; }
// A source address a guest may own: unicast and not all zeros.
[[nodiscard]] constexpr bool IsValidSource(MacKey mac) { return mac != 0 && !IsMulticast(mac); }

// Frame length without its tag is over `max_untagged` bytes (the port's MTU plus the
// Ethernet header); segmentation offload (TSO) frames are exempt, they are cut later.
[[nodiscard]] constexpr bool IsOversize(const FrameInfo& f, uint32_t max_untagged, bool segmentation_offload) {
  if (segmentation_offload) return false;
  const uint32_t untagged = f.length - (f.tagged && f.length >= kVlanTagLen ? kVlanTagLen : 0);
  return untagged > max_untagged;
}

}  // namespace vswitch
