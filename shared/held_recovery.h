// The successor's side of a role's RoleHeld (held_mbufs.h): which mbufs a killed
// predecessor held, to be freed once each. Pure: the caller reads the ring end's tail and
// the predecessor's pool cache (held_recovery_dpdk.h does, at attach).
//
// A non-null slot names an mbuf the predecessor held, except in two cases the writer's
// order (held_ledger.h) leaves behind, and one it leaves on purpose:
//  - the slots a journaled enqueue had already published (the ring end's tail moved past
//    `tail_before`): the ring's consumer has them. Excluded wherever else they appear
//    (an mbuf is written into its next list before it leaves the last one).
//  - an mbuf freed but not yet erased: it is in the predecessor's pool cache (the free
//    was its lcore's last pool operation). Excluded.
//  - the slots a journaled dequeue had not yet taken (the tail had not moved past them):
//    ring_repair.h hands them out again. Ignored.
// Whatever else is named, in one list or several, is freed once.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "held_mbufs.h"

namespace vswitch {

struct HeldRecoveryPlan {
  std::vector<rte_mbuf*> to_free;
  uint32_t published = 0;      // named by a list but already on the ring
  uint32_t freed_already = 0;  // named by a list but in the predecessor's pool cache
  uint32_t duplicates = 0;     // named by two lists (moving from one to the next)
  uint32_t not_taken = 0;      // slots of an unfinished dequeue the ring still owns
  bool journal_clamped = false;  // the tail moved further than the journaled operation asked
};

// `tail_now`: the journaled ring end's tail (prod for kEnqueue, cons for kDequeue),
// after ring repair; ignored when no operation was in progress. `cache`: the objects in
// the predecessor's pool cache (its lcore's), in any order.
[[nodiscard]] HeldRecoveryPlan PlanHeldRecovery(const RoleHeld& held, uint32_t tail_now,
                                                std::span<rte_mbuf* const> cache);

}  // namespace vswitch
