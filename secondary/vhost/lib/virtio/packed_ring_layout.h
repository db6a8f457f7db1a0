// Packed virtqueue layout (VIRTIO 1.2 section 2.8 "Packed Virtqueues"): one descriptor
// ring that the driver and the device both write, and two 4-byte event suppression
// structures. All little-endian (x86 native) and shared with the guest. Pure: positions,
// flag tests and the notification decision, no memory access.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vswitch::vhost {

// 2.8.1: the driver marks a descriptor available by setting AVAIL to its wrap counter and
// USED to the inverse; the device marks it used by setting both to its own wrap counter.
inline constexpr uint16_t kPackedDescFlagAvail = 1u << 7;
inline constexpr uint16_t kPackedDescFlagUsed = 1u << 15;

// 2.8 "Packed Virtqueues", struct pvirtq_desc. NEXT, WRITE and INDIRECT keep the split ring's values
// (kDescFlagNext, kDescFlagWrite, kDescFlagIndirect in virtio_ring.h).
struct PackedDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t id;
  uint16_t flags;
};
static_assert(sizeof(PackedDesc) == 16);
static_assert(offsetof(PackedDesc, len) == 8);
static_assert(offsetof(PackedDesc, id) == 12);
static_assert(offsetof(PackedDesc, flags) == 14);

// 2.8 "Driver and Device Event Suppression" (struct pvirtq_event_suppress).
inline constexpr uint16_t kPackedEventEnable = 0;
inline constexpr uint16_t kPackedEventDisable = 1;
inline constexpr uint16_t kPackedEventDesc = 2;  // only with VIRTIO_F_RING_EVENT_IDX
struct PackedEvent {
  uint16_t off_wrap;  // bits 0-14 descriptor offset, bit 15 wrap counter
  uint16_t flags;
};
static_assert(sizeof(PackedEvent) == 4);
static_assert(offsetof(PackedEvent, flags) == 2);

[[nodiscard]] constexpr uint64_t PackedDescRingBytes(uint32_t size) { return 16ull * size; }
inline constexpr uint64_t kPackedEventBytes = sizeof(PackedEvent);

// A place in the descriptor ring and the wrap counter in force there. Both counters
// start at 1 (2.8.1) and flip each time their index passes the end of the ring.
struct PackedPosition {
  uint16_t idx = 0;
  bool wrap = true;
  friend constexpr bool operator==(PackedPosition, PackedPosition) = default;
};

// `n` descriptors on from `p` (n <= size; the size need not be a power of two, 2.8 "Structure Size and Alignment").
[[nodiscard]] constexpr PackedPosition PackedAdvance(PackedPosition p, uint32_t n, uint32_t size) {
  uint32_t idx = p.idx + n;
  if (idx >= size) {
    idx -= size;
    p.wrap = !p.wrap;
  }
  p.idx = static_cast<uint16_t>(idx);
  return p;
}

// Descriptors from `from` to `to` going forward (0..2*size-1: the pair names a place on a
// circle of two laps).
[[nodiscard]] constexpr uint32_t PackedDistance(PackedPosition from, PackedPosition to,
                                                uint32_t size) {
  const auto lap = [size](PackedPosition p) { return p.idx + (p.wrap ? 0u : size); };
  return (lap(to) + 2 * size - lap(from)) % (2 * size);
}

// 2.8.1: available to the device when AVAIL matches the wrap counter at that place and
// USED does not.
[[nodiscard]] constexpr bool PackedDescAvailable(uint16_t flags, bool wrap) {
  return ((flags & kPackedDescFlagAvail) != 0) == wrap &&
         ((flags & kPackedDescFlagUsed) != 0) != wrap;
}

// The flags of a used descriptor written at a place with wrap counter `wrap`: AVAIL and
// USED both equal to it (2.8.1); WRITE when the device wrote data into the buffer (2.8
// "Write Flag").
[[nodiscard]] constexpr uint16_t PackedUsedFlags(bool wrap, bool written) {
  return static_cast<uint16_t>((wrap ? kPackedDescFlagAvail | kPackedDescFlagUsed : 0) |
                               (written ? 2u /* kDescFlagWrite */ : 0u));
}

// vhost-user.rst "Vring descriptor indices for packed virtqueues" (SET/GET_VRING_BASE):
// bits 0-14 the next available descriptor, bit 15 the driver wrap counter there, bits
// 16-30 and 31 the same for the next used descriptor.
struct PackedRingState {
  PackedPosition avail;
  PackedPosition used;
  friend constexpr bool operator==(PackedRingState, PackedRingState) = default;
};
[[nodiscard]] constexpr uint32_t EncodePackedBase(PackedRingState s) {
  return (s.avail.idx & 0x7fffu) | (s.avail.wrap ? 1u << 15 : 0u) |
         (static_cast<uint32_t>(s.used.idx & 0x7fffu) << 16) | (s.used.wrap ? 1u << 31 : 0u);
}
[[nodiscard]] constexpr PackedRingState DecodePackedBase(uint32_t num) {
  PackedRingState s;
  s.avail = {static_cast<uint16_t>(num & 0x7fff), (num & (1u << 15)) != 0};
  s.used = {static_cast<uint16_t>((num >> 16) & 0x7fff), (num & (1u << 31)) != 0};
  return s;
}

// 2.8 "Driver and Device Event Suppression": after writing used descriptors from `old_used` up to (not including)
// `new_used`, does the driver's event suppression ask for a notification? DESC asks for
// one when the descriptor at off_wrap (offset and wrap counter) is among those written.
// An offset outside the ring names no descriptor: never (the driver asked for nothing
// that can happen). DESC without EVENT_IDX is not valid: treated as ENABLE.
[[nodiscard]] constexpr bool PackedNeedEvent(PackedEvent driver_event, bool event_idx,
                                             PackedPosition old_used, PackedPosition new_used,
                                             uint32_t size) {
  if (driver_event.flags == kPackedEventDisable) return false;
  if (driver_event.flags != kPackedEventDesc || !event_idx) return true;
  const PackedPosition event{static_cast<uint16_t>(driver_event.off_wrap & 0x7fff),
                             (driver_event.off_wrap & 0x8000) != 0};
  if (event.idx >= size) return false;
  return PackedDistance(old_used, event, size) < PackedDistance(old_used, new_used, size);
}

}  // namespace vswitch::vhost
