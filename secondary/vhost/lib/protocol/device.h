// One vhost-user device (one connection): feature negotiation, the memory table, vring
// setup and the lifecycle callbacks, driven by validated messages; plus the datapath
// entry points for its virtqueues. It does no socket I/O: the Driver reads messages,
// validates them against the message table, hands them here and sends the reply.
//
// Threads. Handle(), Open() and Close() run on the session thread under the Driver's
// control mutex. EnqueueBurst/DequeueBurst run on datapath threads and touch only
// per-virtqueue state under the virtqueue's mutex (see virtqueue.h). Whatever changes a
// ring, the memory table, the dirty log or the features takes the affected virtqueue
// mutexes first (all of them, in index order, for memory), so a burst never uses a
// mapping that is being replaced, and a region is unmapped only after every queue has
// been pointed away from it.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dirty_log.h"
#include "feature_bits.h"
#include "guest_memory.h"
#include "message.h"
#include "message_table.h"
#include "protocol_error.h"
#include "queue_stats.h"
#include "unique_fd.h"
#include "virtqueue.h"

namespace vswitch::vhost {

// DPDK 16.11 struct virtio_net_device_ops.
struct DeviceOps {
  // The device is ready: queue pair 0 is set up and enabled. Non-zero refuses it.
  std::function<int(int vid)> new_device;
  // The device stopped (ring stopped, reset, or connection closed). After this returns
  // the datapath returns 0 for this vid until the next new_device.
  std::function<void(int vid)> destroy_device;
  // SET_VRING_ENABLE on a running device.
  std::function<int(int vid, uint16_t queue_id, int enable)> vring_state_changed;
  // Not in DPDK: a front-end connected to a server socket that already has a live
  // connection, and was closed at once (Driver::Accept). Optional.
  std::function<void(const std::string& socket_path)> connection_refused;
  // Not in DPDK: the front-end on `socket_path` shrank a guest memory file under the
  // back-end (SIGBUS caught, guest_fault_guard.h); its connection is being closed.
  // Optional.
  std::function<void(const std::string& socket_path)> memory_fault;
};

// How a device asks the session loop to watch (and drain) its kick eventfds.
class KickWatcher {
 public:
  virtual ~KickWatcher() = default;
  virtual void WatchKick(int fd) = 0;
  virtual void UnwatchKick(int fd) = 0;
};

struct Reply {
  bool send = false;
  uint32_t size = 0;
  alignas(8) uint8_t payload[sizeof(VringState) > 8 ? sizeof(VringState) : 8]{};
};

class Device {
 public:
  explicit Device(int vid) : vid_(vid) {}
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  ~Device();

  // A new connection on `socket_path` will configure this device.
  void Open(const std::string& socket_path, uint64_t offered_features, const DeviceOps* ops,
            KickWatcher* watcher);
  // DPDK 16.11 RTE_VHOST_USER_DEQUEUE_ZERO_COPY for this connection (zero_copy.h).
  void set_dequeue_zero_copy(bool on) { dequeue_zero_copy_ = on; }
  // Guest memory mapped from now on is published through `sharer` (guest_mapping.h).
  void set_mapping_sharer(MappingSharer* sharer) { memory_.set_sharer(sharer); }
  // Packed rings of this connection keep their device position in `records` (which
  // outlive the process) and resume from it when it is theirs (packed_ring_record.h).
  void set_packed_records(PackedRingRecords* records) { packed_records_ = records; }
  // Guest memory mapped from now on is guarded against SIGBUS for `owner`
  // (guest_fault_guard.h); kept after Close, so a late fault still names this device.
  void set_fault_owner(const GuardOwner& owner) { memory_.set_fault_owner(owner); }
  [[nodiscard]] const GuardOwner& fault_owner() const { return memory_.fault_owner(); }
  // Releases zero-copy buffers orphaned by stopped rings once they are freed (queues busy
  // in a burst are skipped: the burst reaps them). Returns how many.
  uint32_t ReapZeroCopyOrphans();
  // The connection is gone: stop (destroy_device if running), wait for the datapath to
  // leave every queue, close every fd, unmap every region.
  void Close();
  // This back-end leaves a live front-end (the socket is unregistered; a client-mode
  // front-end resumes with the next instance from the used index): stop, then give the
  // guest back every zero-copy chain (DrainZeroCopy) before Close.
  void Leave();
  // How long a stopping ring waits for zero-copy buffers its consumers still hold.
  static constexpr std::chrono::milliseconds kZeroCopyDrainBound{1000};

  // Handles a message that passed ValidateMessage. Consumes the fds it keeps; the
  // caller closes the rest. A returned error means: close the connection.
  [[nodiscard]] ProtocolError Handle(const Message& msg, const ValidatedMessage& validated,
                                     std::vector<UniqueFd>& fds, Reply& reply);

  [[nodiscard]] int vid() const { return vid_; }
  [[nodiscard]] bool open() const { return open_; }
  [[nodiscard]] bool running() const { return running_; }
  [[nodiscard]] uint64_t features() const { return features_; }
  [[nodiscard]] uint64_t protocol_features() const { return protocol_features_; }
  [[nodiscard]] const std::string& socket_path() const { return socket_path_; }
  [[nodiscard]] uint16_t mtu() const { return mtu_; }
  [[nodiscard]] uint8_t status() const { return status_; }
  // Queue pairs the front-end configured (DPDK rte_vhost_get_queue_num), and whether a
  // vring is enabled (SET_VRING_ENABLE). Both read atomics only: any thread, no lock.
  [[nodiscard]] uint32_t queue_pairs() const;
  [[nodiscard]] bool queue_enabled(uint16_t queue_id) const;
  [[nodiscard]] const GuestMemoryTable& memory() const { return memory_; }
  [[nodiscard]] const QueueStats& stats(uint16_t queue_id) const { return queues_[queue_id].stats; }

  // Datapath. queue_id even: guest RX (host to guest); odd: guest TX (guest to host).
  // Copies; the caller keeps ownership of the mbufs it passes to EnqueueBurst.
  [[nodiscard]] uint16_t EnqueueBurst(uint16_t queue_id, rte_mbuf** pkts, uint16_t count);
  [[nodiscard]] uint16_t DequeueBurst(uint16_t queue_id, rte_mempool* pool, rte_mbuf** pkts,
                                      uint16_t count, rte_mbuf** spare_slots = nullptr);
  // Free entries the guest offered on a queue (DPDK rte_vhost_avail_entries).
  [[nodiscard]] uint16_t AvailEntries(uint16_t queue_id);
  // Ask the guest to kick (true) or to let us poll (false, the default).
  [[nodiscard]] bool EnableGuestNotification(uint16_t queue_id, bool enable);
  // Zero-copy buffers of the guest TX queues held now (a queue being reconfigured counts
  // as none: its buffers become orphans).
  [[nodiscard]] uint32_t ZeroCopyInFlight();

 private:
  [[nodiscard]] ProtocolError SetFeatures(uint64_t features);
  [[nodiscard]] ProtocolError SetMemTable(const Message& msg, std::vector<UniqueFd>& fds);
  [[nodiscard]] ProtocolError AddMemRegion(const Message& msg, std::vector<UniqueFd>& fds);
  [[nodiscard]] ProtocolError RemMemRegion(const Message& msg);
  [[nodiscard]] ProtocolError SetLogBase(const Message& msg, std::vector<UniqueFd>& fds);
  [[nodiscard]] ProtocolError SetVringAddr(Virtqueue& q, const VringAddr& addr);
  [[nodiscard]] ProtocolError SetVringKick(Virtqueue& q, uint64_t value, std::vector<UniqueFd>& fds);
  void SetVringCall(Virtqueue& q, uint64_t value, std::vector<UniqueFd>& fds);
  [[nodiscard]] uint32_t GetVringBase(uint32_t index);
  // A stopped ring whose front-end resumes from its base (see zero_copy.h): waits, until
  // `deadline` at most, for its zero-copy buffers to be freed, writing each used element
  // as it is; then returns the ones still held anyway. Never holds q.mutex while it
  // sleeps (EnableGuestNotification is the one datapath call that waits for it).
  void DrainZeroCopy(Virtqueue& q, std::chrono::steady_clock::time_point deadline);
  void SetVringEnable(uint32_t index, bool enable);

  // Translates q's ring addresses in the current memory table. Caller holds q.mutex.
  [[nodiscard]] bool TranslateRing(const Virtqueue& q, RingLayout& layout) const;
  [[nodiscard]] bool TranslatePackedRing(const Virtqueue& q, PackedRingLayout& layout) const;
  // Points a started ring at the current memory table (same layout); false when its
  // parts are no longer in shared memory.
  [[nodiscard]] bool Relocate(Virtqueue& q);
  // The guest-physical address of a front-end user address (the dirty log is by GPA).
  [[nodiscard]] std::optional<uint64_t> UserToGuestPhys(uint64_t uva) const;
  // Starts q's ring when it has num, addr, kick and memory. Caller holds q.mutex.
  [[nodiscard]] ProtocolError TryStartRing(Virtqueue& q);
  // The record of q's packed ring, nullptr when none is kept.
  [[nodiscard]] PackedRingRecord* PackedRecord(const Virtqueue& q) const;
  [[nodiscard]] PackedRingIdentity PackedIdentity(const Virtqueue& q) const;
  // Re-points started rings after a memory table change. Caller holds all mutexes.
  void RelocateRings();
  // Recomputes q's datapath view (active flag, header size, log). Caller holds q.mutex.
  void UpdateQueue(Virtqueue& q);
  void LockAll();
  void UnlockAll();
  // new_device when queue pair 0 is ready.
  void MaybeStart();
  // destroy_device when running.
  void Stop();
  [[nodiscard]] bool ReadyToRun() const;
  void ResetState();
  [[nodiscard]] rte_mbuf* MakeRarp(rte_mempool* pool);

  const int vid_;
  std::atomic<bool> open_{false};  // read by the Driver's lock-free getters
  bool running_ = false;
  bool dequeue_zero_copy_ = false;
  std::string socket_path_;
  const DeviceOps* ops_ = nullptr;
  KickWatcher* watcher_ = nullptr;
  uint64_t offered_features_ = 0;
  uint64_t features_ = 0;
  uint64_t protocol_features_ = 0;
  bool features_set_ = false;
  uint16_t mtu_ = 0;
  uint8_t status_ = 0;
  GuestMemoryTable memory_;
  PackedRingRecords* packed_records_ = nullptr;
  DirtyLog log_;
  std::atomic<bool> rarp_pending_{false};
  uint8_t rarp_mac_[6]{};
  std::array<Virtqueue, kMaxVrings> queues_;
};

}  // namespace vswitch::vhost
