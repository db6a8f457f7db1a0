// The switching secondary's datapath: polls the port's RX queue(s) and every device's
// from_vm ring, learns source MACs into the primary's MAC table, routes each frame
// (routing.h), tags and untags (vlan_tag.h, tx_path.h), and is the only producer of the
// devices' to_vm rings and the only consumer of their from_vm rings. One thread.
#pragma once

#include <rte_gso.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "guest_mappings.h"
#include "held_ledger.h"
#include "mac_table.h"
#include "poll_pacer.h"
#include "port_dma.h"
#include "routing.h"
#include "state_layout.h"
#include "to_vm_batch.h"
#include "tx_path.h"

namespace vswitch {

class SwitchEngine final : public SleepHooks {
 public:
  static constexpr uint16_t kBurst = 32;

  SwitchEngine(SharedState& state, const SwitchingOptions& options);
  ~SwitchEngine();
  SwitchEngine(const SwitchEngine&) = delete;
  SwitchEngine& operator=(const SwitchEngine&) = delete;

  // Finds the primary's objects, reads the port's setup and takes over the learned table
  // a previous instance left. False with an operator-facing *error.
  [[nodiscard]] bool Init(std::string* error);
  // One round over the port and every device; returns the work done (0: idle).
  uint32_t Poll();
  // Full to_vm rings are waited on through `pacer` (PollPacer::WaitForPeer); without
  // one, a busy wait.
  void SetPacer(PollPacer* pacer) { pacer_ = pacer; }
  // The last Poll put frames on a to_vm ring (vswitch-vhost's doorbell is rung).
  [[nodiscard]] bool handed_off() const { return handed_off_; }
  // Sleeps on the port's RX queue fds (port_rx_wake.h) from now on when the primary has
  // them: added to `pacer`'s epoll, they end a sleep when a frame comes. Otherwise, or
  // when they cannot be had (logged), the port is looked at on a timer.
  void WakeOnPort(PollPacer& pacer);
  // SleepHooks: frames in a from_vm ring are work. A port with RX queue fds in the epoll
  // wakes us itself: the sleep is bounded by the heartbeat only. A port without is looked
  // at after 20 us of sleep, then after twice as long each time up to 1 ms.
  void Arm() override {}
  [[nodiscard]] bool HasWork() override;
  [[nodiscard]] uint64_t MaxSleepUs() override;
  void Disarm() override {}
  // Prints the --stats report when it is due.
  void MaybePrintStats(uint64_t now_ns);
  // Sends what is batched and frees what cannot be sent (at exit).
  void Shutdown();

 private:
  struct Device {
    rte_ring* to_vm = nullptr;
    rte_ring* from_vm = nullptr;
    bool configured = false;  // DeviceInfo::state != kUnused
    uint64_t connections = 0;
    int vid = -1;
    bool refusal_logged = false;
    bool oversize_logged = false;  // warned once per connection that it refuses big frames
    bool port_oversize_logged = false;  // warned once per connection: its frames exceed the port's MTU
    uint64_t next_full_log_ns = 0;  // ring-full warnings: at most one a second
    // Its storage is the device's list in the ledger (held_mbufs.h): a successor finds
    // the batch if we are killed.
    ToVmBatch<rte_mbuf*> batch;
    std::array<uint32_t, kToVmBatch> batch_len{};  // read after the ring took the mbufs
  };

  void CheckDevices();
  void Unregister(uint32_t d, const char* why);
  void DeviceLeft(uint32_t d);
  // Frees everything on device `d`'s from_vm ring (counted device_not_ready in its
  // switch_tx); returns how many.
  uint64_t DrainFromVm(uint32_t d);
  void Register(uint32_t d, MacKey mac);
  void AdoptLearnedTable();
  void VmdqMac(uint32_t d, MacKey mac, bool add);

  uint32_t PollPort();
  uint32_t PollDevice(uint32_t d);
  // Routes one frame of the burst (its slot stays in the ledger until this returns).
  void RouteFromPortOne(rte_mbuf* m);
  void RouteFromDeviceOne(uint32_t d, rte_mbuf* m);
  void DeliverCopies(rte_mbuf* m, uint64_t devices, bool keep_original);
  void ToDevice(uint32_t d, rte_mbuf* m);
  void FlushDevice(uint32_t d);
  void FlushBatches();
  void ToPort(uint32_t src_device, rte_mbuf* m);
  // `m` copied into the pool (and freed); nullptr, counted no_mbuf, when the pool is empty.
  [[nodiscard]] rte_mbuf* CopyToPool(rte_mbuf* m, QueueCounters& tx);
  void QueuePortTx(uint32_t src_device, rte_mbuf* m);
  void FlushPort();
  void DropFromDevice(uint32_t d, DropReason reason, rte_mbuf* m);
  // Counts the copies `r` left out for their size (Route::too_big, port_too_big).
  void CountTooBig(const Route& r, uint32_t src_device);
  // A frame from device `d` larger than the port carries: counted oversize in its switch_tx.
  void TooBigForPort(uint32_t d);
  // Tells vswitch-vhost whether, and under which frame size limit, it may deliver
  // guest-to-guest frames itself (state_layout.h DirectPolicy).
  void PublishDirectPolicy();

  SharedState& state_;
  SwitchingOptions options_;
  RetryPolicy retry_;
  rte_mempool* pool_ = nullptr;
  rte_hash* hash_ = nullptr;
  MacTable table_{nullptr};
  uint32_t max_devices_ = 0;
  uint16_t port_ = 0;
  uint16_t rx_queues_ = 1;
  uint32_t port_max_frame_ = 1514;  // untagged bytes toward the port (ConfigSnapshot)
  bool software_vm2vm_ = true;
  bool vmdq_ = false;
  PortAccess port_access_ = PortAccess::kDma;  // port_dma.h
  PortTxCaps tx_caps_;
  rte_gso_ctx gso_{};
  GuestMappings mappings_{state_};  // vswitch-vhost's guest memory (dequeue zero-copy)
  std::vector<Device> devices_;
  std::vector<DeviceView> views_;
  // What this process holds outside the rings, in shared memory (held_ledger.h): the burst
  // being routed, the port TX batch (port_tx_) and the devices' to_vm batches.
  HeldLedger held_;
  rte_mbuf** burst_ = nullptr;
  rte_mbuf** cur_slot_ = nullptr;  // the burst slot of the frame being routed
  rte_mbuf** port_tx_ = nullptr;
  std::array<uint32_t, kBurst> port_tx_src_{};
  std::array<uint32_t, kBurst> port_tx_len_{};
  uint16_t port_tx_count_ = 0;
  uint64_t next_stats_ns_ = 0;
  uint64_t now_ns_ = 0;
  bool handed_off_ = false;
  PollPacer* pacer_ = nullptr;
  uint64_t port_sleep_us_ = kFirstPortSleepUs;
  static constexpr uint64_t kFirstPortSleepUs = 20;
  static constexpr uint64_t kMaxPortSleepUs = 1000;
  // The port's RX queue fds (ours to close) and whether they are in the pacer's epoll.
  std::vector<int> port_fds_;
  bool port_wakes_ = false;
};

}  // namespace vswitch
