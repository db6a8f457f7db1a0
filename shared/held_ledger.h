// The writer's side of a role's RoleHeld (held_mbufs.h): the role's working arrays live
// in shared memory, and every move of an mbuf out of them keeps this order, so that the
// successor of a role killed at any instruction frees each mbuf the role held, once:
//
//  - an mbuf is written into its new place before it is erased from its old one (a kill
//    in between leaves it in two lists: held_recovery.h frees each pointer once);
//  - a freed mbuf is erased right after the free, before any other allocation or free on
//    this lcore (a kill in between leaves it in a list and in this lcore's pool cache,
//    where recovery finds it and leaves it);
//  - a ring operation is journaled (HeldJournal): recovery reads from the ring end's tail
//    how many slots it moved.
//
// One datapath thread per role writes it. The stores are plain: a killed process leaves
// memory as its stores left it, in program order on x86 (TSO); the release fences keep
// the compiler (and weaker CPUs) from reordering them across the steps above.
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <atomic>
#include <cstdint>

#include "held_mbufs.h"
#include "named_mempool.h"

namespace vswitch {

class HeldLedger {
 public:
  HeldLedger() = default;
  // The ledger was emptied and claimed for this process at attach (role_held_recovery.h).
  explicit HeldLedger(RoleHeld* held) : held_(held) {}

  [[nodiscard]] rte_mbuf** list(uint32_t i) { return held_->lists[i].slots; }

  // Erases `n` slots from `first` (after their mbufs went elsewhere or were freed).
  static void Erase(rte_mbuf** slots, uint32_t n) {
    std::atomic_thread_fence(std::memory_order_release);
    for (uint32_t i = 0; i < n; ++i) slots[i] = nullptr;
  }
  // Frees `n` mbufs of a list and erases them (in that order: see above), through the
  // pool cache in the order named_mempool.h argues.
  static void FreeAndErase(rte_mbuf** slots, uint32_t n) { FreeNamed(slots, n); }
  static void FreeAndErase(rte_mbuf** slot) {
    rte_pktmbuf_free(*slot);
    Erase(slot, 1);
  }

  // Puts up to `n` slots of list `l` from `first` on `ring` (this role is its only
  // producer) and erases those it took. Returns how many.
  unsigned Enqueue(uint32_t l, uint32_t first, unsigned n, rte_ring* ring, uint32_t ring_id) {
    rte_mbuf** slots = held_->lists[l].slots + first;
    Begin(HeldOp::kEnqueue, l, first, n, ring->prod.tail, ring_id);
    const unsigned k = rte_ring_sp_enqueue_burst(ring, reinterpret_cast<void* const*>(slots), n, nullptr);
    Erase(slots, k);
    End();
    return k;
  }
  // Takes up to `n` slots from `ring` (this role is its only consumer) into list `l`
  // from slot 0 (the list must be empty). Returns how many.
  unsigned Dequeue(uint32_t l, unsigned n, rte_ring* ring, uint32_t ring_id) {
    Begin(HeldOp::kDequeue, l, 0, n, ring->cons.tail, ring_id);
    const unsigned k = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(held_->lists[l].slots), n, nullptr);
    End();
    return k;
  }

 private:
  void Begin(HeldOp op, uint32_t l, uint32_t first, uint32_t n, uint32_t tail, uint32_t ring_id) {
    HeldJournal& j = held_->journal;
    j.list.store(l, std::memory_order_relaxed);
    j.first.store(first, std::memory_order_relaxed);
    j.count.store(n, std::memory_order_relaxed);
    j.tail_before.store(tail, std::memory_order_relaxed);
    j.ring.store(ring_id, std::memory_order_relaxed);
    j.op.store(static_cast<uint32_t>(op), std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_release);
  }
  void End() { held_->journal.op.store(static_cast<uint32_t>(HeldOp::kNone), std::memory_order_release); }

  RoleHeld* held_ = nullptr;
};

}  // namespace vswitch
