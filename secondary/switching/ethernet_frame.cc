#include "ethernet_frame.h"

namespace vswitch {
namespace {

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

}  // namespace

FrameInfo ParseFrame(std::span<const uint8_t> head, uint32_t frame_length, bool port_stripped,
                     uint16_t stripped_tci) {
  FrameInfo f;
  f.length = frame_length;
  if (frame_length < kEtherHeaderLen || head.size() < kEtherHeaderLen) return f;  // kRunt
  f.dst = MacFromBytes(head.data());
  f.src = MacFromBytes(head.data() + 6);
  const uint16_t type = Be16(head.data() + 12);
  if (port_stripped) {
    // The port removed the outer tag; what follows is the frame's own type.
    f.tagged = true;
    f.vlan_id = stripped_tci & 0x0fff;
    f.ether_type = type;
    f.status = IsTagType(type) ? FrameStatus::kDoubleVlan : FrameStatus::kOk;
    return f;
  }
  if (type == kEtherTypeQinQ || type == kEtherType9100) {
    f.status = FrameStatus::kDoubleVlan;  // a service tag: stacked by definition
    return f;
  }
  if (type != kEtherTypeVlan) {
    f.ether_type = type;
    f.status = FrameStatus::kOk;
    return f;
  }
  if (frame_length < kEtherHeaderLen + kVlanTagLen || head.size() < kEtherHeaderLen + kVlanTagLen) {
    return f;  // kRunt: the tag it announces is cut off
  }
  f.tagged = true;
  f.vlan_id = Be16(head.data() + 14) & 0x0fff;
  f.ether_type = Be16(head.data() + 16);
  f.status = IsTagType(f.ether_type) ? FrameStatus::kDoubleVlan : FrameStatus::kOk;
  return f;
}

}  // namespace vswitch
