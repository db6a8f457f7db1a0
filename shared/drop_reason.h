// Why a packet was dropped: one enumerator per reason, with the text an operator reads in
// logs and in the Prometheus help. The datapath bumps QueueCounters::drops[reason].
// Only reasons that can happen: a guest without RX buffers is not one (vswitch-vhost
// holds its frames and counts rx retries; to_vm backs up, then ring_full).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace vswitch {

enum class DropReason : uint32_t {
  kRingFull = 0,        // the next stage's rte_ring had no room
  kNoMbuf,              // the mbuf pool was empty
  kInvalidDescriptor,   // a descriptor chain broke a VIRTIO rule (loop, bad index, length)
  kBadAddress,          // a buffer's guest address is outside the shared memory
  kInvalidHeader,       // a virtio-net header with impossible offload fields
  kOversize,            // larger than the device or port accepts
  kRunt,                // shorter than an Ethernet header
  kUnknownDestination,  // from the port, to a MAC no device owns
  kSpoofedSource,       // a guest sent with a MAC another device owns
  kDoubleVlan,          // stacked VLAN tags are not switched
  kDeviceNotReady,      // the destination device is not connected
  kPortTx,              // the port's TX queue refused the packet
  kStaleZeroCopy,       // a zero-copy packet whose guest memory is not mapped here
  kCount
};
inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::kCount);

struct DropReasonInfo {
  std::string_view name;  // metric label value
  std::string_view help;  // what a non-zero or rising value means
};

inline constexpr std::array<DropReasonInfo, kDropReasonCount> kDropReasons = {{
    {"ring_full", "the next stage's ring was full: that stage is not keeping up or is down"},
    {"no_mbuf", "the mbuf pool was empty: packets are held somewhere or the pool is too small"},
    {"invalid_descriptor", "the guest posted a descriptor chain that breaks the VIRTIO rules"},
    {"bad_address", "the guest pointed at memory it did not share: a buggy or hostile guest"},
    {"invalid_header", "the guest's virtio-net header had impossible offload fields"},
    {"oversize", "the frame was larger than the receiver accepts"},
    {"runt", "the frame was shorter than an Ethernet header"},
    {"unknown_destination", "frames from the port to a MAC that no device has registered"},
    {"spoofed_source", "a guest sent frames with a MAC that another device owns"},
    {"double_vlan", "frames with stacked VLAN tags, which vswitch does not switch"},
    {"device_not_ready", "the destination device was not connected"},
    {"port_tx", "the port's transmit queue was full"},
    {"stale_zero_copy", "a zero-copy guest packet whose guest memory this process no longer maps "
                        "(left in a ring by a vswitch-vhost instance that restarted): freed unread"},
}};

[[nodiscard]] constexpr const DropReasonInfo& Describe(DropReason reason) {
  return kDropReasons[static_cast<std::size_t>(reason)];
}

}  // namespace vswitch
