// Dequeue zero-copy (design.md "Dequeue zero-copy", DPDK 16.11's
// RTE_VHOST_USER_DEQUEUE_ZERO_COPY without its faults). A guest TX packet at or above
// `threshold` bytes becomes an mbuf chain whose first segment holds a copy of the
// packet's first kCopiedHead bytes (the headers a switch parses and may rewrite, safe
// from a guest rewriting them) and whose other segments are external buffers pointing
// into guest memory. The descriptor chain is returned to the guest (used ring) only
// after the mbuf is freed:
//   - the external buffers share one rte_mbuf_ext_shared_info per packet, held in this
//     queue's slot table (never in guest memory); its free callback only marks the slot
//     done (an atomic store), wherever it runs;
//   - the datapath reaps done slots at its next burst, under the queue lock, and writes
//     their used elements;
//   - at most `cap` packets per queue are in flight (default: half the queue), so the
//     guest always has descriptors left for copied packets and its TX ring never
//     starves however long the mbufs are held (no nb_tx_desc limit);
//   - each slot holds a reference to the mappings its buffers lie in, so a region that
//     the front-end removes (SET_MEM_TABLE, REM_MEM_REG, disconnect) is unmapped only
//     when its last in-flight buffer is freed;
//   - when the ring stops with buffers in flight they are orphaned: their used elements
//     are never written (the front-end resets or restores the ring from its base) and
//     the callback releases the mapping itself.
// The free callback is a function pointer of this process: a zero-copy mbuf must be
// freed by the vhost process (see docs/architecture.md, "Dequeue zero-copy across
// processes"). The Driver must outlive every zero-copy mbuf it returned.
#pragma once

#include <rte_mbuf.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace vswitch::vhost {

inline constexpr uint32_t kZeroCopyDefaultThreshold = 512;  // DPDK 16.11 guide: no gain below
inline constexpr uint32_t kCopiedHead = 128;                // bytes copied into the first mbuf

struct ZeroCopySlot {
  enum : uint8_t { kFree = 0, kInFlight = 1, kDone = 2, kOrphaned = 3 };
  rte_mbuf_ext_shared_info shinfo{};
  std::atomic<uint8_t> state{kFree};
  uint16_t head = 0;
  std::shared_ptr<void> keep[2];  // the mappings the buffers lie in (at most two regions)
};

class ZeroCopyQueue {
 public:
  // Enables zero-copy for a ring of `queue_size` entries; cap 0: queue_size / 2.
  void Enable(uint32_t queue_size, uint32_t cap = 0, uint32_t threshold = kZeroCopyDefaultThreshold);
  [[nodiscard]] bool enabled() const { return slots_ != nullptr; }
  [[nodiscard]] uint32_t threshold() const { return threshold_; }
  [[nodiscard]] uint32_t in_flight() const { return static_cast<uint32_t>(in_flight_.size()); }
  [[nodiscard]] bool HasRoom() const { return enabled() && in_flight_.size() < cap_; }

  // The slot for descriptor chain `head`, marked in flight, or nullptr when at the cap.
  [[nodiscard]] ZeroCopySlot* Acquire(uint16_t head);
  // Gives back a slot acquired but not used (the packet was copied after all).
  void Cancel(ZeroCopySlot* slot);
  // Calls put_used(head) for every slot whose mbuf was freed, and frees the slot.
  template <class F>
  uint32_t Reap(F&& put_used) {
    uint32_t n = 0;
    for (size_t i = 0; i < in_flight_.size();) {
      ZeroCopySlot& s = slots_[in_flight_[i]];
      if (s.state.load(std::memory_order_acquire) == ZeroCopySlot::kDone) {
        put_used(s.head);
        Release(s);
        in_flight_[i] = in_flight_.back();
        in_flight_.pop_back();
        ++n;
      } else {
        ++i;
      }
    }
    return n;
  }
  // The ring stops: reaps what is done (put_used), orphans the rest, disables.
  template <class F>
  void Stop(F&& put_used) {
    if (!enabled()) return;
    (void)Reap(put_used);
    for (uint16_t h : in_flight_) {
      ZeroCopySlot& s = slots_[h];
      uint8_t expected = ZeroCopySlot::kInFlight;
      if (!s.state.compare_exchange_strong(expected, ZeroCopySlot::kOrphaned)) {
        put_used(s.head);  // freed between the reap and now
        Release(s);
      }
    }
    in_flight_.clear();
    retired_.push_back(std::move(slots_));  // orphans may still call back into them
    slots_ = nullptr;
  }

  static void FreeCallback(void* addr, void* opaque);

 private:
  static void Release(ZeroCopySlot& s);

  std::unique_ptr<ZeroCopySlot[]> slots_;
  std::vector<std::unique_ptr<ZeroCopySlot[]>> retired_;
  std::vector<uint16_t> in_flight_;
  uint32_t cap_ = 0;
  uint32_t threshold_ = kZeroCopyDefaultThreshold;
};

}  // namespace vswitch::vhost
