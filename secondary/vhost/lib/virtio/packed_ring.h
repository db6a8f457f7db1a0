// The device side of one packed virtqueue (VIRTIO 1.2 section 2.8): finds the chains the
// driver made available in the descriptor ring, reads them, and writes used descriptors
// back, in order or not. It has the split ring's interface (SplitRing in split_ring.h:
// Available, ReadChain, Advance, PutUsed, PublishUsed), so the datapath templates run
// over either layout. No sockets, no mmap, no DPDK: tests and fuzzers drive it over heap
// memory.
//
// As in the split ring, a descriptor is read once into a local and only the copy is
// validated and used, and every walk is bounded by the queue size. What the packed
// layout adds to the checks: every descriptor of a chain must say "available" for the
// wrap counter at its place (2.8 "Next Flag": the flags are set in all descriptors of a
// list), and a buffer ID must be below the queue size and not already held by the
// device. Those three stop the queue (the device can no longer tell where the next chain
// starts or what to return); the others drop the chain and return it used, length 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "dirty_log.h"
#include "guest_memory.h"
#include "packed_ring_layout.h"
#include "packed_ring_record.h"
#include "queue_stats.h"
#include "split_ring.h"  // Segment, SegmentList, Chain, Direction, RingOptions
#include "virtio_ring.h"

namespace vswitch::vhost {

// Host addresses of the three parts; the caller has checked that each lies wholly
// inside one mapping (PackedDescRingBytes / kPackedEventBytes).
struct PackedRingLayout {
  PackedDesc* desc = nullptr;
  PackedEvent* driver_event = nullptr;  // the Driver Area: read by the device
  PackedEvent* device_event = nullptr;  // the Device Area: written by the device
  uint32_t size = 0;                    // 1..32768, not necessarily a power of two
  // Dirty log (VHOST_VRING_F_LOG): guest addresses of what the device writes.
  uint64_t desc_log_gpa = 0;
  uint64_t device_event_log_gpa = 0;
  bool log = false;
};

class PackedRing {
 public:
  static constexpr uint32_t kMaxSegmentsPerChain = SplitRing::kMaxSegmentsPerChain;

  void Init(const PackedRingLayout& layout, const GuestMemory* memory, PackedRingState state,
            const RingOptions& options);
  void Clear() { *this = PackedRing(); }
  // Keeps `record` (packed_ring_record.h) up to date from now on, for the back-end
  // instance after this one. With an adopted `plan` (PlanPackedResume), first moves to
  // the plan's positions and returns the chains a dead predecessor held (used, length
  // 0); otherwise records a fresh start where Init put the ring. Returns whether the
  // driver asked to be notified of what was returned.
  [[nodiscard]] bool AttachRecord(PackedRingRecord* record, const PackedRingIdentity& identity,
                                  const PackedResumePlan* plan);
  // New host addresses (memory table changed) keeping positions and buffers in flight.
  void UpdateLayout(const PackedRingLayout& layout);
  [[nodiscard]] bool valid() const { return layout_.size != 0 && memory_ != nullptr; }
  [[nodiscard]] uint32_t size() const { return layout_.size; }
  [[nodiscard]] bool broken() const { return broken_; }
  void set_dirty_log(DirtyLog* log) { log_ = log; }
  [[nodiscard]] DirtyLog* dirty_log() const { return log_; }
  // Where the ring stands, for GET_VRING_BASE: the next descriptor to read and the next
  // used descriptor to write (used elements put but not published are not counted).
  [[nodiscard]] PackedRingState state() const { return {avail_, used_}; }
  // Buffers read and consumed whose used descriptor has not been published.
  [[nodiscard]] uint32_t in_flight() const { return in_flight_count_; }

  // Number of complete chains available from the next descriptor on. Scans only the
  // descriptors it has not counted before (availability only grows until the device
  // consumes), and never more than the ring holds.
  [[nodiscard]] uint16_t Available(QueueStats& stats);

  // Reads the `offset`-th chain after the next available descriptor, appending its
  // segments. Chains are read in order: offset 0 starts again from the next available
  // descriptor, each further call must pass the previous offset + 1. On a drop that
  // keeps the queue going, `chain.head` is the buffer ID to return used (len 0); when the
  // queue stops (broken()), nothing is returned.
  [[nodiscard]] std::optional<DropReason> ReadChain(uint16_t offset, Direction direction,
                                                    SegmentList& segments, Chain& chain);
  void Prefetch(uint16_t) const {}

  // Consumes the first `n` chains read since the last ReadChain(0): their buffer IDs are
  // now held by the device until PutUsed.
  void Advance(uint16_t n);
  // Returns buffer `id` (as Chain::head named it) with `len` bytes written; not visible
  // to the driver until PublishUsed. Any order (zero-copy returns buffers as they are
  // freed), and before or after the Advance that consumes it (the datapath puts a
  // burst's used elements first). An ID the device neither holds nor has read is ignored.
  void PutUsed(uint16_t id, uint32_t len);
  // Writes the used descriptors put since the last call, the first one's flags last
  // (2.8 "Multi-buffer requests": the driver never sees part of a batch), and says
  // whether the driver's event suppression asks to be notified.
  [[nodiscard]] bool PublishUsed();
  // 2.8 "Driver and Device Event Suppression": what the device asks of the driver's
  // kicks (false: we poll, no kicks).
  void SetGuestNotify(bool enable);

 private:
  struct Peeked {
    uint16_t id;
    uint16_t descs;         // ring descriptors the chain occupies
    bool returned = false;  // PutUsed before Advance (the datapath's order)
  };
  struct PendingUsed {
    uint16_t id;
    uint16_t descs;
    uint32_t len;
  };
  [[nodiscard]] std::optional<DropReason> AddBuffer(uint64_t addr, uint32_t len,
                                                    SegmentList& segments, Chain& chain);
  [[nodiscard]] std::optional<DropReason> AddIndirect(const PackedDesc& d, Direction direction,
                                                      SegmentList& segments, Chain& chain);
  void WriteDeviceEvent();
  void Log(uint64_t gpa, uint64_t len) {
    if (log_ != nullptr && layout_.log) log_->Mark(gpa, len);
  }

  PackedRingLayout layout_{};
  const GuestMemory* memory_ = nullptr;
  RingOptions options_{};
  DirtyLog* log_ = nullptr;
  PackedPosition avail_{};  // next descriptor to read
  PackedPosition used_{};   // next used descriptor to write
  PackedPosition used_published_{};
  // Available(): chains counted from avail_ up to scan_, `scan_descs_` descriptors.
  PackedPosition scan_{};
  uint32_t scan_chains_ = 0;
  uint32_t scan_descs_ = 0;
  // ReadChain(): where the next chain starts and what was read since offset 0.
  PackedPosition peek_{};
  std::vector<Peeked> peeked_;
  uint32_t peek_generation_ = 0;
  std::vector<uint32_t> peek_mark_;     // per ID: generation it was read in
  std::vector<uint16_t> held_descs_;    // per ID: 0, or descriptors of the held chain
  uint32_t in_flight_count_ = 0;
  std::vector<PackedDesc> chain_copy_;  // the chain's descriptors, read once
  std::vector<PackedDesc> indirect_copy_;
  std::vector<PendingUsed> pending_;
  bool broken_ = false;
  // packed_ring_record.h: written per PublishUsed, and per chain held across one.
  PackedRingRecord* record_ = nullptr;
  PackedPosition recorded_avail_{};
  PackedPosition last_used_{};  // where the last used descriptor was written
  bool has_last_used_ = false;
  void Record(uint64_t position);
};

}  // namespace vswitch::vhost
