// Dequeue zero-copy (docs/architecture.md "Dequeue zero-copy across processes", DPDK 16.11's
// RTE_VHOST_USER_DEQUEUE_ZERO_COPY without its faults). A guest TX packet at or above
// `threshold` bytes becomes an mbuf chain whose first segment holds a copy of the
// packet's first kCopiedHead bytes (the headers a switch parses and may rewrite, safe
// from a guest rewriting them) and whose other segments are external buffers pointing
// into guest memory. The descriptor chain is returned to the guest (used ring) only
// after every mbuf pointing into it is freed, by whichever process frees it:
//   - the external buffers share one rte_mbuf_ext_shared_info per packet, in hugepage
//     memory (rte_zmalloc: the same address in every process of the DPDK group), never
//     in guest memory;
//   - this queue holds one reference of its own (refcnt = pieces + 1), so freeing the
//     mbufs only decrements it and DPDK never calls free_cb (it does at 0 only): no
//     function pointer of this process runs elsewhere, and the mbufs go back to their
//     pool as usual;
//   - the datapath reaps at its next burst, under the queue lock: a slot whose refcnt is
//     back to 1 is done, its used element is written and the slot reused;
//   - at most `cap` packets per queue are in flight (default: half the queue), so the
//     guest always has descriptors left for copied packets and its TX ring never
//     starves however long the mbufs are held (no nb_tx_desc limit);
//   - each slot holds a reference to the mappings its buffers lie in, so a region that
//     the front-end removes (SET_MEM_TABLE, REM_MEM_REG, disconnect) is unmapped only
//     when its last in-flight buffer is freed;
//   - when the ring stops (docs/architecture.md "When a ring stops"), what the base
//     means decides: the base we give GET_VRING_BASE, or the used index a client-mode
//     front-end resumes from after we leave, tells the front-end every chain before it
//     is done. So a ring whose front-end resumes (GET_VRING_BASE, our socket
//     unregistered) first waits, bounded (Device::DrainZeroCopy), for its buffers to be
//     freed and writes their used elements; at the bound the held ones are returned
//     anyway and revoked (StopReturningHeld): the guest loses no buffer and no chain is
//     read twice, and a frame still held past the bound may carry bytes the guest wrote
//     since, so vswitch-vhost frees revoked frames unread. A ring whose front-end is gone
//     (disconnect) or moved the ring away writes nothing (Stop): its buffers are
//     orphaned. Either way an orphan keeps its mappings and its hugepage memory until its
//     refcnt is back to 1 (ReapOrphans), and a table still referenced at exit is left
//     allocated, not freed.
// Freeing a zero-copy mbuf is safe anywhere and at any time (it only touches the shared
// info); reading one needs the guest memory mapped at the same address: in this process
// while the Driver lives, elsewhere through a MappingSharer (guest_mapping.h).
#pragma once

#include <rte_mbuf.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "guest_mapping.h"

namespace vswitch::vhost {

inline constexpr uint32_t kZeroCopyDefaultThreshold = 512;  // DPDK 16.11 guide: no gain below
inline constexpr uint32_t kCopiedHead = 128;                // bytes copied into the first mbuf

// The part of a slot that other processes touch (through the mbufs): hugepage memory.
struct alignas(64) ZeroCopyShared {
  rte_mbuf_ext_shared_info shinfo;  // refcnt: pieces in flight + 1 (ours)
  uint64_t owner;                   // ZeroCopyInstance() of the process that made it
};
static_assert(offsetof(ZeroCopyShared, shinfo) == 0);

// How many times a stopping ring of this process revoked held zero-copy buffers
// (ZeroCopyQueue::StopReturningHeld): a holder that sees it change re-checks its frames
// with ExternalBuffersAreOurs.
[[nodiscard]] uint64_t ZeroCopyRevocations();
void CountZeroCopyRevocation();

// This process's tag in ZeroCopyShared::owner: random, so a restarted vswitch-vhost (same
// binary, maybe the same pid) tells its own mbufs from those a previous instance left.
[[nodiscard]] uint64_t ZeroCopyInstance();
// False when a segment of `m` is a zero-copy buffer of another instance, whose guest
// memory this process has not mapped: it must be freed, never read. (The group's only
// external buffers are zero-copy ones.)
[[nodiscard]] bool ExternalBuffersAreOurs(const rte_mbuf* m);

struct ZeroCopySlot {
  ZeroCopyShared* shared = nullptr;
  uint16_t head = 0;
  bool in_flight = false;
  int8_t hold[2] = {-1, -1};  // the queue's holds of the mappings the buffers lie in
};

// The heads in flight, in the order acquired: a fixed array sized once (the cap), so
// appending is a store and no growth path keeps it from being inlined.
class HeadList {
 public:
  void Reset(uint32_t capacity) {
    heads_ = std::make_unique<uint16_t[]>(capacity);
    capacity_ = capacity;
    size_ = 0;
  }
  [[nodiscard]] uint32_t size() const { return size_; }
  [[nodiscard]] bool full() const { return size_ >= capacity_; }
  uint16_t& operator[](uint32_t i) { return heads_[i]; }
  void push_back(uint16_t h) { heads_[size_++] = h; }  // the caller checked !full()
  void Truncate(uint32_t n) { size_ = std::min(size_, n); }
  void clear() { size_ = 0; }
  // Removes the last occurrence of `h`, keeping the order of the rest.
  void Erase(uint16_t h) {
    for (uint32_t i = size_; i-- > 0;) {
      if (heads_[i] != h) continue;
      std::copy(heads_.get() + i + 1, heads_.get() + size_, heads_.get() + i);
      --size_;
      return;
    }
  }
  [[nodiscard]] const uint16_t* begin() const { return heads_.get(); }
  [[nodiscard]] const uint16_t* end() const { return heads_.get() + size_; }

 private:
  std::unique_ptr<uint16_t[]> heads_;
  uint32_t capacity_ = 0;
  uint32_t size_ = 0;
};

class ZeroCopyQueue {
 public:
  ZeroCopyQueue() = default;
  ~ZeroCopyQueue();
  ZeroCopyQueue(const ZeroCopyQueue&) = delete;
  ZeroCopyQueue& operator=(const ZeroCopyQueue&) = delete;

  // Enables zero-copy for a ring of `queue_size` entries; cap 0: queue_size / 2. False
  // when there is no memory for the shared slots (the queue copies).
  [[nodiscard]] bool Enable(uint32_t queue_size, uint32_t cap = 0,
                            uint32_t threshold = kZeroCopyDefaultThreshold);
  [[nodiscard]] bool enabled() const { return current_ != nullptr; }
  [[nodiscard]] uint32_t threshold() const { return threshold_; }
  [[nodiscard]] uint32_t in_flight() const { return in_flight_.size(); }
  [[nodiscard]] uint32_t orphans() const { return static_cast<uint32_t>(orphans_.size()); }
  [[nodiscard]] bool HasRoom() const { return enabled() && !in_flight_.full(); }
  // How many packets the last DequeueBurst call took by reference (the sink sizes its
  // allocation by it).
  [[nodiscard]] uint32_t last_burst_by_reference() const { return last_burst_by_reference_; }
  void set_last_burst_by_reference(uint32_t n) { last_burst_by_reference_ = n; }

  // The slot for descriptor chain `head`, marked in flight, or nullptr when at the cap.
  // (Inline, like Keep and Release: they run once per zero-copy packet.)
  [[nodiscard]] ZeroCopySlot* Acquire(uint16_t head) {
    if (!HasRoom() || head >= current_->size) return nullptr;
    ZeroCopySlot& s = current_->slots[head];
    // A head is in flight at most once: the guest cannot make it available again before
    // we return it (2.6.8); a guest that does anyway gets the copy path.
    if (s.in_flight) return nullptr;
    s.in_flight = true;
    s.head = head;
    in_flight_.push_back(head);
    return &s;
  }
  // The slot's buffers are about to be attached to `pieces` mbufs.
  static void Arm(ZeroCopySlot* slot, uint16_t pieces) {
    rte_mbuf_ext_refcnt_set(&slot->shared->shinfo, static_cast<uint16_t>(pieces + 1));
  }
  // Keeps `mapping` (a region the slot's buffers lie in) alive until the slot is
  // released; at most two distinct mappings per slot: false for a third.
  [[nodiscard]] bool Keep(ZeroCopySlot* slot, const std::shared_ptr<GuestMapping>& mapping) {
    // Usually: a fresh slot in the region the previous packet was in. (A released hold
    // has no mapping, so a non-null `mapping` never matches one.)
    if (mapping != nullptr && slot->hold[0] < 0 && last_hold_ < holds_.size() &&
        holds_[last_hold_].mapping.get() == mapping.get()) {
      ++holds_[last_hold_].slots;
      slot->hold[0] = static_cast<int8_t>(last_hold_);
      return true;
    }
    return KeepSlow(slot, mapping);
  }
  // Gives back a slot acquired but whose mbufs were all freed here (or never attached).
  void Cancel(ZeroCopySlot* slot);
  // Calls put_used(head) for every slot whose mbufs were all freed, and frees the slot;
  // releases orphans likewise (without put_used). Returns the slots put back.
  // Slots are returned in the order they were acquired (the guest's avail order) and
  // the ones still held keep theirs: a driver recycles chains in the order it gets them
  // back, so returning them shuffled scatters its next descriptors over more cache lines
  // for both sides.
  template <class F>
  uint32_t Reap(F&& put_used) {
    uint32_t kept = 0;
    for (uint32_t i = 0; i < in_flight_.size(); ++i) {
      ZeroCopySlot& s = current_->slots[in_flight_[i]];
      if (Done(s)) {
        put_used(s.head);
        Release(s);
      } else {
        in_flight_[kept++] = in_flight_[i];
      }
    }
    const uint32_t n = in_flight_.size() - kept;
    in_flight_.Truncate(kept);
    if (!orphans_.empty()) (void)ReapOrphans();
    return n;
  }
  // The ring stops without a front-end to return chains to (it disconnected, or it moved
  // the ring): reaps what is done (put_used), orphans the rest, disables.
  template <class F>
  void Stop(F&& put_used) {
    if (!enabled()) return;
    (void)Reap(put_used);
    Retire();
  }
  // The ring stops and the front-end resumes from the base we give it (GET_VRING_BASE
  // after DrainZeroCopy's bound): every chain goes back to the guest, the held ones too
  // (put_used), so none is lost and none is read again from the ring. A held one is
  // revoked: its owner tag no longer names this instance, so ExternalBuffersAreOurs
  // refuses it and vswitch-vhost frees it unread; it stays an orphan (its mappings
  // held) until its mbufs are freed. Returns how many were still held.
  template <class F>
  uint32_t StopReturningHeld(F&& put_used) {
    if (!enabled()) return 0;
    (void)Reap(put_used);
    const uint32_t held = in_flight_.size();
    for (uint16_t h : in_flight_) {
      put_used(h);
      __atomic_store_n(&current_->slots[h].shared->owner, kRevokedOwner, __ATOMIC_RELAXED);
    }
    Retire();
    if (held > 0) CountZeroCopyRevocation();
    return held;
  }
  // The owner tag of a revoked slot (ZeroCopyInstance() is never 0).
  static constexpr uint64_t kRevokedOwner = 0;
  // Releases orphans whose mbufs were all freed; frees tables left without any. Returns
  // the orphans released.
  uint32_t ReapOrphans();

 private:
  struct Table {
    explicit Table(uint32_t n);
    ~Table();
    ZeroCopyShared* shared = nullptr;  // rte_zmalloc'ed, `size` entries
    std::unique_ptr<ZeroCopySlot[]> slots;
    uint32_t size = 0;
    uint32_t outstanding = 0;  // orphans not yet released
  };
  struct Orphan {
    Table* table;
    ZeroCopySlot* slot;
  };
  [[nodiscard]] static bool Done(const ZeroCopySlot& s) {
    if (rte_mbuf_ext_refcnt_read(&s.shared->shinfo) != 1) return false;
    // Pairs with the releasing decrement in whichever process freed the last mbuf: its
    // reads of the guest buffer happen before the guest may reuse it.
    std::atomic_thread_fence(std::memory_order_acquire);
    return true;
  }
  // One reference per mapping for all the queue's slots in it, counted here without
  // atomics: a shared_ptr copy per packet was two locked read-modify-writes, each a
  // full barrier on the datapath (perf: an eighth of zero-copy's time).
  struct Hold {
    std::shared_ptr<GuestMapping> mapping;
    uint32_t slots = 0;
  };
  [[nodiscard]] bool KeepSlow(ZeroCopySlot* slot, const std::shared_ptr<GuestMapping>& mapping);
  // Orphans what is still in flight and disables (Stop, StopReturningHeld).
  void Retire();
  void Release(ZeroCopySlot& s) {
    for (int8_t& h : s.hold) {
      if (h < 0) continue;
      Hold& hold = holds_[static_cast<size_t>(h)];
      if (--hold.slots == 0) hold.mapping.reset();
      h = -1;
    }
    s.in_flight = false;
  }
  static void UnexpectedFree(void* addr, void* opaque);

  std::unique_ptr<Table> current_;
  std::vector<std::unique_ptr<Table>> retired_;
  std::vector<Orphan> orphans_;
  HeadList in_flight_;
  std::vector<Hold> holds_;
  size_t last_hold_ = SIZE_MAX;  // the hold KeepSlow last used
  uint32_t last_burst_by_reference_ = 0;
  uint32_t threshold_ = kZeroCopyDefaultThreshold;
};

}  // namespace vswitch::vhost
