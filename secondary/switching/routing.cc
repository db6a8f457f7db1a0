#include "routing.h"

#include "vlan_tag.h"

namespace vswitch {
namespace {

uint64_t Bit(uint32_t i) { return uint64_t{1} << i; }

// A copy toward device i: delivered, or refused for its size.
void AddDevice(Route& r, const FrameInfo& f, const DeviceView& device, uint32_t i) {
  if (IsOversize(f, device.max_frame, false)) {
    r.too_big |= Bit(i);
  } else {
    r.devices |= Bit(i);
  }
}

}  // namespace

Route RouteFromGuest(const GuestRouteInput& in, std::span<const DeviceView> devices) {
  const FrameInfo& f = in.frame;
  if (f.status == FrameStatus::kRunt) return Route::Drop(DropReason::kRunt);
  // The port side adds the device's tag: a frame the guest tagged itself would leave
  // with two, and QinQ is not switched.
  if (f.status == FrameStatus::kDoubleVlan || f.tagged) return Route::Drop(DropReason::kDoubleVlan);
  if (!IsValidSource(f.src)) return Route::Drop(DropReason::kSpoofedSource);
  if (in.src_owner && *in.src_owner != in.src_device) return Route::Drop(DropReason::kSpoofedSource);
  const bool port_fits = !IsOversize(f, in.port_max_frame, in.segmentation_offload);

  Route r;
  if (IsMulticast(f.dst)) {
    r.to_port = port_fits;
    r.port_too_big = !port_fits;
    if (in.software_vm2vm && in.src_device < devices.size()) {
      const uint16_t vlan = devices[in.src_device].vlan;
      for (uint32_t i = 0; i < devices.size(); ++i) {
        if (i != in.src_device && devices[i].ready && devices[i].vlan == vlan) AddDevice(r, f, devices[i], i);
      }
    }
    return r;
  }
  if (in.software_vm2vm && in.dst_owner && *in.dst_owner != in.src_device &&
      *in.dst_owner < devices.size()) {
    if (!devices[*in.dst_owner].ready) return Route::Drop(DropReason::kDeviceNotReady);
    AddDevice(r, f, devices[*in.dst_owner], *in.dst_owner);
    return r;
  }
  if (!port_fits) return Route::Drop(DropReason::kOversize);
  r.to_port = true;
  return r;
}

Route RouteFromPort(const FrameInfo& f, std::optional<uint32_t> dst_owner,
                    std::span<const DeviceView> devices, uint32_t port_max_frame) {
  if (f.status == FrameStatus::kRunt) return Route::Drop(DropReason::kRunt);
  if (f.status == FrameStatus::kDoubleVlan) return Route::Drop(DropReason::kDoubleVlan);
  if (IsOversize(f, port_max_frame, false)) return Route::Drop(DropReason::kOversize);
  if (!f.tagged) return Route::Drop(DropReason::kUnknownDestination);
  const auto vlan_device = DeviceOfVlan(f.vlan_id, static_cast<uint32_t>(devices.size()));
  if (!vlan_device) return Route::Drop(DropReason::kUnknownDestination);
  Route r;
  if (IsMulticast(f.dst)) {
    for (uint32_t i = 0; i < devices.size(); ++i) {
      if (devices[i].ready && devices[i].vlan == f.vlan_id) AddDevice(r, f, devices[i], i);
    }
    if (r.devices == 0 && r.too_big == 0) return Route::Drop(DropReason::kDeviceNotReady);
    return r;
  }
  if (!dst_owner || *dst_owner >= devices.size() || devices[*dst_owner].vlan != f.vlan_id) {
    return Route::Drop(DropReason::kUnknownDestination);
  }
  if (!devices[*dst_owner].ready) return Route::Drop(DropReason::kDeviceNotReady);
  AddDevice(r, f, devices[*dst_owner], *dst_owner);
  return r;
}

}  // namespace vswitch
