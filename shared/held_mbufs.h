// The mbufs a polling role holds outside the shared rings, kept where its successor can
// find them: a role killed with a burst in its hands (being routed, batched for a ring,
// waiting for a guest's buffers) would otherwise lose those mbufs for as long as the
// group runs (docs/architecture.md, "Mbufs a killed role held").
//
// Layout only (no DPDK): lists of mbuf pointers, and a journal of the one ring operation
// in progress. The writer is the role's one datapath thread; the reader is its successor,
// at attach, after the writer is dead. held_ledger.h writes it, held_recovery.h reads it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

struct rte_mbuf;  // only pointers are kept here: no DPDK header

namespace vswitch {

// One list: a burst-sized array the role uses as its working array. A non-null slot is
// an mbuf the role holds (or held until an instant ago: see held_recovery.h for the two
// ways a slot can still name an mbuf that left).
inline constexpr uint32_t kHeldListSlots = 64;
struct alignas(64) HeldList {
  rte_mbuf* slots[kHeldListSlots];
};
static_assert(sizeof(HeldList) == kHeldListSlots * sizeof(rte_mbuf*));

enum class HeldOp : uint32_t {
  kNone = 0,
  kEnqueue = 1,  // slots [first, first + count) of `list` onto a ring this role produces to
  kDequeue = 2,  // up to `count` slots from a ring this role consumes, into [first, ...)
};

// The ring operation in progress. The ring is single-producer/single-consumer and this
// role owns the end it works, so how far the end's tail moved past `tail_before` is how
// many slots the operation moved, whenever it was killed (ring_repair.h rolls a half-done
// operation back to its tail first).
struct alignas(64) HeldJournal {
  std::atomic<uint32_t> op;           // HeldOp
  std::atomic<uint32_t> list;
  std::atomic<uint32_t> first;
  std::atomic<uint32_t> count;
  std::atomic<uint32_t> tail_before;  // the ring end's tail before the operation
  std::atomic<uint32_t> ring;         // HeldRingId(device, which)
  std::atomic<int32_t> lcore;         // the writer's lcore: its mbuf pool cache
  std::atomic<int32_t> pid;           // the writer; 0: nobody has written this ledger
  // Totals since the primary started, written by the role at attach.
  std::atomic<uint64_t> recoveries;   // attaches that found a predecessor's mbufs
  std::atomic<uint64_t> recovered;    // mbufs freed for a dead predecessor
};
static_assert(sizeof(HeldJournal) == 64);

[[nodiscard]] constexpr uint32_t HeldRingId(uint32_t device, bool to_vm) { return device * 2 + (to_vm ? 0 : 1); }

// vswitch-switching's lists: the burst it routes, its port TX batch, one to_vm batch per
// device. vswitch-vhost's: a guest's TX burst, the mbufs its packet builder has in hand
// (spares and the packet being built), and per device the frames held for the guest's RX
// buffers and the frames batched for direct delivery to it.
inline constexpr uint32_t kHeldMaxDevices = 64;
namespace held {
inline constexpr uint32_t kSwitchingBurst = 0;
inline constexpr uint32_t kSwitchingPortTx = 1;
[[nodiscard]] constexpr uint32_t SwitchingToVm(uint32_t d) { return 2 + d; }
inline constexpr uint32_t kVhostTxBurst = 0;
inline constexpr uint32_t kVhostBuilder = 1;
[[nodiscard]] constexpr uint32_t VhostPending(uint32_t d) { return 2 + d; }
[[nodiscard]] constexpr uint32_t VhostDirect(uint32_t d) { return 2 + kHeldMaxDevices + d; }
}  // namespace held
inline constexpr uint32_t kHeldLists = 2 + 2 * kHeldMaxDevices;

struct alignas(64) RoleHeld {
  HeldJournal journal;
  HeldList lists[kHeldLists];
};

}  // namespace vswitch
