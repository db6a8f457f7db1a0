// Split virtqueue layout (VIRTIO 1.1 section 2.6 "Split Virtqueues"): descriptor table,
// available ring and used ring, all little-endian (x86 native) and shared with the guest.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vswitch::vhost {

// 2.6.5 "The Virtqueue Descriptor Table".
inline constexpr uint16_t kDescFlagNext = 1;
inline constexpr uint16_t kDescFlagWrite = 2;
inline constexpr uint16_t kDescFlagIndirect = 4;

struct VirtqDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(VirtqDesc) == 16);
static_assert(offsetof(VirtqDesc, len) == 8);
static_assert(offsetof(VirtqDesc, flags) == 12);
static_assert(offsetof(VirtqDesc, next) == 14);

// 2.6.6 "The Virtqueue Available Ring": flags, idx, ring[size], used_event.
inline constexpr uint16_t kAvailFlagNoInterrupt = 1;
struct VirtqAvail {
  uint16_t flags;
  uint16_t idx;
  uint16_t ring[];  // size entries, then used_event (EVENT_IDX)
};
static_assert(sizeof(VirtqAvail) == 4);

// 2.6.8 "The Virtqueue Used Ring": flags, idx, ring[size], avail_event.
inline constexpr uint16_t kUsedFlagNoNotify = 1;
struct VirtqUsedElem {
  uint32_t id;
  uint32_t len;
};
static_assert(sizeof(VirtqUsedElem) == 8);
struct VirtqUsed {
  uint16_t flags;
  uint16_t idx;
  VirtqUsedElem ring[];  // size entries, then avail_event (EVENT_IDX)
};
static_assert(sizeof(VirtqUsed) == 4);
static_assert(offsetof(VirtqUsed, ring) == 4);

// 2.6 "Queue Size ... is always a power of 2" for split virtqueues, at most 32768.
inline constexpr uint32_t kMaxQueueSize = 32768;

[[nodiscard]] constexpr uint64_t DescTableBytes(uint32_t size) { return 16ull * size; }
[[nodiscard]] constexpr uint64_t AvailRingBytes(uint32_t size) { return 6ull + 2ull * size; }
[[nodiscard]] constexpr uint64_t UsedRingBytes(uint32_t size) { return 6ull + 8ull * size; }

// 2.6.7.2 / 2.6.10: with VIRTIO_F_EVENT_IDX, notify when new_idx has passed event_idx.
[[nodiscard]] constexpr bool VringNeedEvent(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx) {
  return static_cast<uint16_t>(new_idx - event_idx - 1) < static_cast<uint16_t>(new_idx - old_idx);
}

}  // namespace vswitch::vhost
