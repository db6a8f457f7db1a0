// The device side of one split virtqueue (VIRTIO 1.1 section 2.6): reads descriptor
// chains the driver made available and writes used elements back. It knows nothing of
// sockets, mmap or packets; it sees guest memory only through GuestMemory, so tests and
// fuzzers drive it over heap memory.
//
// Guest-owned data is read once: a descriptor is copied into a local and only the copy
// is validated and used. Every walk is bounded by limits the guest cannot move (queue
// size, indirect table length); a violation is a DropReason, never a crash or a hang.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "dirty_log.h"
#include "guest_memory.h"
#include "queue_stats.h"
#include "virtio_ring.h"

namespace vswitch::vhost {

// Host addresses of the three parts of a ring; the caller has checked that each lies
// wholly inside one mapping (DescTableBytes / AvailRingBytes / UsedRingBytes).
struct RingLayout {
  VirtqDesc* desc = nullptr;
  VirtqAvail* avail = nullptr;
  VirtqUsed* used = nullptr;
  uint32_t size = 0;            // power of two, 1..32768
  uint64_t used_log_gpa = 0;    // SET_VRING_ADDR log_guest_addr
  bool log_used = false;        // VHOST_VRING_F_LOG
};

// A piece of a descriptor buffer, contiguous in host memory.
struct Segment {
  uint8_t* host;
  uint32_t len;
  uint64_t gpa;
};

// The segments of a burst's chains. std::vector's push_back stayed an out-of-line call
// per descriptor (its growth path kept it from being inlined; perf: 9% of guest RX);
// here the append is two stores and a compare, and growing is the rare call.
class SegmentList {
 public:
  SegmentList() = default;
  // data_ points into storage_: a copy or move would leave it pointing at the source's.
  SegmentList(const SegmentList&) = delete;
  SegmentList& operator=(const SegmentList&) = delete;
  [[nodiscard]] size_t size() const { return size_; }
  [[nodiscard]] Segment& operator[](size_t i) { return data_[i]; }
  [[nodiscard]] const Segment& operator[](size_t i) const { return data_[i]; }
  void clear() { size_ = 0; }
  // Drops the segments from `n` on (n <= size()).
  void Truncate(size_t n) { size_ = std::min(size_, n); }
  void push_back(const Segment& s) {
    if (size_ == capacity_) Grow();
    data_[size_++] = s;
  }

 private:
  void Grow();
  std::vector<Segment> storage_;
  Segment* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// One descriptor chain: its head and its segments in the caller's SegmentList.
struct Chain {
  uint16_t head = 0;
  uint32_t first_segment = 0;
  uint32_t num_segments = 0;
  uint64_t length = 0;  // sum of the segments' lengths
};

enum class Direction { kDeviceReadable, kDeviceWritable };

struct RingOptions {
  bool event_idx = false;       // VIRTIO_RING_F_EVENT_IDX negotiated
  bool indirect = false;        // VIRTIO_RING_F_INDIRECT_DESC negotiated
  bool guest_notify = false;    // ask the driver to kick (false: we poll, 2.6.10)
};

class SplitRing {
 public:
  // Upper bound on segments in one chain (descriptors split at region boundaries count
  // once per piece).
  static constexpr uint32_t kMaxSegmentsPerChain = 2 * kMaxQueueSize;

  void Init(const RingLayout& layout, const GuestMemory* memory, uint16_t last_avail_idx,
            const RingOptions& options);
  void Clear() { *this = SplitRing(); }
  // Points the ring at new host addresses (memory table changed, or SET_VRING_ADDR on a
  // started ring) keeping its indexes.
  void UpdateLayout(const RingLayout& layout);
  [[nodiscard]] bool valid() const { return layout_.size != 0 && memory_ != nullptr; }
  [[nodiscard]] uint32_t size() const { return layout_.size; }
  [[nodiscard]] uint16_t last_avail_idx() const { return last_avail_idx_; }
  [[nodiscard]] uint16_t last_used_idx() const { return last_used_idx_; }
  // Set after a fatal guest error (avail index jump, head out of range): the ring does
  // nothing until it is set up again.
  [[nodiscard]] bool broken() const { return broken_; }
  void set_dirty_log(DirtyLog* log) { log_ = log; }
  [[nodiscard]] DirtyLog* dirty_log() const { return log_; }

  // Number of chains available to the device (reads avail->idx once, 2.6.6). A jump of
  // more than the queue size breaks the ring and counts kAvailIndexJump.
  [[nodiscard]] uint16_t Available(QueueStats& stats);

  // Reads the chain at avail slot last_avail_idx + offset, appending its segments to
  // `segments`. On failure the segments appended so far are removed; when the head
  // itself was valid, `chain.head` names it so the caller can return it used (len 0).
  // kHeadOutOfRange breaks the ring.
  [[nodiscard]] std::optional<DropReason> ReadChain(uint16_t offset, Direction direction,
                                                    SegmentList& segments, Chain& chain) {
    // Fast path, inline: one direct descriptor wholly inside the cached region, the
    // layout DPDK's and Linux's drivers use for every small packet. Each guest field is
    // loaded once and used as loaded; anything else takes the full walk, which reads
    // and validates everything again on its own.
    const uint32_t mask = layout_.size - 1;
    const uint16_t head = __atomic_load_n(
        &layout_.avail->ring[static_cast<uint16_t>(last_avail_idx_ + offset) & mask], __ATOMIC_RELAXED);
    if (head < layout_.size) {
      const volatile VirtqDesc* d = &layout_.desc[head];
      const uint16_t want = direction == Direction::kDeviceWritable ? kDescFlagWrite : 0;
      if ((d->flags & (kDescFlagNext | kDescFlagIndirect | kDescFlagWrite)) == want) {
        const uint64_t addr = d->addr;
        const uint32_t len = d->len;
        const uint64_t at = addr - cache_base_;
        if (len > 0 && at < cache_size_ && len <= cache_size_ - at) {
          chain.head = head;
          chain.first_segment = static_cast<uint32_t>(segments.size());
          chain.num_segments = 1;
          chain.length = len;
          segments.push_back(Segment{cache_host_ + at, len, addr});
          return std::nullopt;
        }
      }
    }
    return ReadChainWalk(offset, direction, segments, chain);
  }

  // A hint before a burst of up to `n` chains: prefetches their available-ring entries
  // and head descriptors, so the walk does not wait on each cache line the driver's core
  // wrote in turn. The values read here are only addresses for the prefetch; ReadChain
  // reads (and validates) the entries again.
  void Prefetch(uint16_t n) const {
    if (!valid() || broken_) return;
    const uint32_t mask = layout_.size - 1;
    for (uint16_t i = 0; i < n; ++i) {
      const uint16_t head = __atomic_load_n(
          &layout_.avail->ring[static_cast<uint16_t>(last_avail_idx_ + i) & mask], __ATOMIC_RELAXED);
      __builtin_prefetch(&layout_.desc[head & mask], 0);
    }
  }

  // Consumes n available entries.
  void Advance(uint16_t n) {
    last_avail_idx_ = static_cast<uint16_t>(last_avail_idx_ + n);
    if (options_.event_idx && options_.guest_notify) WriteAvailEvent();
  }
  // Writes a used element (not yet visible to the driver).
  void PutUsed(uint16_t head, uint32_t len) {
    const uint32_t slot = last_used_idx_ & (layout_.size - 1);
    VirtqUsedElem* e = &layout_.used->ring[slot];
    e->id = head;
    e->len = len;
    if (log_ != nullptr) {
      LogUsed(offsetof(VirtqUsed, ring) + slot * sizeof(VirtqUsedElem), sizeof(VirtqUsedElem));
    }
    last_used_idx_ = static_cast<uint16_t>(last_used_idx_ + 1);
  }
  // Makes the used elements visible (store-release of used->idx) and says whether the
  // driver asked to be notified (2.6.7: VRING_AVAIL_F_NO_INTERRUPT or used_event).
  [[nodiscard]] bool PublishUsed();
  // 2.6.10: the device suppresses kicks with VRING_USED_F_NO_NOTIFY (or avail_event).
  void SetGuestNotify(bool enable);

 private:
  // ReadChain's full walk: chained and indirect descriptors, region boundaries, and
  // every malformed case.
  [[nodiscard]] std::optional<DropReason> ReadChainWalk(uint16_t offset, Direction direction,
                                                        SegmentList& segments,
                                                        Chain& chain);
  [[nodiscard]] std::optional<DropReason> AddBuffer(uint64_t addr, uint32_t len,
                                                    SegmentList& segments,
                                                    Chain& chain);
  // Range translation with a one-region cache: a hit costs two compares and no call.
  // The cache is per ring (one datapath thread), refreshed on Init/UpdateLayout, which
  // the control path calls with the queue locked whenever the memory table changes.
  [[nodiscard]] HostRange TranslateCached(uint64_t gpa, uint64_t len) {
    if (gpa - cache_base_ < cache_size_) {
      const uint64_t offset = gpa - cache_base_;
      return {cache_host_ + offset, std::min(std::max<uint64_t>(len, 1), cache_size_ - offset)};
    }
    return TranslateSlow(gpa, len);
  }
  [[nodiscard]] HostRange TranslateSlow(uint64_t gpa, uint64_t len);
  void ResetCache() {
    cache_base_ = 0;
    cache_size_ = 0;
    cache_host_ = nullptr;
  }
  void LogUsed(uint64_t offset, uint64_t len);
  void WriteAvailEvent();

  RingLayout layout_{};
  const GuestMemory* memory_ = nullptr;
  const GuestMemoryTable* table_ = nullptr;  // memory_ when it is a table (no virtual call)
  uint64_t cache_base_ = 0;
  uint64_t cache_size_ = 0;
  uint8_t* cache_host_ = nullptr;
  // An indirect table that crosses a region boundary is copied here (at most the queue
  // size of descriptors), so tables need not be contiguous in host memory.
  std::vector<VirtqDesc> indirect_copy_;
  DirtyLog* log_ = nullptr;
  RingOptions options_{};
  uint16_t last_avail_idx_ = 0;
  uint16_t last_used_idx_ = 0;       // next used slot to write
  uint16_t published_used_idx_ = 0;  // used->idx as the driver sees it
  bool broken_ = false;
};

}  // namespace vswitch::vhost
