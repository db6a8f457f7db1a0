// Feature bits the back-end negotiates (VIRTIO 1.1 section 5.1.3 "Feature bits" for
// virtio-net, section 6 "Reserved Feature Bits"; vhost-user.rst for the vhost-only bits).
#pragma once

#include <cstdint>

namespace vswitch::vhost {

namespace feature {
inline constexpr unsigned kNetCsum = 0;          // VIRTIO_NET_F_CSUM
inline constexpr unsigned kNetGuestCsum = 1;     // VIRTIO_NET_F_GUEST_CSUM
inline constexpr unsigned kNetMtu = 3;           // VIRTIO_NET_F_MTU
inline constexpr unsigned kNetMac = 5;           // VIRTIO_NET_F_MAC
inline constexpr unsigned kNetGuestTso4 = 7;     // VIRTIO_NET_F_GUEST_TSO4
inline constexpr unsigned kNetGuestTso6 = 8;     // VIRTIO_NET_F_GUEST_TSO6
inline constexpr unsigned kNetGuestEcn = 9;      // VIRTIO_NET_F_GUEST_ECN
inline constexpr unsigned kNetGuestUfo = 10;     // VIRTIO_NET_F_GUEST_UFO
inline constexpr unsigned kNetHostTso4 = 11;     // VIRTIO_NET_F_HOST_TSO4
inline constexpr unsigned kNetHostTso6 = 12;     // VIRTIO_NET_F_HOST_TSO6
inline constexpr unsigned kNetHostEcn = 13;      // VIRTIO_NET_F_HOST_ECN
inline constexpr unsigned kNetHostUfo = 14;      // VIRTIO_NET_F_HOST_UFO
inline constexpr unsigned kNetMrgRxbuf = 15;     // VIRTIO_NET_F_MRG_RXBUF
inline constexpr unsigned kNetStatus = 16;       // VIRTIO_NET_F_STATUS
inline constexpr unsigned kNetCtrlVq = 17;       // VIRTIO_NET_F_CTRL_VQ
inline constexpr unsigned kNetCtrlRx = 18;       // VIRTIO_NET_F_CTRL_RX
inline constexpr unsigned kNetGuestAnnounce = 21;  // VIRTIO_NET_F_GUEST_ANNOUNCE
inline constexpr unsigned kNetMq = 22;           // VIRTIO_NET_F_MQ
inline constexpr unsigned kNotifyOnEmpty = 24;   // VIRTIO_F_NOTIFY_ON_EMPTY
inline constexpr unsigned kLogAll = 26;          // VHOST_F_LOG_ALL
inline constexpr unsigned kAnyLayout = 27;       // VIRTIO_F_ANY_LAYOUT
inline constexpr unsigned kRingIndirectDesc = 28;  // VIRTIO_RING_F_INDIRECT_DESC
inline constexpr unsigned kRingEventIdx = 29;    // VIRTIO_RING_F_EVENT_IDX
inline constexpr unsigned kProtocolFeatures = 30;  // VHOST_USER_F_PROTOCOL_FEATURES
inline constexpr unsigned kVersion1 = 32;        // VIRTIO_F_VERSION_1
inline constexpr unsigned kRingPacked = 34;      // VIRTIO_F_RING_PACKED
inline constexpr unsigned kInOrder = 35;         // VIRTIO_F_IN_ORDER
}  // namespace feature

[[nodiscard]] constexpr uint64_t Bit(unsigned b) { return 1ull << b; }
[[nodiscard]] constexpr bool Has(uint64_t features, unsigned b) { return (features & Bit(b)) != 0; }

// Feature groups for FeatureDisable/FeatureEnable (names as DPDK's vhost-switch used).
inline constexpr uint64_t kFeatureMergeable = Bit(feature::kNetMrgRxbuf);
inline constexpr uint64_t kFeatureTso = Bit(feature::kNetHostTso4) | Bit(feature::kNetHostTso6) |
                                        Bit(feature::kNetGuestTso4) | Bit(feature::kNetGuestTso6);
inline constexpr uint64_t kFeatureChecksum = Bit(feature::kNetCsum) | Bit(feature::kNetGuestCsum);

// Everything the library implements. The control queue is handled by the front-end
// (QEMU and virtio-user never pass it to a vhost-user back-end), so CTRL_VQ/CTRL_RX are
// offered as DPDK does; MQ needs CTRL_VQ.
inline constexpr uint64_t kSupportedFeatures =
    kFeatureChecksum | kFeatureTso | kFeatureMergeable | Bit(feature::kNetMtu) |
    Bit(feature::kNetCtrlVq) | Bit(feature::kNetCtrlRx) | Bit(feature::kNetGuestAnnounce) |
    Bit(feature::kNetMq) | Bit(feature::kNotifyOnEmpty) | Bit(feature::kLogAll) |
    Bit(feature::kAnyLayout) | Bit(feature::kRingIndirectDesc) | Bit(feature::kRingEventIdx) |
    Bit(feature::kProtocolFeatures) | Bit(feature::kVersion1) | Bit(feature::kInOrder) |
    Bit(feature::kRingPacked);

// VIRTIO 1.1 2.6.9: with IN_ORDER the device uses buffers in the order they were made
// available. The copying datapath always does (chains are consumed and returned in avail
// order, drops included), so it is offered; dequeue zero-copy returns a chain when its
// mbuf is freed, in any order, so a zero-copy socket never offers it (Driver::AddConnection).
// It matters for speed: DPDK's virtio PMD takes its in-order RX/TX paths only with it.
inline constexpr uint64_t kFeatureInOrder = Bit(feature::kInOrder);

// VIRTIO 1.2 2.8: packed virtqueues (virtio/packed_ring.h) instead of split ones.
inline constexpr uint64_t kFeaturePacked = Bit(feature::kRingPacked);

// Mergeable RX and TSO (and the checksum offloads TSO needs) are on by default. Packed
// rings are offered only when enabled (FeatureEnable(kFeaturePacked)) until they have
// been run against real front-ends in every mode the split ring is.
inline constexpr uint64_t kDefaultFeatures = kSupportedFeatures & ~kFeaturePacked;

// Features that cannot be disabled: the protocol needs them.
inline constexpr uint64_t kMandatoryFeatures = Bit(feature::kProtocolFeatures) | Bit(feature::kVersion1);

// Protocol features offered (vhost-user.rst "Protocol features").
inline constexpr uint64_t kSupportedProtocolFeatures =
    Bit(0) /*MQ*/ | Bit(1) /*LOG_SHMFD*/ | Bit(2) /*RARP*/ | Bit(3) /*REPLY_ACK*/ |
    Bit(4) /*NET_MTU*/ | Bit(15) /*CONFIGURE_MEM_SLOTS*/ | Bit(16) /*STATUS*/;

// Up to 8 queue pairs: vrings 0..15, even = guest RX (enqueue), odd = guest TX (dequeue).
inline constexpr uint32_t kMaxQueuePairs = 8;
inline constexpr uint32_t kMaxVrings = 2 * kMaxQueuePairs;

}  // namespace vswitch::vhost
