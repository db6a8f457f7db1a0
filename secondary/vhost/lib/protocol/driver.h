// The vhost-user driver: registered socket paths (server or client mode, reconnect), the
// session thread that accepts, connects, reads and answers messages, and the public
// per-device API (DPDK 16.11's rte_vhost_* one to one, see docs/vhost-api.md).
//
// Threads. Register/Unregister/feature calls and every getter may be called from any
// thread; they and the session thread serialise on one control mutex, except
// GetQueueNum, IsQueueEnabled and GetQueueStats, which read atomics and take no lock:
// those are the ones a datapath thread may call. The session thread never waits on a
// front-end while it holds the mutex: a reply the socket cannot take now waits in the
// connection's outbox, and the connection is not read again until the front-end has
// taken it (the front-end's own requests then back up in its socket). The callbacks
// (DeviceOps) run on the session thread with that mutex held: they may call the getters
// but must not call Register/Unregister/SessionStop. EnqueueBurst/DequeueBurst may run
// on any number of datapath threads (one per queue at a time); they never take the
// control mutex (see device.h and virtqueue.h for the locking rule).
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "device.h"
#include "feature_bits.h"
#include "protocol_error.h"
#include "socket_channel.h"
#include "unique_fd.h"

namespace vswitch::vhost {

// DPDK 16.11 RTE_VHOST_USER_* register flags (same bit values).
inline constexpr uint64_t kRegisterClient = 1ull << 0;
inline constexpr uint64_t kRegisterNoReconnect = 1ull << 1;
inline constexpr uint64_t kRegisterDequeueZeroCopy = 1ull << 2;

inline constexpr int kMaxDevices = 1024;

// Server-mode socket file ownership.
struct SocketOptions {
  mode_t mode = 0660;
  std::optional<uid_t> owner;
  std::optional<gid_t> group;
};

class Driver final : private KickWatcher {
 public:
  Driver();
  ~Driver() override;
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // rte_vhost_driver_register. Server mode: creates the socket (a stale socket file
  // nobody listens on is replaced; a live one is refused). Client mode: connects now,
  // and unless kRegisterNoReconnect retries every second until the front-end is there
  // and after it goes away; with kRegisterNoReconnect a failed first connect fails.
  // Returns 0, or -1 with `error` set.
  [[nodiscard]] int Register(const std::string& path, uint64_t flags,
                             const SocketOptions& options = {}, std::string* error = nullptr);
  // rte_vhost_driver_unregister: closes its connections (destroy_device for running
  // devices) and removes the socket file it created. -1 when not registered.
  [[nodiscard]] int Unregister(const std::string& path);
  // Dequeue zero-copy across processes: guest memory of connections made from now on is
  // published through `sharer`, which must outlive the driver. Call before Register.
  void SetMappingSharer(MappingSharer* sharer) { sharer_ = sharer; }
  // Packed rings of connections made from now on record their device position in
  // `records` (packed_ring_record.h), which must outlive the driver, and a ring started
  // again resumes from it when the record is its own. Call before Register.
  void SetPackedRingRecords(PackedRingRecords* records) { packed_records_ = records; }
  // Releases orphaned zero-copy buffers (zero_copy.h) of every device, open or not, whose
  // mbufs were freed. Any thread; cheap when there are none.
  uint32_t ReapZeroCopyOrphans();
  // rte_vhost_driver_callback_register. Call before SessionStart.
  void CallbackRegister(const DeviceOps& ops);
  // rte_vhost_driver_session_start, but in a dedicated thread: returns at once.
  [[nodiscard]] int SessionStart();
  // Stops the session thread (connections stay open; devices keep running).
  void SessionStop();

  // rte_vhost_feature_disable / _enable / _get: the features offered to connections
  // made from now on. -1 when the mask holds bits the library cannot offer or must keep.
  [[nodiscard]] int FeatureDisable(uint64_t mask);
  [[nodiscard]] int FeatureEnable(uint64_t mask);
  [[nodiscard]] uint64_t GetFeatures() const { return features_.load(); }

  // Per-device getters; -1 / false / empty when `vid` names no open device.
  [[nodiscard]] int GetNegotiatedFeatures(int vid, uint64_t* features) const;
  [[nodiscard]] int GetQueueNum(int vid) const;  // queue pairs configured; no lock
  [[nodiscard]] int GetIfname(int vid, std::string* path) const;
  [[nodiscard]] int GetMtu(int vid, uint16_t* mtu) const;
  [[nodiscard]] bool IsReady(int vid) const;
  [[nodiscard]] bool IsQueueEnabled(int vid, uint16_t queue_id) const;  // no lock
  // Counters of one virtqueue (valid for the driver's lifetime), nullptr for a bad id.
  [[nodiscard]] const QueueStats* GetQueueStats(int vid, uint16_t queue_id) const;

  // rte_vhost_enqueue_burst / rte_vhost_dequeue_burst / rte_vhost_avail_entries /
  // rte_vhost_enable_guest_notification.
  [[nodiscard]] uint16_t EnqueueBurst(int vid, uint16_t queue_id, rte_mbuf** pkts, uint16_t count);
  // `spare_slots` (optional, kDequeueSpareSlots null pointers): where the packet builder
  // keeps the mbufs it allocated and has not used yet, and `pkts[n]` names the packet it is
  // building, so that a process that dies inside the call leaves every mbuf it had taken
  // named in memory it chose (vswitch-vhost: the group's shared state, held_mbufs.h).
  // Both are left as they were found: the unused spares freed and their slots null.
  [[nodiscard]] uint16_t DequeueBurst(int vid, uint16_t queue_id, rte_mempool* pool,
                                      rte_mbuf** pkts, uint16_t count, rte_mbuf** spare_slots = nullptr);
  [[nodiscard]] uint16_t AvailEntries(int vid, uint16_t queue_id);
  [[nodiscard]] int EnableGuestNotification(int vid, uint16_t queue_id, int enable);
  // Zero-copy buffers of `vid`'s guest TX queues not yet returned to the guest.
  [[nodiscard]] uint32_t ZeroCopyInFlight(int vid);

  // Sleeping on guests' kicks (DPDK hands the kick eventfds to the application through
  // rte_vhost_get_vhost_vring; one epoll over all of them is easier to use). The epoll
  // below holds every kick eventfd of every device and becomes readable when a guest
  // kicked; a datapath thread that sleeps polls it (after EnableGuestNotification, 2.7.10)
  // and calls DrainKicks when it wakes. Kicks are not drained otherwise: a guest that kicks
  // while we poll leaves its eventfd readable, which costs one early wake-up, no more.
  [[nodiscard]] int kick_epoll_fd() const { return kick_epoll_fd_.get(); }
  // Reads every kick eventfd that is readable; returns how many were.
  uint32_t DrainKicks();

  // Connections closed for each reason since the driver started.
  [[nodiscard]] uint64_t ProtocolErrorCount(ProtocolError reason) const;
  // Connections currently open (all sockets).
  [[nodiscard]] size_t ConnectionCount() const;
  // Front-ends refused because their server socket already had a live connection.
  [[nodiscard]] uint64_t RefusedConnectionCount() const { return refused_.load(); }
  // Guest memory faults (a front-end shrank its memory file) caught in this driver's
  // mappings; each closed its connection.
  [[nodiscard]] uint64_t MemoryFaultCount() const { return memory_faults_.load(); }

 private:
  struct Socket;
  struct Connection;
  enum class Kind : uint8_t { kListen = 1, kConnection, kTimer, kWake, kFault };

  void WatchKick(int fd) override;
  void UnwatchKick(int fd) override;

  void Loop();
  void OnEvent(uint64_t token, uint32_t events);
  [[nodiscard]] bool AddToEpoll(int fd, Kind kind, uint64_t id);
  void Accept(Socket& socket);
  [[nodiscard]] bool TryConnect(Socket& socket);
  void AddConnection(Socket& socket, UniqueFd fd);
  void ReadConnection(uint64_t conn_id);
  // Queues `bytes` behind what the connection's outbox holds and sends what the socket
  // takes now, never waiting. False: the socket failed (close the connection).
  [[nodiscard]] bool Send(Connection& conn, std::vector<uint8_t> bytes);
  // Sends what the outbox holds; watches the socket for room (not for requests) while
  // some is left. False: the socket failed.
  [[nodiscard]] bool Flush(Connection& conn);
  [[nodiscard]] ProtocolError ProcessMessage(Connection& conn);
  void CloseConnection(uint64_t conn_id, ProtocolError reason);
  void ReconnectClients();
  // Closes the connections whose guest memory faulted (guest_fault_guard.h).
  void OnGuestFaults();
  [[nodiscard]] Device* DeviceFor(int vid) const;
  [[nodiscard]] Device* OpenDevice(int vid) const;

  mutable std::recursive_mutex mu_;
  UniqueFd epoll_fd_;
  UniqueFd kick_epoll_fd_;
  UniqueFd wake_fd_;
  UniqueFd timer_fd_;
  UniqueFd fault_fd_;          // written by the SIGBUS handler when our guest memory faults
  uint64_t faults_seen_ = 0;   // GuestFaultCount() handled so far
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> features_{kDefaultFeatures};
  DeviceOps ops_;
  MappingSharer* sharer_ = nullptr;
  PackedRingRecords* packed_records_ = nullptr;
  uint64_t next_id_ = 1;
  std::map<std::string, std::unique_ptr<Socket>> sockets_;
  std::map<uint64_t, Socket*> listen_ids_;
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::array<std::atomic<Device*>, kMaxDevices> devices_{};
  std::array<std::unique_ptr<Device>, kMaxDevices> device_storage_;
  std::array<std::atomic<uint64_t>, kProtocolErrorCount> errors_{};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> memory_faults_{0};
};

}  // namespace vswitch::vhost
