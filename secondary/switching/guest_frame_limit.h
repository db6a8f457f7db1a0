// The largest frame a guest can take on receive, from the virtio-net features it
// negotiated. Pure: used by vswitch-switching's routing and by vswitch-vhost's direct
// guest-to-guest path, so both refuse the same frames.
#pragma once

#include <cstdint>

#include "../vhost/lib/virtio/feature_bits.h"
#include "ethernet_frame.h"

namespace vswitch {

// VIRTIO 1.x 5.1.3 feature bits, from the vhost library's one list of them (a header
// without dependencies: switching still does not link the library).
inline constexpr uint32_t kVirtioNetGuestTso4 = vhost::feature::kNetGuestTso4;
inline constexpr uint32_t kVirtioNetGuestTso6 = vhost::feature::kNetGuestTso6;
inline constexpr uint32_t kVirtioNetGuestUfo = vhost::feature::kNetGuestUfo;
inline constexpr uint32_t kVirtioNetMrgRxbuf = vhost::feature::kNetMrgRxbuf;

// Without big or mergeable buffers a driver supplies buffers of at least 1526 bytes
// (VIRTIO 1.x 5.1.6.3.1): the 12-byte header and a 1514-byte frame plus a VLAN tag. The
// tag does not count against the limit (IsOversize), as on a 1500-byte MTU port.
inline constexpr uint32_t kGuestSmallBufferFrame = 1514;
// With VIRTIO_NET_F_MRG_RXBUF or GUEST_TSO4/TSO6/UFO the driver supplies chained or
// 64 KiB buffers (5.1.6.3.1): the frame is bounded by what one IP packet can be (65535
// bytes, no jumbograms) and its Ethernet header.
inline constexpr uint32_t kGuestBigBufferFrame = 65535 + kEtherHeaderLen;

[[nodiscard]] constexpr bool HasBigReceiveBuffers(uint64_t features) {
  constexpr uint64_t kBig = (uint64_t{1} << kVirtioNetMrgRxbuf) | (uint64_t{1} << kVirtioNetGuestTso4) |
                            (uint64_t{1} << kVirtioNetGuestTso6) | (uint64_t{1} << kVirtioNetGuestUfo);
  return (features & kBig) != 0;
}

// Untagged bytes a frame toward this guest may have (compare with IsOversize).
[[nodiscard]] constexpr uint32_t GuestMaxFrame(uint64_t negotiated_features) {
  return HasBigReceiveBuffers(negotiated_features) ? kGuestBigBufferFrame : kGuestSmallBufferFrame;
}

}  // namespace vswitch
