#include "ring_repair.h"

namespace vswitch {
namespace {

// The counters are `volatile uint32_t` in struct rte_ring_headtail and are written by
// other processes: read them once each, with acquire so that what the other end
// published before its tail is visible after it.
uint32_t LoadCounter(const volatile uint32_t& c) {
  return __atomic_load_n(&c, __ATOMIC_ACQUIRE);
}

}  // namespace

std::string DescribeRingCounters(const rte_ring& ring) {
  return "producer head " + std::to_string(LoadCounter(ring.prod.head)) + " tail " +
         std::to_string(LoadCounter(ring.prod.tail)) + ", consumer head " +
         std::to_string(LoadCounter(ring.cons.head)) + " tail " +
         std::to_string(LoadCounter(ring.cons.tail)) + ", capacity " +
         std::to_string(ring.capacity);
}

RingRepairResult RepairRingEnd(rte_ring& ring, RingEnd end) {
  rte_ring_headtail& own = end == RingEnd::kProducer ? ring.prod : ring.cons;
  const rte_ring_headtail& other = end == RingEnd::kProducer ? ring.cons : ring.prod;
  const char* end_name = end == RingEnd::kProducer ? "producer" : "consumer";
  if (own.sync_type != RTE_RING_SYNC_ST) {
    return {RingRepairVerdict::kCorrupt, 0,
            std::string("the ") + end_name +
                " end is not single-owner: a half-done operation there cannot be repaired "
                "by one process (live owners may hold reservations past it)"};
  }
  const RingEndCounters counters{LoadCounter(own.head), LoadCounter(own.tail)};
  const RingRepairPlan plan =
      PlanRingEndRepair(end, counters, LoadCounter(other.tail), ring.capacity);
  switch (plan.verdict) {
    case RingRepairVerdict::kConsistent:
      return {plan.verdict, 0, {}};
    case RingRepairVerdict::kCorrupt:
      return {plan.verdict, 0,
              std::string("the ") + end_name +
                  " counters are not what a killed owner leaves (" + DescribeRingCounters(ring) +
                  ")"};
    case RingRepairVerdict::kRollBack:
      // Release: our own later enqueues/dequeues read the head back in this process; the
      // store must not be reordered after them. The other end never reads it.
      __atomic_store_n(&own.head, counters.tail, __ATOMIC_RELEASE);
      return {plan.verdict, plan.slots, {}};
  }
  return {RingRepairVerdict::kCorrupt, 0, "unknown verdict"};
}

}  // namespace vswitch
