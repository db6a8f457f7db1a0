// Whether vswitch-vhost may deliver a guest's frame to another guest itself, and to which.
// Exactly when vswitch-switching would send it to that one guest and nowhere else (the
// same RouteFromGuest decides), and only once switching has learned the sender's MAC for
// its current connection: a frame switching must still see (to learn or refuse a MAC, a
// broadcast, a frame for the port, a drop it counts) goes to it through from_vm as before.
// Pure: no DPDK.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "ethernet_frame.h"
#include "routing.h"

namespace vswitch {

struct DirectFrame {
  uint32_t src_device = 0;
  FrameInfo frame;
  bool segmentation_offload = false;  // TSO/UFO: the size limit applies per segment
};

// `devices[i]`: device i as vhost sees it now. `ready`: vhost serves its current
// connection; `learned`/`mac`: what switching learned for that same connection
// (DeviceL2::connection == DeviceInfo::connections), else not learned. `max_frame`: what
// the guest can receive (GuestMaxFrame of its negotiated features); a frame larger than
// the receiver takes is switching's, which counts it (oversize) against the receiver.
[[nodiscard]] std::optional<uint32_t> DirectDestination(const DirectFrame& in,
                                                        std::span<const DeviceView> devices);

}  // namespace vswitch
