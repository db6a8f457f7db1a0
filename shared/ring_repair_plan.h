// What to do with one end (producer or consumer) of a single-producer/single-consumer
// ring whose previous owner was killed, possibly in the middle of an operation. Pure
// logic over the four 32-bit counters; ring_repair.h applies it to a DPDK rte_ring.
//
// An rte_ring operation (DPDK 22.11, rte_ring_core.h `struct rte_ring_headtail`; the
// ring library guide's "Single Producer Enqueue" and "Single Consumer Dequeue") moves
// its end's head, copies the slots between the old and the new head, then moves its
// end's tail to the head. The other end only ever reads this end's tail. A process
// killed between the two leaves head != tail on its end, and a successor that went on
// from the head would:
//  - producer: publish, with its own next enqueue, the slots between the old tail and
//    the head, which the dead producer may never have written: the consumer would take
//    stale pointers of a previous lap (mbufs already consumed, perhaps reused) or zeros.
//  - consumer: skip the slots between the old tail and the head, which the producer had
//    published and nobody has taken: those mbufs would be lost without a trace.
//
// The repair is the same for both ends, "head = tail", and it is right for a different
// reason on each:
//  - producer: which of the slots between tail and head the dead producer wrote cannot
//    be known. A slot holds either the pointer it was writing or the pointer of a lap
//    before, already taken by the consumer, and mbufs are reused, so even the same value
//    proves nothing. Nothing there was published (the consumer reads only up to the
//    tail), so those mbufs were still the dead producer's own, like any it held in its
//    stack: taking the head back never hands the consumer an unwritten slot and never
//    takes back a slot the consumer could have seen. The slots are counted as dropped.
//  - consumer: every slot between tail and head was published (the dead consumer's
//    head never passes the producer's tail) and is still intact, because the producer
//    reuses a slot only once the consumer's tail has passed it. The dead consumer copied
//    the pointers into its own stack but died before its dequeue returned, so nothing
//    acted on them: taking the head back hands them to the successor, each exactly once.
//    The slots are counted as redelivered.
//
// Multi-producer or multi-consumer ends (and the HTS/RTS modes) are not repairable this
// way: live processes of the same end may hold reservations beyond the dead one's, and
// they wait for the dead one's tail to move before they move theirs. Every ring of the
// group is single-producer/single-consumer (ring_owners.h); ring_repair.h refuses others.
#pragma once

#include <cstdint>

namespace vswitch {

enum class RingEnd : uint8_t { kProducer, kConsumer };

enum class RingRepairVerdict : uint8_t {
  kConsistent,  // head == tail: the previous owner finished (or never began) its last operation
  kRollBack,    // a half-done operation: set head = tail, `slots` slots involved
  kCorrupt,     // counters no killed single owner can leave: do not touch the ring
};

struct RingRepairPlan {
  RingRepairVerdict verdict = RingRepairVerdict::kConsistent;
  uint32_t slots = 0;  // head - tail for kRollBack
};

// `own` is the end being taken over; `other_tail` the other end's tail. Counters are
// free-running 32-bit values compared modulo 2^32, as the ring itself does.
struct RingEndCounters {
  uint32_t head = 0;
  uint32_t tail = 0;
};

[[nodiscard]] constexpr RingRepairPlan PlanRingEndRepair(RingEnd end, RingEndCounters own,
                                                        uint32_t other_tail, uint32_t capacity) {
  const uint32_t in_flight = own.head - own.tail;
  // What bounds a legitimate head: a producer never reserves past the consumer's tail plus
  // the capacity; a consumer never reserves past the producer's tail. The other end may
  // move on while we look (its tail only grows), which only widens these bounds.
  const bool head_in_bounds = end == RingEnd::kProducer
                                  ? own.head - other_tail <= capacity
                                  : other_tail - own.head <= capacity;
  const bool tail_in_bounds = end == RingEnd::kProducer ? own.tail - other_tail <= capacity
                                                        : other_tail - own.tail <= capacity;
  if (!head_in_bounds || !tail_in_bounds || in_flight > capacity) {
    return {RingRepairVerdict::kCorrupt, in_flight};
  }
  if (in_flight == 0) return {RingRepairVerdict::kConsistent, 0};
  return {RingRepairVerdict::kRollBack, in_flight};
}

}  // namespace vswitch
