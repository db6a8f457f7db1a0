#include "direct_route.h"

#include <bit>

namespace vswitch {

std::optional<uint32_t> DirectDestination(const DirectFrame& in, std::span<const DeviceView> devices) {
  const FrameInfo& f = in.frame;
  if (in.src_device >= devices.size()) return std::nullopt;
  const DeviceView& src = devices[in.src_device];
  // Switching learns (or refuses) a sender's MAC from its frames: until it has, and for
  // any other source address, the frame is switching's.
  if (f.status != FrameStatus::kOk || !src.learned || f.src != src.mac) return std::nullopt;
  if (IsMulticast(f.dst)) return std::nullopt;  // the port and every guest on the VLAN
  // One MAC per device (the MAC table's content): the owner of the destination is the
  // device that learned it.
  std::optional<uint32_t> dst_owner;
  for (uint32_t i = 0; i < devices.size(); ++i) {
    if (devices[i].learned && devices[i].mac == f.dst) {
      dst_owner = i;
      break;
    }
  }
  if (!dst_owner) return std::nullopt;
  GuestRouteInput route;
  route.src_device = in.src_device;
  route.frame = f;
  route.dst_owner = dst_owner;
  route.src_owner = in.src_device;
  route.software_vm2vm = true;
  // A unicast frame to another guest never reaches the port: only the receiver's limit
  // applies (RouteFromGuest checks it against devices[dst].max_frame).
  route.port_max_frame = 0;
  route.segmentation_offload = in.segmentation_offload;
  const Route r = RouteFromGuest(route, devices);
  if (r.drop || r.to_port || r.too_big != 0 || std::popcount(r.devices) != 1) return std::nullopt;
  return static_cast<uint32_t>(std::countr_zero(r.devices));
}

}  // namespace vswitch
