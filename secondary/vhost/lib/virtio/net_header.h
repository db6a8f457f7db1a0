// The virtio-net packet header (VIRTIO 1.1 section 5.1.6 "Device Operation").
#pragma once

#include <cstddef>
#include <cstdint>

#include "feature_bits.h"

namespace vswitch::vhost {

// 5.1.6 struct virtio_net_hdr flags and gso_type.
inline constexpr uint8_t kNetHdrFlagNeedsCsum = 1;
inline constexpr uint8_t kNetHdrFlagDataValid = 2;
inline constexpr uint8_t kNetHdrGsoNone = 0;
inline constexpr uint8_t kNetHdrGsoTcpv4 = 1;
inline constexpr uint8_t kNetHdrGsoUdp = 3;
inline constexpr uint8_t kNetHdrGsoTcpv6 = 4;
inline constexpr uint8_t kNetHdrGsoEcn = 0x80;

struct VirtioNetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(VirtioNetHdr) == 10);
static_assert(offsetof(VirtioNetHdr, csum_offset) == 8);

// With VIRTIO_NET_F_MRG_RXBUF or VIRTIO_F_VERSION_1 the header carries num_buffers.
struct VirtioNetHdrMrgRxbuf {
  VirtioNetHdr hdr;
  uint16_t num_buffers;
};
static_assert(sizeof(VirtioNetHdrMrgRxbuf) == 12);
static_assert(offsetof(VirtioNetHdrMrgRxbuf, num_buffers) == 10);

// 5.1.6: "The header is 12 bytes if VIRTIO_F_VERSION_1 or VIRTIO_NET_F_MRG_RXBUF is
// negotiated, 10 bytes otherwise" (legacy without mergeable buffers).
[[nodiscard]] constexpr uint32_t NetHeaderSize(uint64_t features) {
  return (Has(features, feature::kVersion1) || Has(features, feature::kNetMrgRxbuf))
             ? sizeof(VirtioNetHdrMrgRxbuf)
             : sizeof(VirtioNetHdr);
}

// 5.1.6.2.2: checks the header of a packet of `packet_len` bytes (after the header)
// the driver sent: csum_start + csum_offset + 2 inside the packet, known gso_type.
[[nodiscard]] constexpr bool NetHeaderValid(const VirtioNetHdr& h, uint32_t packet_len) {
  if ((h.flags & kNetHdrFlagNeedsCsum) != 0 &&
      uint32_t{h.csum_start} + h.csum_offset + 2u > packet_len) {
    return false;
  }
  switch (h.gso_type & ~kNetHdrGsoEcn) {
    case kNetHdrGsoNone:
      return (h.gso_type & kNetHdrGsoEcn) == 0;
    case kNetHdrGsoTcpv4:
    case kNetHdrGsoUdp:
    case kNetHdrGsoTcpv6:
      return h.gso_size != 0;
    default:
      return false;
  }
}

}  // namespace vswitch::vhost
