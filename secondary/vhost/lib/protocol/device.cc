#include "device.h"

#include <rte_arp.h>
#include <rte_ether.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <thread>

#include "vhost_log.h"
#include "mbuf_packet.h"
#include "net_dequeue.h"
#include "net_enqueue.h"
#include "net_header.h"

namespace vswitch::vhost {
namespace {

template <typename T>
T PayloadAs(const Message& msg) {
  T v;
  std::memcpy(&v, msg.payload, sizeof(T));
  return v;
}

void SetU64Reply(Reply& reply, uint64_t value) {
  reply.send = true;
  reply.size = sizeof(value);
  std::memcpy(reply.payload, &value, sizeof(value));
}

bool IsPowerOfTwo(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

Device::~Device() {
  if (open_) Close();
}

void Device::Open(const std::string& socket_path, uint64_t offered_features, const DeviceOps* ops,
                  KickWatcher* watcher) {
  socket_path_ = socket_path;
  offered_features_ = offered_features;
  ops_ = ops;
  watcher_ = watcher;
  open_ = true;
  for (auto& q : queues_) q.stats.Reset();
}

void Device::Close() {
  Stop();
  ResetState();
  open_ = false;
}

void Device::LockAll() {
  for (auto& q : queues_) q.mutex.lock();
}

void Device::UnlockAll() {
  for (auto it = queues_.rbegin(); it != queues_.rend(); ++it) it->mutex.unlock();
}

void Device::ResetState() {
  // Everything that pointed into guest memory goes first, then the memory.
  LockAll();
  for (auto& q : queues_) {
    if (q.kick_fd && watcher_ != nullptr) watcher_->UnwatchKick(q.kick_fd.get());
    q.ResetConfig();
  }
  GuestMemoryTable old;
  old.set_sharer(memory_.sharer());
  old.set_fault_owner(memory_.fault_owner());
  std::swap(old, memory_);
  log_.Reset();
  UnlockAll();
  features_ = 0;
  protocol_features_ = 0;
  features_set_ = false;
  mtu_ = 0;
  status_ = 0;
  rarp_pending_.store(false);
}

uint32_t Device::queue_pairs() const {
  uint32_t vrings = 0;
  for (uint32_t i = 0; i < kMaxVrings; ++i) {
    if (queues_[i].num != 0) vrings = i + 1;
  }
  return (vrings + 1) / 2;
}

bool Device::queue_enabled(uint16_t queue_id) const {
  return queue_id < kMaxVrings && queues_[queue_id].enabled;
}

bool Device::ReadyToRun() const {
  if (memory_.size() == 0 || !features_set_) return false;
  for (uint32_t i = 0; i < 2; ++i) {
    const Virtqueue& q = queues_[i];
    if (!q.ring.valid() || !q.call_set || !q.enabled) return false;
  }
  return true;
}

void Device::MaybeStart() {
  if (running_ || !ReadyToRun()) return;
  running_ = true;
  for (auto& q : queues_) {
    std::lock_guard lock(q.mutex);
    UpdateQueue(q);
  }
  Log(LogLevel::kInfo, "VHOST_CONFIG: (%d) device ready on %s, features 0x%llx, %u queue pair(s)",
      vid_, socket_path_.c_str(), static_cast<unsigned long long>(features_), queue_pairs());
  if (ops_ != nullptr && ops_->new_device && ops_->new_device(vid_) != 0) {
    Log(LogLevel::kWarning, "VHOST_CONFIG: (%d) new_device refused the device", vid_);
    running_ = false;
    for (auto& q : queues_) {
      std::lock_guard lock(q.mutex);
      UpdateQueue(q);
    }
  }
}

void Device::Stop() {
  if (!running_) return;
  running_ = false;
  // Wait for every burst to leave before telling the application.
  for (auto& q : queues_) {
    std::lock_guard lock(q.mutex);
    UpdateQueue(q);
  }
  Log(LogLevel::kInfo, "VHOST_CONFIG: (%d) device stopped on %s", vid_, socket_path_.c_str());
  if (ops_ != nullptr && ops_->destroy_device) ops_->destroy_device(vid_);
}

void Device::UpdateQueue(Virtqueue& q) {
  q.features = features_;
  q.net.header_size = NetHeaderSize(features_);
  q.net.mergeable = Has(features_, feature::kNetMrgRxbuf);
  DirtyLog* log = (Has(features_, feature::kLogAll) && log_.mapped()) ? &log_ : nullptr;
  q.net.log = log;
  q.ring.set_dirty_log(log);
  q.active = running_ && q.enabled && q.ring.valid();
}

std::optional<uint64_t> Device::UserToGuestPhys(uint64_t uva) const {
  for (uint32_t i = 0; i < memory_.size(); ++i) {
    const MemoryRegion& r = memory_.region(i);
    if (uva >= r.userspace_addr && uva - r.userspace_addr < r.memory_size) {
      return r.guest_phys_addr + (uva - r.userspace_addr);
    }
  }
  return std::nullopt;
}

bool Device::TranslatePackedRing(const Virtqueue& q, PackedRingLayout& layout) const {
  // 2.8 "Structure Size and Alignment": descriptor ring 16 * size bytes aligned 16, the
  // two event suppression structures 4 bytes aligned 4. vhost-user.rst: SET_VRING_ADDR's
  // avail address is the driver area, its used address the device area.
  const uint32_t n = q.num;
  auto* desc = TranslateUserContiguous(memory_, q.addr.desc_user_addr, PackedDescRingBytes(n));
  auto* driver = TranslateUserContiguous(memory_, q.addr.avail_user_addr, kPackedEventBytes);
  auto* device = TranslateUserContiguous(memory_, q.addr.used_user_addr, kPackedEventBytes);
  if (desc == nullptr || driver == nullptr || device == nullptr) return false;
  if (reinterpret_cast<uintptr_t>(desc) % 16 != 0 || reinterpret_cast<uintptr_t>(driver) % 4 != 0 ||
      reinterpret_cast<uintptr_t>(device) % 4 != 0) {
    return false;
  }
  layout.desc = reinterpret_cast<PackedDesc*>(desc);
  layout.driver_event = reinterpret_cast<PackedEvent*>(driver);
  layout.device_event = reinterpret_cast<PackedEvent*>(device);
  layout.size = n;
  // The device writes into the descriptor ring and the device area: the dirty log needs
  // their guest addresses (log_guest_addr names only one area).
  const auto desc_gpa = UserToGuestPhys(q.addr.desc_user_addr);
  const auto device_gpa = UserToGuestPhys(q.addr.used_user_addr);
  layout.desc_log_gpa = desc_gpa.value_or(0);
  layout.device_event_log_gpa = device_gpa.value_or(0);
  layout.log = (q.addr.flags & kVringAddrFlagLog) != 0 && desc_gpa && device_gpa;
  return true;
}

bool Device::Relocate(Virtqueue& q) {
  if (q.ring.packed()) {
    PackedRingLayout layout;
    if (q.num == 0 || !TranslatePackedRing(q, layout)) return false;
    q.ring.UpdatePacked(layout);
    return true;
  }
  RingLayout layout;
  if (q.num == 0 || !TranslateRing(q, layout)) return false;
  q.ring.UpdateSplit(layout);
  return true;
}

bool Device::TranslateRing(const Virtqueue& q, RingLayout& layout) const {
  const uint32_t n = q.num;
  auto* desc = TranslateUserContiguous(memory_, q.addr.desc_user_addr, DescTableBytes(n));
  auto* avail = TranslateUserContiguous(memory_, q.addr.avail_user_addr, AvailRingBytes(n));
  auto* used = TranslateUserContiguous(memory_, q.addr.used_user_addr, UsedRingBytes(n));
  if (desc == nullptr || avail == nullptr || used == nullptr) return false;
  // 2.6 "Virtqueue alignment": descriptor table 16, available ring 2, used ring 4.
  if (reinterpret_cast<uintptr_t>(desc) % 16 != 0 || reinterpret_cast<uintptr_t>(avail) % 2 != 0 ||
      reinterpret_cast<uintptr_t>(used) % 4 != 0) {
    return false;
  }
  layout.desc = reinterpret_cast<VirtqDesc*>(desc);
  layout.avail = reinterpret_cast<VirtqAvail*>(avail);
  layout.used = reinterpret_cast<VirtqUsed*>(used);
  layout.size = n;
  layout.used_log_gpa = q.addr.log_guest_addr;
  layout.log_used = (q.addr.flags & kVringAddrFlagLog) != 0;
  return true;
}

ProtocolError Device::TryStartRing(Virtqueue& q) {
  if (q.ring.valid() || q.num == 0 || !q.addr_set || !q.kick_set || memory_.size() == 0) {
    return ProtocolError::kNone;
  }
  RingOptions options;
  options.event_idx = Has(features_, feature::kRingEventIdx);
  options.indirect = Has(features_, feature::kRingIndirectDesc);
  options.guest_notify = q.guest_notify;
  if (Has(features_, feature::kRingPacked)) {
    PackedRingLayout layout;
    if (!TranslatePackedRing(q, layout)) return ProtocolError::kBadVringAddr;
    const PackedRingState state = DecodePackedBase(q.base);
    // vhost-user.rst: the base names a descriptor of the ring.
    if (state.avail.idx >= q.num) return ProtocolError::kBadVringBase;
    q.ring.InitPacked(layout, &memory_, state, options);
    // A front-end that never got a GET_VRING_BASE answer from the back-end before this
    // one (it was killed, or left) cannot know where the device stood: QEMU sends a stale
    // base, DPDK's virtio-user resets the ring and sends (0, wrap 1). The record left by
    // that back-end says, and PlanPackedResume checks it is this ring in that state
    // (packed_ring_record.h); a reset or new ring gets the front-end's base.
    if (PackedRingRecord* record = PackedRecord(q)) {
      const PackedRingIdentity identity = PackedIdentity(q);
      const PackedResumePlan plan = PlanPackedResume(*record, identity, layout.desc);
      if (plan.adopt) {
        if (plan.state != state || !plan.returning.empty()) {
          Log(LogLevel::kInfo,
              "VHOST_CONFIG: (%d) vring %u: resuming the packed ring where the previous back-end left it "
              "(avail %u wrap %d, used %u wrap %d; the front-end sent avail %u wrap %d), %zu chain(s) it held "
              "returned",
              vid_, static_cast<unsigned>(&q - queues_.data()), plan.state.avail.idx, plan.state.avail.wrap ? 1 : 0,
              plan.state.used.idx, plan.state.used.wrap ? 1 : 0, state.avail.idx, state.avail.wrap ? 1 : 0,
              plan.returning.size());
        }
      } else if (record->valid.load(std::memory_order_relaxed) == 1) {
        Log(LogLevel::kInfo, "VHOST_CONFIG: (%d) vring %u: packed ring starts at the front-end's base (%s)", vid_,
            static_cast<unsigned>(&q - queues_.data()), plan.why);
      }
      if (q.ring.AttachPackedRecord(record, identity, &plan) && q.call) q.call->Notify();
    }
  } else {
    RingLayout layout;
    if (!TranslateRing(q, layout)) return ProtocolError::kBadVringAddr;
    q.ring.InitSplit(layout, &memory_, static_cast<uint16_t>(q.base), options);
  }
  UpdateQueue(q);
  return ProtocolError::kNone;
}

PackedRingRecord* Device::PackedRecord(const Virtqueue& q) const {
  if (packed_records_ == nullptr || q.num > kPackedRecordMaxSize) return nullptr;
  return packed_records_->Find(socket_path_, static_cast<uint32_t>(&q - queues_.data()));
}

PackedRingIdentity Device::PackedIdentity(const Virtqueue& q) const {
  PackedRingIdentity id;
  id.desc_addr = q.addr.desc_user_addr;
  id.driver_addr = q.addr.avail_user_addr;
  id.device_addr = q.addr.used_user_addr;
  id.size = q.num;
  for (uint32_t i = 0; i < memory_.size(); ++i) {
    const MemoryRegion& r = memory_.region(i);
    if (id.desc_addr >= r.userspace_addr && id.desc_addr - r.userspace_addr < r.memory_size) {
      id.file_dev = memory_.file_dev(i);
      id.file_ino = memory_.file_ino(i);
    }
  }
  return id;
}

void Device::RelocateRings() {
  for (auto& q : queues_) {
    if (!q.ring.valid()) continue;
    if (!Relocate(q)) {
      // The ring is no longer in shared memory: stop it; a new SET_VRING_ADDR/KICK
      // starts it again.
      Log(LogLevel::kWarning, "VHOST_CONFIG: (%d) ring outside the new memory table, stopped", vid_);
      q.base = q.ring.base();
      q.StopZeroCopy();
      q.ring.Clear();
    }
    UpdateQueue(q);
  }
}

ProtocolError Device::SetFeatures(uint64_t features) {
  if ((features & ~offered_features_) != 0) {
    Log(LogLevel::kError, "VHOST_CONFIG: (%d) SET_FEATURES 0x%llx not offered (0x%llx)", vid_,
        static_cast<unsigned long long>(features), static_cast<unsigned long long>(offered_features_));
    return ProtocolError::kBadFeatures;
  }
  // vhost-user.rst "Migration": the front-end starts and stops dirty logging by setting
  // and clearing VHOST_F_LOG_ALL on a running device. Only the log follows that bit
  // (UpdateQueue below); a restart would tell the application the guest reconnected.
  // Any other change redefines the rings: stop first.
  const uint64_t changed = features ^ features_;
  if (running_ && (changed & ~Bit(feature::kLogAll)) != 0) Stop();
  if (running_ && changed != 0) {
    Log(LogLevel::kInfo, "VHOST_CONFIG: (%d) dirty logging %s (VHOST_F_LOG_ALL)", vid_,
        Has(features, feature::kLogAll) ? "started" : "stopped");
  }
  // The layout of every ring follows VIRTIO_F_RING_PACKED: a ring built for the other
  // one is set up again by the front-end's next SET_VRING_* (which it sends after
  // SET_FEATURES anyway).
  if (Has(changed, feature::kRingPacked)) {
    for (auto& q : queues_) {
      std::lock_guard lock(q.mutex);
      q.StopZeroCopy();
      q.ring.Clear();
      q.base = 0;
    }
  }
  features_ = features;
  features_set_ = true;
  for (auto& q : queues_) {
    std::lock_guard lock(q.mutex);
    UpdateQueue(q);
  }
  return ProtocolError::kNone;
}

ProtocolError Device::SetMemTable(const Message& msg, std::vector<UniqueFd>& fds) {
  const auto header = PayloadAs<MemoryTableHeader>(msg);
  // Map the whole new table before touching the old one: on any error nothing changes
  // and everything mapped so far is unmapped with `table`.
  GuestMemoryTable table;
  table.set_sharer(memory_.sharer());
  table.set_fault_owner(memory_.fault_owner());
  for (uint32_t i = 0; i < header.nregions; ++i) {
    MemoryRegion region;
    std::memcpy(&region, msg.payload + sizeof(MemoryTableHeader) + i * sizeof(MemoryRegion),
                sizeof(region));
    const ProtocolError e = table.Map(region, fds[i].get());
    if (e != ProtocolError::kNone) return e;
  }
  LockAll();
  std::swap(table, memory_);
  RelocateRings();
  UnlockAll();
  // `table` now holds the old mappings; no ring points into them any more.
  for (uint32_t i = 0; i < memory_.size(); ++i) {
    const MemoryRegion& r = memory_.region(i);
    Log(LogLevel::kInfo,
        "VHOST_CONFIG: (%d) region %u: gpa 0x%llx size 0x%llx uva 0x%llx off 0x%llx", vid_, i,
        static_cast<unsigned long long>(r.guest_phys_addr),
        static_cast<unsigned long long>(r.memory_size),
        static_cast<unsigned long long>(r.userspace_addr),
        static_cast<unsigned long long>(r.mmap_offset));
  }
  return ProtocolError::kNone;
}

ProtocolError Device::AddMemRegion(const Message& msg, std::vector<UniqueFd>& fds) {
  const auto single = PayloadAs<SingleMemoryRegion>(msg);
  LockAll();
  const ProtocolError e = memory_.Map(single.region, fds[0].get());
  if (e == ProtocolError::kNone) RelocateRings();
  UnlockAll();
  return e;
}

ProtocolError Device::RemMemRegion(const Message& msg) {
  const auto single = PayloadAs<SingleMemoryRegion>(msg);
  LockAll();
  // Unmapped under the locks: no burst runs, and RelocateRings moves every ring off
  // the region before any burst can run again.
  const bool removed = memory_.Remove(single.region);
  if (removed) RelocateRings();
  UnlockAll();
  return removed ? ProtocolError::kNone : ProtocolError::kUnknownRegion;
}

ProtocolError Device::SetLogBase(const Message& msg, std::vector<UniqueFd>& fds) {
  const auto desc = PayloadAs<LogDescription>(msg);
  DirtyLog fresh;
  const ProtocolError e = fresh.Map(fds[0].get(), desc.mmap_size, desc.mmap_offset);
  if (e != ProtocolError::kNone) return e;
  GuardOwner who = memory_.fault_owner();
  if (who.notify_fd >= 0 || who.owner != 0) {
    who.detail = kDirtyLogFaultDetail;
    fresh.Guard(who);
  }
  LockAll();
  log_.Swap(fresh);
  for (auto& q : queues_) UpdateQueue(q);
  UnlockAll();
  // Operators see a migration start here: from now on every write into guest memory is
  // also marked in this log.
  Log(LogLevel::kInfo, "VHOST_CONFIG: (%d) dirty log of %llu bytes set (live migration)", vid_,
      static_cast<unsigned long long>(desc.mmap_size));
  return ProtocolError::kNone;  // `fresh` unmaps the previous log
}

ProtocolError Device::SetVringAddr(Virtqueue& q, const VringAddr& addr) {
  std::lock_guard lock(q.mutex);
  q.addr = addr;
  q.addr_set = true;
  if (q.ring.valid()) {
    if (!Relocate(q)) return ProtocolError::kBadVringAddr;
    UpdateQueue(q);
    return ProtocolError::kNone;
  }
  return TryStartRing(q);
}

ProtocolError Device::SetVringKick(Virtqueue& q, uint64_t value, std::vector<UniqueFd>& fds) {
  std::lock_guard lock(q.mutex);
  if (q.kick_fd && watcher_ != nullptr) watcher_->UnwatchKick(q.kick_fd.get());
  q.kick_fd.Reset();
  if ((value & kVringNoFdFlag) == 0) {
    q.kick_fd = std::move(fds[0]);
    if (watcher_ != nullptr) watcher_->WatchKick(q.kick_fd.get());
  }
  q.kick_set = true;
  // vhost-user.rst "Ring states": without VHOST_USER_F_PROTOCOL_FEATURES a ring is
  // enabled as soon as it starts.
  if (!Has(features_, feature::kProtocolFeatures)) q.enabled = true;
  return TryStartRing(q);
}

void Device::SetVringCall(Virtqueue& q, uint64_t value, std::vector<UniqueFd>& fds) {
  std::lock_guard lock(q.mutex);
  if ((value & kVringNoFdFlag) == 0) {
    q.call = std::make_unique<EventFdNotifier>(std::move(fds[0]));
  } else {
    q.call.reset();
  }
  q.call_set = true;
}

void Device::Leave() {
  Stop();
  // One bound for the whole device: the queues' holders let go in parallel.
  const auto deadline = std::chrono::steady_clock::now() + kZeroCopyDrainBound;
  for (uint32_t i = 1; i < kMaxVrings; i += 2) DrainZeroCopy(queues_[i], deadline);
}

void Device::DrainZeroCopy(Virtqueue& q, std::chrono::steady_clock::time_point deadline) {
  // The base we reply with tells the front-end that every chain before it is done
  // (vhost-user.rst GET_VRING_BASE: in-flight requests are drained before the reply;
  // QEMU takes the base as its last_avail_idx). A chain still held has no used element
  // yet: replying without it loses the guest that buffer, and a front-end that resumes
  // from the used index (virtio-user reconnecting, SplitRing::Init) sends it again.
  auto put_used = [&q](uint16_t head) { q.ring.PutUsed(head, 0); };
  for (;;) {
    {
      std::lock_guard lock(q.mutex);
      if (!q.zc.enabled() || !q.ring.valid()) return;
      (void)q.zc.Reap(put_used);
      const bool done = q.zc.in_flight() == 0;
      const bool expired = std::chrono::steady_clock::now() >= deadline;
      uint32_t held = 0;
      if (done || expired) held = q.zc.StopReturningHeld(put_used);
      if (q.ring.PublishUsed() && q.call) {
        q.call->Notify();
        q.stats.notifications.Add(1);
      }
      if (held > 0) {
        q.stats.zero_copy_returned_held.Add(held);
        Log(LogLevel::kWarning,
            "VHOST_DATA: (%d) ring stopped with %u zero-copy buffer(s) still held after %lld ms: "
            "returned to the guest, their frames revoked (freed unread where vswitch-vhost holds them)",
            vid_, held, static_cast<long long>(kZeroCopyDrainBound.count()));
      }
      if (done || expired) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

uint32_t Device::GetVringBase(uint32_t index) {
  // vhost-user.rst "Ring states": GET_VRING_BASE stops the ring. The application hears
  // of it first (DPDK does the same), then the ring is torn down.
  Stop();
  Virtqueue& q = queues_[index];
  DrainZeroCopy(q, std::chrono::steady_clock::now() + kZeroCopyDrainBound);
  std::lock_guard lock(q.mutex);
  const uint32_t base = q.ring.valid() ? q.ring.base() : q.base;
  q.base = base;
  // The front-end holds the ring's state now, and sends it back with SET_VRING_BASE
  // (QEMU) or resets the ring (DPDK's virtio-user, which also asks a back-end it has just
  // reconnected to, before it sets anything up): the record must not override it.
  if (PackedRingRecord* record = PackedRecord(q)) record->valid.store(0, std::memory_order_release);
  if (q.kick_fd && watcher_ != nullptr) watcher_->UnwatchKick(q.kick_fd.get());
  q.kick_fd.Reset();
  q.kick_set = false;
  q.StopZeroCopy();
  q.ring.Clear();
  UpdateQueue(q);
  return base;
}

void Device::SetVringEnable(uint32_t index, bool enable) {
  Virtqueue& q = queues_[index];
  {
    std::lock_guard lock(q.mutex);
    q.enabled = enable;
    UpdateQueue(q);
  }
  Log(LogLevel::kInfo, "VHOST_CONFIG: (%d) vring %u %s", vid_, index, enable ? "enabled" : "disabled");
  if (running_ && ops_ != nullptr && ops_->vring_state_changed) {
    ops_->vring_state_changed(vid_, static_cast<uint16_t>(index), enable ? 1 : 0);
  }
}

ProtocolError Device::Handle(const Message& msg, const ValidatedMessage& validated,
                             std::vector<UniqueFd>& fds, Reply& reply) {
  reply = Reply{};
  const uint32_t index = validated.vring_index.value_or(0);
  ProtocolError error = ProtocolError::kNone;
  switch (msg.request()) {
    case Request::kGetFeatures:
      SetU64Reply(reply, offered_features_);
      break;
    case Request::kSetFeatures:
      error = SetFeatures(PayloadAs<uint64_t>(msg));
      break;
    case Request::kSetOwner:
      break;
    case Request::kResetOwner:
      // Deprecated; vhost-user.rst recommends "use it to disable all rings".
      Stop();
      ResetState();
      break;
    case Request::kGetProtocolFeatures:
      SetU64Reply(reply, kSupportedProtocolFeatures);
      break;
    case Request::kSetProtocolFeatures: {
      const uint64_t value = PayloadAs<uint64_t>(msg);
      if ((value & ~kSupportedProtocolFeatures) != 0) {
        error = ProtocolError::kBadFeatures;
        break;
      }
      protocol_features_ = value;
      break;
    }
    case Request::kSetMemTable:
      error = SetMemTable(msg, fds);
      break;
    case Request::kGetMaxMemSlots:
      SetU64Reply(reply, kMaxMemSlots);
      break;
    case Request::kAddMemReg:
      error = AddMemRegion(msg, fds);
      break;
    case Request::kRemMemReg:
      error = RemMemRegion(msg);
      break;
    case Request::kSetLogBase:
      error = SetLogBase(msg, fds);
      // vhost-user.rst "Communication": replied to (u64 0) with LOG_SHMFD.
      if (error == ProtocolError::kNone) SetU64Reply(reply, 0);
      break;
    case Request::kSetLogFd:
      break;  // the fd is closed by the caller: we never signal log changes
    case Request::kSetVringNum: {
      const auto state = PayloadAs<VringState>(msg);
      // 2.7 (split): a power of two; 2.8 (packed): any size up to 32768.
      const bool packed = Has(features_, feature::kRingPacked);
      if (state.num == 0 || state.num > kMaxQueueSize || (!packed && !IsPowerOfTwo(state.num))) {
        error = ProtocolError::kBadVringNum;
        break;
      }
      Virtqueue& q = queues_[index];
      std::lock_guard lock(q.mutex);
      if (q.num != state.num && q.ring.valid()) {
        q.base = q.ring.base();
        q.StopZeroCopy();
        q.ring.Clear();
      }
      q.num = state.num;
      error = TryStartRing(q);
      break;
    }
    case Request::kSetVringAddr:
      error = SetVringAddr(queues_[index], PayloadAs<VringAddr>(msg));
      break;
    case Request::kSetVringBase: {
      const auto state = PayloadAs<VringState>(msg);
      // Split: a 16-bit avail index. Packed: index and wrap counter in bits 0-15, the
      // used index and wrap counter in 16-31 (vhost-user.rst).
      if (state.num > 0xffff && !Has(features_, feature::kRingPacked)) {
        error = ProtocolError::kBadVringBase;
        break;
      }
      Virtqueue& q = queues_[index];
      std::lock_guard lock(q.mutex);
      q.base = state.num;
      q.StopZeroCopy();
      q.ring.Clear();
      error = TryStartRing(q);
      break;
    }
    case Request::kGetVringBase: {
      VringState state{index, GetVringBase(index)};
      reply.send = true;
      reply.size = sizeof(state);
      std::memcpy(reply.payload, &state, sizeof(state));
      break;
    }
    case Request::kSetVringKick:
      error = SetVringKick(queues_[index], PayloadAs<uint64_t>(msg), fds);
      break;
    case Request::kSetVringCall:
      SetVringCall(queues_[index], PayloadAs<uint64_t>(msg), fds);
      break;
    case Request::kSetVringErr:
      break;  // the error fd is closed by the caller: errors close the connection instead
    case Request::kGetQueueNum:
      SetU64Reply(reply, kMaxQueuePairs);
      break;
    case Request::kSetVringEnable: {
      const auto state = PayloadAs<VringState>(msg);
      if (state.num > 1) {
        error = ProtocolError::kBadValue;
        break;
      }
      SetVringEnable(index, state.num == 1);
      break;
    }
    case Request::kSendRarp:
      std::memcpy(rarp_mac_, msg.payload, sizeof(rarp_mac_));
      rarp_pending_.store(true, std::memory_order_release);
      break;
    case Request::kNetSetMtu: {
      const uint64_t mtu = PayloadAs<uint64_t>(msg);
      if (mtu < RTE_ETHER_MIN_MTU || mtu > 65535) {
        error = ProtocolError::kBadValue;
        break;
      }
      mtu_ = static_cast<uint16_t>(mtu);
      break;
    }
    case Request::kSetStatus: {
      const uint64_t status = PayloadAs<uint64_t>(msg);
      if (status > 0xff) {
        error = ProtocolError::kBadValue;
        break;
      }
      status_ = static_cast<uint8_t>(status);
      break;
    }
    case Request::kGetStatus:
      SetU64Reply(reply, status_);
      break;
    default:
      // ValidateMessage only passes requests in the table, all handled above.
      error = ProtocolError::kUnknownRequest;
      break;
  }
  if (error == ProtocolError::kNone) MaybeStart();
  return error;
}

uint16_t Device::EnqueueBurst(uint16_t queue_id, rte_mbuf** pkts, uint16_t count) {
  if (queue_id >= kMaxVrings || (queue_id & 1) != 0) return 0;
  Virtqueue& q = queues_[queue_id];
  std::unique_lock lock(q.mutex, std::try_to_lock);
  if (!lock.owns_lock() || !q.active) return 0;
  uint16_t available = q.ring.Available(q.stats);
  q.ring.Prefetch(std::min(available, count));
  // Bursts of up to 32 packets: walk all their chains, then copy (EnqueuePackets).
  constexpr uint16_t kChunk = 32;
  uint16_t taken = 0;
  while (taken < count && available > 0 && !q.ring.broken()) {
    std::optional<MbufSource> storage[kChunk];
    MbufSource* sources[kChunk];
    uint16_t index[kChunk];  // sources[i] is pkts[index[i]]
    uint32_t n = 0;
    uint16_t next = taken;
    for (; next < count && n < kChunk; ++next) {
      VirtioNetHdr hdr;
      if (!HeaderFromMbuf(pkts[next], q.features, hdr)) {
        // Dropped before it needs a buffer; consumed like a delivered one.
        if (n == 0) {
          q.stats.Drop(DropReason::kOffloadNotNegotiated);
          taken = static_cast<uint16_t>(next + 1);
          continue;
        }
        break;  // after the packets before it are placed
      }
      sources[n] = &storage[n].emplace(pkts[next], hdr);
      index[n++] = next;
    }
    if (n == 0) continue;
    EnqueueStatus status[kChunk];
    const uint32_t done = q.ring.Visit([&](auto& ring) {
      return EnqueuePacketsOf(ring, q.net, sources, n, available, q.stats, q.scratch, status);
    });
    if (done == 0) break;
    taken = static_cast<uint16_t>(index[done - 1] + 1);
    if (done < n) break;  // the guest has no room for the rest
  }
  if (q.ring.PublishUsed() && q.call) {
    q.call->Notify();
    q.stats.notifications.Add(1);
  }
  return taken;
}

rte_mbuf* Device::MakeRarp(rte_mempool* pool) {
  // A RARP "reverse request" broadcast from the guest's MAC, so switches relearn where
  // the guest is after migration (SEND_RARP).
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  if (m == nullptr) return nullptr;
  constexpr uint16_t kLen = RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN;  // 60
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kLen));
  if (p == nullptr) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  std::memset(p, 0, kLen);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
  std::memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
  std::memcpy(&eth->src_addr, rarp_mac_, RTE_ETHER_ADDR_LEN);
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_RARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
  arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = RTE_ETHER_ADDR_LEN;
  arp->arp_plen = 4;
  arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REVREQUEST);
  std::memcpy(&arp->arp_data.arp_sha, rarp_mac_, RTE_ETHER_ADDR_LEN);
  std::memcpy(&arp->arp_data.arp_tha, rarp_mac_, RTE_ETHER_ADDR_LEN);
  return m;
}

uint16_t Device::DequeueBurst(uint16_t queue_id, rte_mempool* pool, rte_mbuf** pkts,
                              uint16_t count, rte_mbuf** spare_slots) {
  if (queue_id >= kMaxVrings || (queue_id & 1) == 0 || count == 0) return 0;
  Virtqueue& q = queues_[queue_id];
  std::unique_lock lock(q.mutex, std::try_to_lock);
  if (!lock.owns_lock()) return 0;
  if (!q.active) {
    (void)q.zc.ReapOrphans();
    return 0;
  }
  uint16_t n = 0;
  if (rarp_pending_.load(std::memory_order_acquire) && rarp_pending_.exchange(false)) {
    if (rte_mbuf* rarp = MakeRarp(pool)) pkts[n++] = rarp;
  }
  MbufSink sink(pool, pkts + n, count - n, spare_slots);
  if (dequeue_zero_copy_) {
    if (!q.zc.enabled()) (void)q.zc.Enable(q.ring.size());
    // Chains whose zero-copy mbufs were freed since the last burst go back now.
    (void)q.zc.Reap([&q](uint16_t head) { q.ring.PutUsed(head, 0); });
    sink.EnableZeroCopy(&q.zc, &memory_, &q.stats);
  }
  (void)q.ring.Visit([&](auto& ring) {
    return DequeuePacketsOf(ring, q.net, sink, count - n, q.stats, q.scratch);
  });
  n = static_cast<uint16_t>(n + sink.count());
  if (q.ring.PublishUsed() && q.call) {
    q.call->Notify();
    q.stats.notifications.Add(1);
  }
  return n;
}

uint32_t Device::ReapZeroCopyOrphans() {
  uint32_t n = 0;
  for (auto& q : queues_) {
    std::unique_lock lock(q.mutex, std::try_to_lock);
    if (lock.owns_lock()) n += q.zc.ReapOrphans();
  }
  return n;
}

uint16_t Device::AvailEntries(uint16_t queue_id) {
  if (queue_id >= kMaxVrings) return 0;
  Virtqueue& q = queues_[queue_id];
  std::unique_lock lock(q.mutex, std::try_to_lock);
  if (!lock.owns_lock() || !q.active) return 0;
  return q.ring.Available(q.stats);
}

uint32_t Device::ZeroCopyInFlight() {
  uint32_t n = 0;
  for (uint16_t i = 1; i < kMaxVrings; i += 2) {
    Virtqueue& q = queues_[i];
    std::unique_lock lock(q.mutex, std::try_to_lock);
    if (lock.owns_lock() && q.zc.enabled()) n += q.zc.in_flight();
  }
  return n;
}

bool Device::EnableGuestNotification(uint16_t queue_id, bool enable) {
  if (queue_id >= kMaxVrings) return false;
  Virtqueue& q = queues_[queue_id];
  std::lock_guard lock(q.mutex);
  q.guest_notify = enable;
  if (q.ring.valid()) q.ring.SetGuestNotify(enable);
  return true;
}

}  // namespace vswitch::vhost
