#include "vhost_forwarder.h"

#include <unistd.h>

#include <algorithm>

#include "clock.h"
#include "direct_route.h"
#include "log.h"
#include "mbuf_frame.h"
#include "names.h"
#include "vlan_tag.h"
#include "zero_copy.h"

namespace vswitch {
namespace {

constexpr uint64_t kSyncPeriodNs = 100'000'000;

uint64_t Bytes(rte_mbuf* const* pkts, uint16_t n) {
  uint64_t sum = 0;
  for (uint16_t i = 0; i < n; ++i) sum += pkts[i]->pkt_len;
  return sum;
}

// The library's copy reasons are copied into shared memory index by index.
static_assert(vhost::kZeroCopyCopyReasonCount == kZeroCopyCopyReasonCount);
static_assert(static_cast<size_t>(vhost::ZeroCopyCopyReason::kBelowThreshold) ==
              static_cast<size_t>(ZeroCopyCopyReason::kBelowThreshold));
static_assert(static_cast<size_t>(vhost::ZeroCopyCopyReason::kCapReached) ==
              static_cast<size_t>(ZeroCopyCopyReason::kCapReached));
static_assert(static_cast<size_t>(vhost::ZeroCopyCopyReason::kRegionNotShared) ==
              static_cast<size_t>(ZeroCopyCopyReason::kRegionNotShared));
static_assert(static_cast<size_t>(vhost::ZeroCopyCopyReason::kOther) ==
              static_cast<size_t>(ZeroCopyCopyReason::kOther));

// Adds what `now` moved past `seen` to `shared` (the library's counter only grows, except
// when a new connection resets it).
void Forward(uint64_t now, uint64_t& seen, Counter& shared) {
  if (now < seen) seen = 0;
  if (now > seen) {
    Bump(shared, now - seen);
    seen = now;
  }
}

}  // namespace

DropReason SharedDropReason(vhost::DropReason reason) {
  using R = vhost::DropReason;
  switch (reason) {
    case R::kUnmappedAddress: return DropReason::kBadAddress;
    case R::kPacketTooLarge:
    case R::kRxBufferTooSmall: return DropReason::kOversize;
    case R::kBadNetHeader:
    case R::kOffloadNotNegotiated: return DropReason::kInvalidHeader;
    default: return DropReason::kInvalidDescriptor;
  }
}

VhostForwarder::VhostForwarder(vhost::Driver& driver, SharedState& state, rte_mempool* pool,
                               std::vector<std::string> sockets, MappingPublisher* publisher)
    : driver_(driver),
      state_(state),
      pool_(pool),
      sockets_(std::move(sockets)),
      slots_(sockets_.size()),
      publisher_(publisher),
      held_(&state.held[static_cast<size_t>(Role::kVhost)]),
      views_(sockets_.size()),
      direct_batches_(sockets_.size()) {
  // The ledger was emptied and claimed at attach (role_held_recovery.h).
  tx_burst_ = held_.list(held::kVhostTxBurst);
  builder_ = held_.list(held::kVhostBuilder);
  for (uint32_t i = 0; i < slots_.size() && i < kHeldMaxDevices; ++i) {
    slots_[i].pending = held_.list(held::VhostPending(i));
    direct_batches_[i].pkts = held_.list(held::VhostDirect(i));
  }
}

uint32_t VhostForwarder::DrainToVm(uint32_t index, Slot& slot) {
  uint32_t total = 0;
  if (slot.to_vm == nullptr) return 0;
  for (;;) {
    const unsigned n = held_.Dequeue(held::VhostPending(index), kBurst, slot.to_vm, HeldRingId(index, true));
    if (n == 0) return total;
    HeldLedger::FreeAndErase(slot.pending, n);
    total += n;
  }
}

VhostForwarder::~VhostForwarder() { Shutdown(); }

bool VhostForwarder::LookupRings(bool client_mode, std::string* error) {
  for (size_t i = 0; i < slots_.size(); ++i) {
    slots_[i].to_vm = rte_ring_lookup(ToVmRingName(static_cast<unsigned>(i)).c_str());
    slots_[i].from_vm = rte_ring_lookup(FromVmRingName(static_cast<unsigned>(i)).c_str());
    if (slots_[i].to_vm == nullptr || slots_[i].from_vm == nullptr) {
      *error = "the primary has no rings for device " + std::to_string(i) +
               " (raise [primary] max-devices to at least " + std::to_string(slots_.size()) + ")";
      return false;
    }
    DeviceInfo& d = state_.devices[i];
    std::snprintf(d.socket_path, sizeof(d.socket_path), "%s", sockets_[i].c_str());
    d.vid.store(-1);
    d.features.store(0);
    d.queue_pairs.store(0);
    d.client_mode.store(client_mode ? 1 : 0);
    d.state.store(static_cast<uint32_t>(DeviceState::kWaiting));
  }
  return true;
}

int VhostForwarder::SlotOf(const std::string& path) const {
  for (size_t i = 0; i < sockets_.size(); ++i) {
    if (sockets_[i] == path) return static_cast<int>(i);
  }
  return -1;
}

int VhostForwarder::OnNewDevice(int vid) {
  std::string path;
  if (driver_.GetIfname(vid, &path) != 0) return -1;
  const int index = SlotOf(path);
  if (index < 0) return -1;
  uint64_t features = 0;
  (void)driver_.GetNegotiatedFeatures(vid, &features);
  const int pairs = driver_.GetQueueNum(vid);
  DeviceInfo& d = state_.devices[index];
  d.vid.store(vid);
  d.features.store(features);
  d.queue_pairs.store(pairs > 0 ? static_cast<uint32_t>(pairs) : 1);
  d.connections.fetch_add(1);
  d.state.store(static_cast<uint32_t>(DeviceState::kReady));
  slots_[index].vid.store(vid, std::memory_order_release);
  WakeDatapath();
  VSW_LOG(INFO, "device %d (%s): vid %d ready, features 0x%lx, %d queue pair(s)", index,
          path.c_str(), vid, static_cast<unsigned long>(features), pairs);
  return 0;
}

void VhostForwarder::OnDestroyDevice(int vid) {
  for (size_t i = 0; i < slots_.size(); ++i) {
    int expected = vid;
    if (slots_[i].vid.compare_exchange_strong(expected, -1)) {
      DeviceInfo& d = state_.devices[i];
      d.vid.store(-1);
      d.queue_pairs.store(0);
      d.state.store(static_cast<uint32_t>(DeviceState::kWaiting));
      WakeDatapath();
      VSW_LOG(INFO, "device %zu (%s): vid %d stopped", i, sockets_[i].c_str(), vid);
    }
  }
}

int VhostForwarder::OnVringStateChanged(int vid, uint16_t queue_id, int enable) {
  VSW_LOG(DEBUG, "vid %d: vring %u %s", vid, queue_id, enable ? "enabled" : "disabled");
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].vid.load() == vid) {
      const int pairs = driver_.GetQueueNum(vid);
      state_.devices[i].queue_pairs.store(pairs > 0 ? static_cast<uint32_t>(pairs) : 1);
      // The datapath re-reads which RX queues to spread over at its next round.
      slots_[i].queues_changed.store(true, std::memory_order_release);
    }
  }
  return 0;
}

void VhostForwarder::OnConnectionRefused(const std::string& path) {
  const int index = SlotOf(path);
  if (index < 0) return;
  // The session thread is this field's only writer.
  Bump(state_.devices[index].refused_connections);
  VSW_LOG(WARNING, "device %d (%s): a second front-end was refused, the first keeps the device "
          "(%llu refused so far)", index, path.c_str(),
          static_cast<unsigned long long>(state_.devices[index].refused_connections.load()));
}

void VhostForwarder::OnMemoryFault(const std::string& path) {
  const int index = SlotOf(path);
  if (index < 0) return;
  // The session thread is this field's only writer (the library logged the region).
  Bump(state_.devices[index].memory_faults);
}

void VhostForwarder::WakeDatapath() {
  const uint64_t one = 1;
  for (int fd : {wake_fd_, switching_wake_fd_}) {
    if (fd >= 0) {
      [[maybe_unused]] const ssize_t n = write(fd, &one, sizeof(one));
    }
  }
}

void VhostForwarder::Arm() {
  armed_.clear();
  for (const Slot& slot : slots_) {
    if (slot.active_vid < 0) continue;
    const bool tx_room = TxRoom(static_cast<uint32_t>(&slot - slots_.data()), slot) != 0 ||
                         TxDrainDue(slot, MonotonicNs());
    for (uint16_t q = 0; q < slot.queue_pairs; ++q) {
      // Guest TX: a kick when the guest adds a packet, unless from_vm has no room for
      // one (MaxSleepUs looks again). Guest RX: a kick when it adds buffers, wanted only
      // while frames wait for them.
      if (tx_room) armed_.push_back({slot.active_vid, static_cast<uint16_t>(2 * q + 1)});
      if (slot.pending_count > 0) armed_.push_back({slot.active_vid, static_cast<uint16_t>(2 * q)});
    }
  }
  // 2.7.10: with notifications on, the device re-checks the ring before it sleeps
  // (HasWork, after PollPacer's fence), or a buffer added before they took effect waits.
  for (const ArmedQueue& a : armed_) (void)driver_.EnableGuestNotification(a.vid, a.queue, 1);
}

bool VhostForwarder::HasWork() {
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    if (slot.vid.load(std::memory_order_acquire) != slot.active_vid) return true;
    if (slot.active_vid < 0) {
      if (LateToVm(i, slot)) return true;
      continue;
    }
    if (slot.pending_count == 0 && rte_ring_count(slot.to_vm) != 0) return true;
    const bool tx_room = TxRoom(i, slot) != 0 || TxDrainDue(slot, MonotonicNs());
    for (uint16_t q = 0; q < slot.queue_pairs; ++q) {
      if (tx_room && driver_.AvailEntries(slot.active_vid, static_cast<uint16_t>(2 * q + 1)) != 0) return true;
      if (slot.pending_count > 0 && driver_.AvailEntries(slot.active_vid, static_cast<uint16_t>(2 * q)) != 0) {
        return true;
      }
    }
  }
  return false;
}

uint64_t VhostForwarder::MaxSleepUs() {
  // Frames waiting for a guest's buffers: as --rx-retry would, look again soon even if
  // the guest does not kick. Zero-copy buffers come back when vswitch-switching frees
  // their mbufs, which rings nothing here; nor does switching making room on a full
  // from_vm ring (TxRoom).
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    const Slot& slot = slots_[i];
    if (slot.active_vid < 0) continue;
    if (slot.pending_count > 0 || driver_.ZeroCopyInFlight(slot.active_vid) != 0 || TxRoom(i, slot) == 0) {
      return 1000;
    }
  }
  // Otherwise only the heartbeat and the counter sync need us.
  return kHeartbeatBoundSleepUs;
}

void VhostForwarder::Disarm() {
  (void)driver_.DrainKicks();
  for (const ArmedQueue& a : armed_) (void)driver_.EnableGuestNotification(a.vid, a.queue, 0);
  armed_.clear();
}

void VhostForwarder::FreePending(Slot& slot) {
  HeldLedger::FreeAndErase(slot.pending + slot.pending_start, slot.pending_count);
  slot.pending_start = 0;
  slot.pending_count = 0;
}

void VhostForwarder::RefreshDirectViews() {
  direct_ = state_.direct.enabled.load(std::memory_order_acquire) != 0;
  if (!direct_) return;
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    const Slot& slot = slots_[i];
    DeviceView& v = views_[i];
    v.ready = slot.active_vid >= 0 && slot.vid.load(std::memory_order_relaxed) == slot.active_vid;
    // Switching stores mac, vlan and connection before `learned` (release). A MAC learned
    // for an earlier connection of the device is not the current guest's.
    const DeviceL2& l2 = state_.l2[i];
    v.learned = v.ready && l2.learned.load(std::memory_order_acquire) != 0 &&
                l2.connection.load(std::memory_order_relaxed) ==
                    state_.devices[i].connections.load(std::memory_order_relaxed);
    v.mac = v.learned ? l2.mac.load(std::memory_order_relaxed) : 0;
    v.vlan = VlanOfDevice(i);
    // Written by this process before the device became ready (OnNewDevice).
    v.max_frame = GuestMaxFrame(state_.devices[i].features.load(std::memory_order_relaxed));
  }
}

uint16_t VhostForwarder::DeliverDirect(uint32_t index, rte_mbuf** pkts, uint16_t n) {
  uint64_t targets = 0;
  uint16_t slow = 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    DirectFrame f;
    f.src_device = index;
    f.frame = ParseMbuf(m);
    f.segmentation_offload = (m->ol_flags & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)) != 0;
    const std::optional<uint32_t> dst = DirectDestination(f, views_);
    if (!dst) {
      pkts[slow++] = m;
      continue;
    }
    DirectBatch& b = direct_batches_[*dst];
    b.pkts[b.count++] = m;
    targets |= uint64_t{1} << *dst;
  }
  // Every frame is named by a slot below `slow` or by a direct batch: the rest of the
  // burst's slots go (held_ledger.h).
  HeldLedger::Erase(pkts + slow, n - slow);
  while (targets != 0) {
    const auto dst = static_cast<uint32_t>(__builtin_ctzll(targets));
    targets &= targets - 1;
    DirectBatch& b = direct_batches_[dst];
    const uint16_t taken = EnqueueDirect(index, dst, b.pkts, b.count);
    // What the guest had no room for goes the long way: switching queues it on to_vm and
    // retries as for any frame. Frames of a later burst may then pass it: order between
    // the two paths holds only while the receiver keeps up.
    for (uint16_t i = taken; i < b.count; ++i) pkts[slow++] = b.pkts[i];
    HeldLedger::Erase(b.pkts + taken, b.count - taken);
    b.count = 0;
  }
  return slow;
}

uint16_t VhostForwarder::EnqueueDirect(uint32_t src, uint32_t dst, rte_mbuf** pkts, uint16_t n) {
  Slot& slot = slots_[dst];
  // Frames switching queued for this guest go first; so do frames held for its buffers.
  if (slot.pending_count != 0 || rte_ring_count(slot.to_vm) != 0) return 0;
  // The receiver's enabled RX queues, as for frames from to_vm (none enabled: the long way).
  uint16_t q = 0;
  if (!slot.rx.Next(&q)) return 0;
  const uint16_t taken = driver_.EnqueueBurst(slot.active_vid, static_cast<uint16_t>(2 * q), pkts, n);
  if (taken == 0) return 0;
  const uint64_t bytes = Bytes(pkts, taken);
  DeviceCounters& to = state_.counters[dst];
  Bump(to.vhost_rx[q].packets, taken);
  Bump(to.vhost_rx[q].bytes, bytes);
  Bump(to.direct_rx.packets, taken);
  Bump(to.direct_rx.bytes, bytes);
  Bump(state_.counters[src].direct_tx.packets, taken);
  Bump(state_.counters[src].direct_tx.bytes, bytes);
  // The library copied them into the guest; the mbufs are still ours.
  HeldLedger::FreeAndErase(pkts, taken);
  return taken;
}

uint32_t VhostForwarder::Poll() {
  handed_off_ = false;
  uint32_t work = 0;
  RefreshDirectViews();
  // A ring stopped with zero-copy buffers still held and revoked them: frames held here
  // for a guest's RX buffers may be among them (one load per round, none per packet).
  const uint64_t revocations = vhost::ZeroCopyRevocations();
  if (revocations != seen_revocations_) {
    seen_revocations_ = revocations;
    for (uint32_t i = 0; i < slots_.size(); ++i) FreeUnreadablePending(i, slots_[i]);
  }
  for (uint32_t i = 0; i < slots_.size(); ++i) work += PollDevice(i, slots_[i]);
  const uint64_t now = MonotonicNs();
  if (now >= next_sync_ns_) {
    next_sync_ns_ = now + kSyncPeriodNs;
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      if (slot.active_vid >= 0) {
        RefreshQueues(slot);
        SyncDropCounters(i, slot);
      }
    }
    // Zero-copy buffers of stopped rings, and mappings switching no longer maps.
    (void)driver_.ReapZeroCopyOrphans();
    if (publisher_ != nullptr) (void)publisher_->Tick();
  }
  return work;
}

uint16_t VhostForwarder::TxRoom(uint32_t index, const Slot& slot) const {
  if (direct_ && views_[index].learned) return kBurst;
  return static_cast<uint16_t>(std::min<unsigned>(kBurst, rte_ring_free_count(slot.from_vm)));
}

uint32_t VhostForwarder::PollDevice(uint32_t index, Slot& slot) {
  const int vid = slot.vid.load(std::memory_order_acquire);
  if (vid != slot.active_vid) {
    // A new connection (or none): what we held or what is queued for the old one is not
    // for whoever connects next. Switching stops producing for a device that is not
    // ready, and we are to_vm's only consumer, so we drain it (frames switching queued
    // for the new connection before this round observed it are lost too: a few at most).
    if (slot.active_vid >= 0) SyncDropCounters(index, slot);
    const uint32_t held = slot.pending_count;
    FreePending(slot);
    const uint32_t stale = held + DrainToVm(index, slot);
    if (stale > 0) {
      Bump(state_.counters[index].vhost_rx[0].drops[static_cast<size_t>(DropReason::kDeviceNotReady)], stale);
    }
    slot.active_vid = vid;
    slot.queue_pairs = 1;
    slot.rx.Clear();
    if (vid >= 0) {
      slot.queues_changed.store(false, std::memory_order_relaxed);
      RefreshQueues(slot);
      SeeCounters(slot, vid);
    }
  }
  if (vid < 0) return DrainLateToVm(index, slot);
  if (slot.queues_changed.load(std::memory_order_acquire) &&
      slot.queues_changed.exchange(false, std::memory_order_acq_rel)) {
    RefreshQueues(slot);
  }
  DeviceCounters& counters = state_.counters[index];
  uint32_t work = 0;

  // Guest TX: every queue pair's TX queue into the one from_vm ring (we are its only
  // producer). A burst per queue per round bounds what one guest can take from others.
  // Only what from_vm has room for is read (TxRoom), but for a burst per queue once in a
  // while when it has none (TxDrainDue).
  bool drain = false;
  if (TxRoom(index, slot) == 0) {
    const uint64_t now = MonotonicNs();
    drain = TxDrainDue(slot, now);
    if (drain) slot.tx_drain_ns = now + kFullRingDrainNs;
  }
  for (uint16_t q = 0; q < slot.queue_pairs; ++q) {
    rte_mbuf** pkts = tx_burst_;
    const uint16_t room = drain ? kBurst : TxRoom(index, slot);
    if (room == 0) break;
    const uint16_t n = driver_.DequeueBurst(vid, static_cast<uint16_t>(2 * q + 1), pool_, pkts, room, builder_);
    if (n == 0) continue;
    work += n;
    QueueCounters& qc = counters.vhost_tx[q];
    Bump(qc.packets, n);
    Bump(qc.bytes, Bytes(pkts, n));
    // A sender switching has not learned sends every frame to switching: no need to parse.
    const uint16_t slow = direct_ && views_[index].learned ? DeliverDirect(index, pkts, n) : n;
    if (slow == 0) continue;
    const unsigned sent = held_.Enqueue(held::kVhostTxBurst, 0, slow, slot.from_vm, HeldRingId(index, false));
    if (sent != 0) handed_off_ = true;
    if (sent < slow) {
      Bump(qc.drops[static_cast<size_t>(DropReason::kRingFull)], slow - sent);
      HeldLedger::FreeAndErase(pkts + sent, slow - sent);
    }
  }

  // Guest RX: hold what the ring gave us until the guest has room (the ring backs up and
  // the switching secondary's RX retry applies), spreading bursts over the enabled RX
  // queues (rx_queue_spread.h).
  if (slot.pending_count == 0) TakeToVm(index, slot);
  uint16_t q = 0;
  if (slot.pending_count > 0 && slot.rx.Next(&q)) {
    rte_mbuf** first = slot.pending + slot.pending_start;
    const uint16_t taken = driver_.EnqueueBurst(vid, static_cast<uint16_t>(2 * q), first, slot.pending_count);
    // Frames left over wait for the guest's RX buffers, and are offered again next round:
    // one retry (they are never dropped for want of buffers: to_vm backs up instead, and
    // vswitch-switching's RX retry and ring_full drops take over).
    if (taken < slot.pending_count) Bump(counters.vhost_rx[q].retries);
    if (taken > 0) {
      QueueCounters& qc = counters.vhost_rx[q];
      Bump(qc.packets, taken);
      Bump(qc.bytes, Bytes(first, taken));
      // The library copied them into the guest; the mbufs are still ours.
      HeldLedger::FreeAndErase(first, taken);
      slot.pending_start = static_cast<uint16_t>(slot.pending_start + taken);
      slot.pending_count = static_cast<uint16_t>(slot.pending_count - taken);
      work += taken;
    }
  }
  return work;
}

bool VhostForwarder::LateToVm(uint32_t index, const Slot& slot) const {
  if (rte_ring_count(slot.to_vm) == 0) return false;
  // A connection being made stores kReady before its vid (OnNewDevice): what switching
  // queues once it sees kReady is for that guest, taken when we see the vid.
  return state_.devices[index].state.load(std::memory_order_acquire) !=
         static_cast<uint32_t>(DeviceState::kReady);
}

uint32_t VhostForwarder::DrainLateToVm(uint32_t index, Slot& slot) {
  if (!LateToVm(index, slot)) return 0;
  const uint32_t late = DrainToVm(index, slot);
  if (late > 0) {
    Bump(state_.counters[index].vhost_rx[0].drops[static_cast<size_t>(DropReason::kDeviceNotReady)], late);
  }
  return late;
}

void VhostForwarder::RefreshQueues(Slot& slot) {
  const int pairs = driver_.GetQueueNum(slot.active_vid);
  slot.queue_pairs = static_cast<uint16_t>(pairs > 0 ? std::min<int>(pairs, kMaxQueuePairs) : 1);
  const int vid = slot.active_vid;
  slot.rx.Refresh(slot.queue_pairs,
                  [&](uint16_t q) { return driver_.IsQueueEnabled(vid, static_cast<uint16_t>(2 * q)); });
}

void VhostForwarder::SeeCounters(Slot& slot, int vid) {
  for (uint16_t q = 0; q < 2 * kMaxQueuePairs; ++q) {
    const vhost::QueueStats* stats = driver_.GetQueueStats(vid, q);
    for (size_t r = 0; r < vhost::kDropReasonCount; ++r) {
      slot.seen_drops[q][r] = stats ? stats->drops[r].Get() : 0;
    }
    if (q % 2 == 0) continue;
    auto& zc = slot.seen_zc[q / 2];
    zc[0] = stats ? stats->zero_copy.Get() : 0;
    for (size_t r = 0; r < vhost::kZeroCopyCopyReasonCount; ++r) {
      zc[1 + r] = stats ? stats->zero_copy_copied[r].Get() : 0;
    }
  }
}

void VhostForwarder::TakeToVm(uint32_t index, Slot& slot) {
  slot.pending_start = 0;
  slot.pending_count = static_cast<uint16_t>(
      held_.Dequeue(held::VhostPending(index), kBurst, slot.to_vm, HeldRingId(index, true)));
  FreeUnreadablePending(index, slot);
}

void VhostForwarder::FreeUnreadablePending(uint32_t index, Slot& slot) {
  rte_mbuf** pending = slot.pending + slot.pending_start;
  uint16_t kept = 0;
  uint32_t stale = 0;
  for (uint16_t i = 0; i < slot.pending_count; ++i) {
    rte_mbuf* m = pending[i];
    // A zero-copy packet a previous vswitch-vhost instance made (before a restart) points
    // into guest memory this process never mapped; one whose chain went back to its guest
    // when its ring stopped (revoked, zero_copy.h) points into buffers the guest may have
    // rewritten since. Free it (its shared info is in hugepage memory, still allocated)
    // without reading it.
    if (!vhost::ExternalBuffersAreOurs(m)) {
      HeldLedger::FreeAndErase(pending + i);
      ++stale;
      continue;
    }
    if (kept != i) {
      pending[kept] = m;
      HeldLedger::Erase(pending + i, 1);
    }
    ++kept;
  }
  slot.pending_count = kept;
  if (stale > 0) {
    Bump(state_.counters[index].vhost_rx[0].drops[static_cast<size_t>(DropReason::kStaleZeroCopy)], stale);
  }
}

void VhostForwarder::SyncDropCounters(uint32_t index, Slot& slot) {
  DeviceCounters& counters = state_.counters[index];
  for (uint16_t q = 0; q < 2 * slot.queue_pairs; ++q) {
    const vhost::QueueStats* stats = driver_.GetQueueStats(slot.active_vid, q);
    if (stats == nullptr) continue;
    QueueCounters& qc = (q % 2 == 0) ? counters.vhost_rx[q / 2] : counters.vhost_tx[q / 2];
    for (size_t r = 0; r < vhost::kDropReasonCount; ++r) {
      Forward(stats->drops[r].Get(), slot.seen_drops[q][r],
              qc.drops[static_cast<size_t>(SharedDropReason(static_cast<vhost::DropReason>(r)))]);
    }
    if (q % 2 == 0) continue;
    ZeroCopyCounters& zc = counters.vhost_zero_copy[q / 2];
    auto& seen = slot.seen_zc[q / 2];
    Forward(stats->zero_copy.Get(), seen[0], zc.by_reference);
    for (size_t r = 0; r < vhost::kZeroCopyCopyReasonCount; ++r) {
      Forward(stats->zero_copy_copied[r].Get(), seen[1 + r], zc.copied[r]);
    }
  }
}

void VhostForwarder::FreeHeldFrames() {
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    FreePending(slots_[i]);
    (void)DrainToVm(i, slots_[i]);
  }
}

void VhostForwarder::Shutdown() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    FreePending(slots_[i]);
    state_.devices[i].vid.store(-1);
    state_.devices[i].state.store(static_cast<uint32_t>(DeviceState::kUnused));
  }
}

}  // namespace vswitch
