// The ring of one virtqueue: split (VIRTIO 1.2 2.7) or packed (2.8, when
// VIRTIO_F_RING_PACKED is negotiated), behind one interface, so the device, zero-copy
// and the datapath templates do not care which layout a queue has. The templates take
// the concrete ring through Visit (no call through a pointer per descriptor).
#pragma once

#include <cstdint>

#include "packed_ring.h"
#include "split_ring.h"

namespace vswitch::vhost {

class QueueRing {
 public:
  void InitSplit(const RingLayout& layout, const GuestMemory* memory, uint16_t last_avail_idx,
                 const RingOptions& options) {
    Clear();
    split_.Init(layout, memory, last_avail_idx, options);
  }
  void InitPacked(const PackedRingLayout& layout, const GuestMemory* memory, PackedRingState state,
                  const RingOptions& options) {
    Clear();
    packed_ = true;
    packed_ring_.Init(layout, memory, state, options);
  }
  // PackedRing::AttachRecord; false for a split ring.
  [[nodiscard]] bool AttachPackedRecord(PackedRingRecord* record, const PackedRingIdentity& identity,
                                        const PackedResumePlan* plan) {
    return packed_ && packed_ring_.AttachRecord(record, identity, plan);
  }
  [[nodiscard]] uint32_t in_flight() const { return packed_ ? packed_ring_.in_flight() : 0; }
  void UpdateSplit(const RingLayout& layout) { split_.UpdateLayout(layout); }
  void UpdatePacked(const PackedRingLayout& layout) { packed_ring_.UpdateLayout(layout); }
  void Clear() {
    if (packed_) {
      packed_ring_.Clear();
    } else {
      split_.Clear();
    }
    packed_ = false;
  }

  [[nodiscard]] bool packed() const { return packed_; }
  [[nodiscard]] bool valid() const { return packed_ ? packed_ring_.valid() : split_.valid(); }
  [[nodiscard]] bool broken() const { return packed_ ? packed_ring_.broken() : split_.broken(); }
  [[nodiscard]] uint32_t size() const { return packed_ ? packed_ring_.size() : split_.size(); }
  // What GET_VRING_BASE answers (vhost-user.rst): the next avail index for a split
  // ring; index and wrap counter (bit 15), used index and wrap (bits 16-31) for packed.
  [[nodiscard]] uint32_t base() const {
    return packed_ ? EncodePackedBase(packed_ring_.state()) : split_.last_avail_idx();
  }
  void set_dirty_log(DirtyLog* log) {
    split_.set_dirty_log(log);
    packed_ring_.set_dirty_log(log);
  }
  [[nodiscard]] uint16_t Available(QueueStats& stats) {
    return packed_ ? packed_ring_.Available(stats) : split_.Available(stats);
  }
  void Prefetch(uint16_t n) const {
    if (!packed_) split_.Prefetch(n);
  }
  void PutUsed(uint16_t head, uint32_t len) {
    if (packed_) {
      packed_ring_.PutUsed(head, len);
    } else {
      split_.PutUsed(head, len);
    }
  }
  [[nodiscard]] bool PublishUsed() { return packed_ ? packed_ring_.PublishUsed() : split_.PublishUsed(); }
  void SetGuestNotify(bool enable) {
    if (packed_) {
      packed_ring_.SetGuestNotify(enable);
    } else {
      split_.SetGuestNotify(enable);
    }
  }
  // Calls f(SplitRing&) or f(PackedRing&).
  template <class F>
  decltype(auto) Visit(F&& f) {
    return packed_ ? f(packed_ring_) : f(split_);
  }

 private:
  bool packed_ = false;
  SplitRing split_;
  PackedRing packed_ring_;
};

}  // namespace vswitch::vhost
