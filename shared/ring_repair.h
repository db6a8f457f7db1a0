// Takes over one end of a DPDK rte_ring whose previous owner (a killed process) may have
// stopped between moving the head and moving the tail. The argument for what is done
// is in ring_repair_plan.h and docs/architecture.md ("A role killed mid-operation").
//
// Only the end's single owner may call this, and only before its first operation on that
// end: nobody else writes that end's head, so nothing races the repair. The other end
// may keep running meanwhile; it never reads this end's head. No EAL calls: usable on a
// ring in any memory (tests build one on the heap).
#pragma once

#include <rte_ring.h>

#include <string>

#include "ring_repair_plan.h"

namespace vswitch {

struct RingRepairResult {
  RingRepairVerdict verdict = RingRepairVerdict::kConsistent;
  uint32_t slots = 0;   // slots rolled back (kRollBack)
  std::string detail;   // for kCorrupt, or an end that is not single-owner: what was found
};

// The end's four counters as found (for logs and tests).
[[nodiscard]] std::string DescribeRingCounters(const rte_ring& ring);

// Applies PlanRingEndRepair to `end` of `ring`. An end that is not single-producer /
// single-consumer (RTE_RING_SYNC_ST) is reported kCorrupt and left alone: see
// ring_repair_plan.h for why it cannot be repaired from one process.
[[nodiscard]] RingRepairResult RepairRingEnd(rte_ring& ring, RingEnd end);

}  // namespace vswitch
