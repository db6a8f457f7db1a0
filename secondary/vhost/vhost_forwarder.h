// The vswitch-vhost datapath: moves packets between each device's virtqueues (through our
// vhost-user library) and the device's rings in shared memory, and keeps the device's
// shared counters. Guest TX (odd queues) -> from_vm ring; to_vm ring -> guest RX (even
// queues); and, under vswitch-switching's DirectPolicy, guest TX -> another guest's RX for
// unicast frames between guests switching has learned (direct_route.h). One thread calls Poll(); the session thread calls the Attach/Detach hooks from
// the library's callbacks.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "driver.h"
#include "held_ledger.h"
#include "routing.h"
#include "mapping_publisher.h"
#include "poll_pacer.h"
#include "queue_stats.h"
#include "rx_queue_spread.h"
#include "state_layout.h"

namespace vswitch {

class VhostForwarder final : public SleepHooks {
 public:
  static constexpr uint16_t kBurst = 32;

  // `sockets[i]` is device slot i; its rings must exist (the primary made max_devices).
  // `publisher`: non-null with --dequeue-zero-copy (its retired mappings are checked in
  // Poll).
  VhostForwarder(vhost::Driver& driver, SharedState& state, rte_mempool* pool,
                 std::vector<std::string> sockets, MappingPublisher* publisher = nullptr);
  ~VhostForwarder();

  // Finds the rings and publishes the slots in the device table; false with *error when
  // the primary has no rings for a slot.
  [[nodiscard]] bool LookupRings(bool client_mode, std::string* error);

  // Library callbacks (session thread).
  int OnNewDevice(int vid);
  void OnDestroyDevice(int vid);
  int OnVringStateChanged(int vid, uint16_t queue_id, int enable);
  // A second front-end on a device's socket was refused: counted in DeviceInfo.
  void OnConnectionRefused(const std::string& path);
  // A front-end shrank its guest memory file under us: counted in DeviceInfo.
  void OnMemoryFault(const std::string& path);

  // One round over every device; returns the packets moved (0: idle).
  uint32_t Poll();
  // The last Poll put packets on a from_vm ring (vswitch-switching's doorbell is rung).
  [[nodiscard]] bool handed_off() const { return handed_off_; }
  // The doorbells the session thread rings when a device starts or stops: this
  // datapath's, and vswitch-switching's. A sleeping process sees the change now rather
  // than at its next timeout; switching must see a new connection before the guest's
  // first frames, or it takes them for the old connection's and drains them.
  void SetWakeFds(int own, int switching) {
    wake_fd_ = own;
    switching_wake_fd_ = switching;
  }

  // SleepHooks. Asleep, the datapath is woken by a guest's kick (guest TX, or guest RX
  // buffers while frames wait for them) and by vswitch-switching's doorbell (to_vm).
  void Arm() override;
  [[nodiscard]] bool HasWork() override;
  [[nodiscard]] uint64_t MaxSleepUs() override;
  void Disarm() override;

  // Frees the frames held for guests, in `pending` and on every to_vm ring (at exit,
  // after the datapath stopped and before the sockets are unregistered: their zero-copy
  // chains then go back to their guests at once; the next instance drains to_vm anyway).
  void FreeHeldFrames();
  // Frees held packets and marks every slot unused (at exit).
  void Shutdown();

 private:
  struct Slot {
    std::atomic<int> vid{-1};  // written by the session thread
    // Set by the session thread when the guest enabled or disabled a vring.
    std::atomic<bool> queues_changed{false};
    rte_ring* to_vm = nullptr;
    rte_ring* from_vm = nullptr;
    // Datapath-thread state.
    int active_vid = -1;
    uint16_t queue_pairs = 1;   // configured: guest TX is polled on each
    RxQueueSpread<kMaxQueuePairs> rx;  // enabled guest RX queues: bursts go round robin
    uint16_t pending_start = 0;
    uint16_t pending_count = 0;
    uint64_t tx_drain_ns = 0;      // TxDrainDue: when a full from_vm may next cost a burst
    rte_mbuf** pending = nullptr;  // the device's list in the ledger (held_mbufs.h)
    // Last values of the library's drop counters copied into shared memory, per vring.
    std::array<std::array<uint64_t, vhost::kDropReasonCount>, 2 * kMaxQueuePairs> seen_drops{};
    // Likewise for the zero-copy counters of each TX queue: by reference, then copied.
    std::array<std::array<uint64_t, 1 + vhost::kZeroCopyCopyReasonCount>, kMaxQueuePairs> seen_zc{};
  };

  // Up to a burst of one guest's frames for one other guest.
  struct DirectBatch {
    uint16_t count = 0;
    rte_mbuf** pkts = nullptr;  // the device's direct list in the ledger (held_mbufs.h)
  };

  [[nodiscard]] int SlotOf(const std::string& path) const;
  // Reads DirectPolicy and every device's learned MAC for this round.
  void RefreshDirectViews();
  // Delivers what it can of `pkts` (device `index`'s guest TX) straight to the guests
  // they are for; moves the rest, in order, to the front of `pkts` and returns how many.
  [[nodiscard]] uint16_t DeliverDirect(uint32_t index, rte_mbuf** pkts, uint16_t n);
  // Enqueues a batch into device `dst`'s guest RX; returns how many the guest took (0
  // when frames for it already wait in to_vm or `pending`: they go first).
  [[nodiscard]] uint16_t EnqueueDirect(uint32_t src, uint32_t dst, rte_mbuf** pkts, uint16_t n);
  void WakeDatapath();
  // How many of device `index`'s guest TX frames one dequeue may take: a burst when they
  // may go straight to another guest (direct, sender learned), else no more than the
  // device's from_vm ring has room for. We are that ring's only producer, so its room
  // only grows until our enqueue. With switching slow, stopped or restarting, frames
  // wait in the guest's TX ring, as behind a NIC that stops taking them, and this poller
  // goes idle instead of copying and freeing them on the CPU a restarting switching
  // needs; TxDrainDue lets the ring move slowly meanwhile.
  [[nodiscard]] uint16_t TxRoom(uint32_t index, const Slot& slot) const;
  // True, at most once per kFullRingDrainNs per device, when its from_vm ring has had no
  // room: one burst is then read and dropped (ring_full), so that a guest whose frames
  // nobody routes (switching stopped for minutes) still sees its TX ring move (no
  // transmit timeout in its kernel, zero-copy buffers returned) at ~32 frames per ms.
  [[nodiscard]] static bool TxDrainDue(const Slot& slot, uint64_t now_ns) { return now_ns >= slot.tx_drain_ns; }
  static constexpr uint64_t kFullRingDrainNs = 1'000'000;
  uint32_t PollDevice(uint32_t index, Slot& slot);
  void SyncDropCounters(uint32_t index, Slot& slot);
  void SeeCounters(Slot& slot, int vid);
  // Re-reads the active device's configured queue pairs and enabled RX vrings (the
  // library answers without a lock: the datapath never waits on the control path).
  void RefreshQueues(Slot& slot);
  // Takes the next burst of to_vm into `pending`, freeing unread what this process
  // cannot read (zero-copy buffers of an earlier vhost instance).
  void TakeToVm(uint32_t index, Slot& slot);
  // Frees unread the pending frames this process must not read (ExternalBuffersAreOurs).
  void FreeUnreadablePending(uint32_t index, Slot& slot);
  void FreePending(Slot& slot);
  // Frees everything on device `index`'s to_vm ring (we are its only consumer), through
  // its pending list (which must be empty); returns how many.
  uint32_t DrainToVm(uint32_t index, Slot& slot);
  // Device `index` has no guest (and none is being connected) yet frames wait on its
  // to_vm ring. Switching stops producing to a ring only at its next round after the
  // device went, so a batch it was flushing then (retrying on the full ring while
  // PollDevice drained it) lands after that drain, and we are the ring's only consumer:
  // left there, those mbufs stayed out of the pool until the guest came back
  // (guest_memory_shrink_test: 32 of them, one batch).
  [[nodiscard]] bool LateToVm(uint32_t index, const Slot& slot) const;
  // Frees them (counted device_not_ready); returns how many.
  uint32_t DrainLateToVm(uint32_t index, Slot& slot);

  vhost::Driver& driver_;
  SharedState& state_;
  rte_mempool* pool_;
  std::vector<std::string> sockets_;
  std::vector<Slot> slots_;
  MappingPublisher* publisher_;
  // What this process holds outside the rings, in shared memory (held_ledger.h): a
  // guest's TX burst, the packet builder's spares, and per device the frames held for
  // its RX buffers (Slot::pending) and batched for direct delivery (DirectBatch).
  HeldLedger held_;
  rte_mbuf** tx_burst_ = nullptr;
  rte_mbuf** builder_ = nullptr;
  uint64_t next_sync_ns_ = 0;
  bool handed_off_ = false;
  uint64_t seen_revocations_ = 0;  // vhost::ZeroCopyRevocations() at the last check
  int wake_fd_ = -1;
  int switching_wake_fd_ = -1;
  struct ArmedQueue {
    int vid;
    uint16_t queue;
  };
  std::vector<ArmedQueue> armed_;
  // Direct guest-to-guest, refreshed every round (RefreshDirectViews).
  bool direct_ = false;
  std::vector<DeviceView> views_;
  std::vector<DirectBatch> direct_batches_;
};

// Which shared drop reason a library drop reason is counted under.
[[nodiscard]] DropReason SharedDropReason(vhost::DropReason reason);

}  // namespace vswitch
