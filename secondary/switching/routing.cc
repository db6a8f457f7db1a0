#include "routing.h"

#include "vlan_tag.h"

namespace vswitch {
namespace {

uint64_t Bit(uint32_t i) { return uint64_t{1} << i; }

}  // namespace

Route RouteFromGuest(const GuestRouteInput& in, std::span<const DeviceView> devices) {
  const FrameInfo& f = in.frame;
  if (f.status == FrameStatus::kRunt) return Route::Drop(DropReason::kRunt);
  // The port side adds the device's tag: a frame the guest tagged itself would leave
  // with two, and QinQ is not switched.
  if (f.status == FrameStatus::kDoubleVlan || f.tagged) return Route::Drop(DropReason::kDoubleVlan);
  if (!IsValidSource(f.src)) return Route::Drop(DropReason::kSpoofedSource);
  if (in.src_owner && *in.src_owner != in.src_device) return Route::Drop(DropReason::kSpoofedSource);
  if (IsOversize(f, in.max_frame, in.segmentation_offload)) return Route::Drop(DropReason::kOversize);

  Route r;
  if (IsMulticast(f.dst)) {
    r.to_port = true;
    if (in.software_vm2vm && in.src_device < devices.size()) {
      const uint16_t vlan = devices[in.src_device].vlan;
      for (uint32_t i = 0; i < devices.size(); ++i) {
        if (i != in.src_device && devices[i].ready && devices[i].vlan == vlan) r.devices |= Bit(i);
      }
    }
    return r;
  }
  if (in.software_vm2vm && in.dst_owner && *in.dst_owner != in.src_device &&
      *in.dst_owner < devices.size()) {
    if (!devices[*in.dst_owner].ready) return Route::Drop(DropReason::kDeviceNotReady);
    r.devices = Bit(*in.dst_owner);
    return r;
  }
  r.to_port = true;
  return r;
}

Route RouteFromPort(const FrameInfo& f, std::optional<uint32_t> dst_owner,
                    std::span<const DeviceView> devices, uint32_t max_frame) {
  if (f.status == FrameStatus::kRunt) return Route::Drop(DropReason::kRunt);
  if (f.status == FrameStatus::kDoubleVlan) return Route::Drop(DropReason::kDoubleVlan);
  if (IsOversize(f, max_frame, false)) return Route::Drop(DropReason::kOversize);
  if (!f.tagged) return Route::Drop(DropReason::kUnknownDestination);
  const auto vlan_device = DeviceOfVlan(f.vlan_id, static_cast<uint32_t>(devices.size()));
  if (!vlan_device) return Route::Drop(DropReason::kUnknownDestination);
  Route r;
  if (IsMulticast(f.dst)) {
    for (uint32_t i = 0; i < devices.size(); ++i) {
      if (devices[i].ready && devices[i].vlan == f.vlan_id) r.devices |= Bit(i);
    }
    if (r.devices == 0) return Route::Drop(DropReason::kDeviceNotReady);
    return r;
  }
  if (!dst_owner || *dst_owner >= devices.size() || devices[*dst_owner].vlan != f.vlan_id) {
    return Route::Drop(DropReason::kUnknownDestination);
  }
  if (!devices[*dst_owner].ready) return Route::Drop(DropReason::kDeviceNotReady);
  r.devices = Bit(*dst_owner);
  return r;
}

}  // namespace vswitch
