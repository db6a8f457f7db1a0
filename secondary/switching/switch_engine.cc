#include "switch_engine.h"

#include <rte_bus.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "clock.h"
#include "ethernet_frame.h"
#include "log.h"
#include "mac_learning.h"
#include "mbuf_frame.h"
#include "names.h"
#include "fd_handover.h"
#include "port_rx_wake.h"
#include "stats_text.h"
#include "vlan_tag.h"
#include "vmdq_mac_request.h"

namespace vswitch {
namespace {

constexpr unsigned kPortTxTries = 4;

size_t Idx(DropReason r) { return static_cast<size_t>(r); }

// Finishes the IPv4 header and TCP/UDP checksums the port cannot offload. The packet is
// one segment (linearised before).
void SoftwareChecksums(rte_mbuf* m, bool ip, bool l4) {
  if (m->nb_segs != 1 || m->l2_len == 0 || m->l3_len == 0) return;
  uint8_t* l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, m->l2_len);
  const uint64_t ol = m->ol_flags;
  const bool v4 = (ol & RTE_MBUF_F_TX_IPV4) != 0;
  if (v4 && ip) {
    auto* h = reinterpret_cast<rte_ipv4_hdr*>(l3);
    h->hdr_checksum = 0;
    h->hdr_checksum = rte_ipv4_cksum(h);
  }
  if (l4) {
    const uint64_t kind = ol & RTE_MBUF_F_TX_L4_MASK;
    const bool tcp = kind == RTE_MBUF_F_TX_TCP_CKSUM || (ol & RTE_MBUF_F_TX_TCP_SEG) != 0;
    const bool udp = kind == RTE_MBUF_F_TX_UDP_CKSUM || (ol & RTE_MBUF_F_TX_UDP_SEG) != 0;
    uint8_t* l4p = l3 + m->l3_len;
    size_t at = 0;
    if (tcp) at = offsetof(rte_tcp_hdr, cksum);
    if (udp) at = offsetof(rte_udp_hdr, dgram_cksum);
    if (tcp || udp) {
      uint16_t sum = 0;
      std::memcpy(l4p + at, &sum, sizeof(sum));
      if (v4) {
        sum = rte_ipv4_udptcp_cksum(reinterpret_cast<rte_ipv4_hdr*>(l3), l4p);
      } else if ((ol & RTE_MBUF_F_TX_IPV6) != 0) {
        sum = rte_ipv6_udptcp_cksum(reinterpret_cast<rte_ipv6_hdr*>(l3), l4p);
      }
      std::memcpy(l4p + at, &sum, sizeof(sum));
    }
  }
  m->ol_flags &= ~(RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_SEG |
                   RTE_MBUF_F_TX_UDP_SEG);
}

}  // namespace

SwitchEngine::SwitchEngine(SharedState& state, const SwitchingOptions& options)
    : state_(state), options_(options) {
  retry_.enabled = options.rx_retry != 0;
  retry_.num = options.rx_retry_num;
  retry_.delay_us = options.rx_retry_delay_us;
}

SwitchEngine::~SwitchEngine() {
  Shutdown();
  for (int fd : port_fds_) close(fd);
}

bool SwitchEngine::Init(std::string* error) {
  const ConfigSnapshot& c = state_.config;
  max_devices_ = std::min<uint32_t>(c.max_devices, kMaxDevices);
  pool_ = rte_mempool_lookup(kMbufPool);
  hash_ = MacTable::Find(kMacTable);
  if (pool_ == nullptr || hash_ == nullptr) {
    *error = "the primary's mbuf pool or MAC table is missing";
    return false;
  }
  table_ = MacTable(hash_);
  // The ledger was emptied and claimed at attach (role_held_recovery.h).
  held_ = HeldLedger(&state_.held[static_cast<size_t>(Role::kSwitching)]);
  burst_ = held_.list(held::kSwitchingBurst);
  port_tx_ = held_.list(held::kSwitchingPortTx);
  devices_.resize(max_devices_);
  views_.resize(max_devices_);
  for (uint32_t d = 0; d < max_devices_; ++d) {
    devices_[d].to_vm = rte_ring_lookup(ToVmRingName(d).c_str());
    devices_[d].from_vm = rte_ring_lookup(FromVmRingName(d).c_str());
    if (devices_[d].to_vm == nullptr || devices_[d].from_vm == nullptr) {
      *error = "the primary has no rings for device " + std::to_string(d);
      return false;
    }
    views_[d].vlan = VlanOfDevice(d);
    devices_[d].batch = ToVmBatch<rte_mbuf*>(held_.list(held::SwitchingToVm(d)));
  }
  port_ = c.port_id;
  if (!rte_eth_dev_is_valid_port(port_)) {
    *error = "the primary's port (ethdev " + std::to_string(port_) + ") is not visible here";
    return false;
  }
  rx_queues_ = std::max<uint16_t>(1, c.port_rx_queues);
  vmdq_ = c.vmdq_pools > 0;
  // The primary set the port's MTU ([primary] mtu) and published the frame size it carries.
  port_max_frame_ = c.port_max_frame;
  if (port_max_frame_ == 0) {
    uint16_t mtu = RTE_ETHER_MTU;
    if (rte_eth_dev_get_mtu(port_, &mtu) != 0) mtu = RTE_ETHER_MTU;
    port_max_frame_ = uint32_t{mtu} + RTE_ETHER_HDR_LEN;
  }
  rte_eth_conf conf{};
  if (int rc = rte_eth_dev_conf_get(port_, &conf); rc != 0) {
    *error = "cannot read the port's configuration: " + std::string(rte_strerror(-rc));
    return false;
  }
  tx_caps_ = PortTxCapsFrom(conf.txmode.offloads);
  // How the port reads frames decides whether zero-copy guest memory may reach it
  // (port_dma.h).
  rte_eth_dev_info dev_info{};
  if (rte_eth_dev_info_get(port_, &dev_info) == 0 && dev_info.device != nullptr) {
    const rte_bus* bus = rte_dev_bus(dev_info.device);
    port_access_ = PortAccessOfBus(bus == nullptr ? "" : rte_bus_name(bus));
  }
  if (port_access_ == PortAccess::kDma) {
    VSW_LOG(INFO, "port %u DMAs (not a vdev): zero-copy guest packets are copied before it "
            "transmits them (guest memory is not registered for DMA)", port_);
  }
  gso_.direct_pool = pool_;
  gso_.indirect_pool = pool_;
  gso_.gso_types = RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_UDP_TSO;
  gso_.flag = 0;

  // vm2vm 2 asks the port's VMDQ loopback to switch guest-to-guest frames; a port
  // without it gets the same behaviour from us.
  software_vm2vm_ = options_.vm2vm == 1 || (options_.vm2vm == 2 && !vmdq_);
  if (!vmdq_) {
    VSW_LOG(INFO, "port %u has no VMDQ: switching splits its frames per device in software "
            "(VLAN %u + device id, tags inserted %s)%s", port_, kVlanBase,
            tx_caps_.vlan_insert ? "by the port" : "in software",
            options_.vm2vm == 2 ? "; --vm2vm 2 loops guest-to-guest frames back in software" : "");
  } else {
    VSW_LOG(INFO, "port %u runs VMDQ with %u pools over %u RX queues; learned MACs go to "
            "their pools through the primary", port_, c.vmdq_pools, rx_queues_);
  }
  VSW_LOG(INFO, "vm2vm %u, rx-retry %u (%u x %u us), max frame toward the port %u bytes "
          "(MTU %u; toward a guest: %u bytes, or %u with mergeable/TSO/UFO buffers), port TX "
          "offloads: vlan-insert %d tso %d multi-segs %d", options_.vm2vm, options_.rx_retry,
          options_.rx_retry_num, options_.rx_retry_delay_us, port_max_frame_,
          port_max_frame_ - RTE_ETHER_HDR_LEN, kGuestSmallBufferFrame, kGuestBigBufferFrame,
          tx_caps_.vlan_insert,
          tx_caps_.tcp_tso, tx_caps_.multi_segs);
  AdoptLearnedTable();
  PublishDirectPolicy();
  // Zero-copy packets a previous instance left may be waiting in the from_vm rings: map
  // the guest memory they point into before reading any of them.
  mappings_.Sync(MonotonicNs());
  next_stats_ns_ = MonotonicNs() + uint64_t{options_.stats_s} * 1'000'000'000ull;
  return true;
}

void SwitchEngine::AdoptLearnedTable() {
  // A previous instance (killed or restarted) left its entries in the primary's table and
  // in DeviceL2: keep those whose guest is still the same connection.
  for (uint32_t d = 0; d < max_devices_; ++d) {
    const DeviceInfo& info = state_.devices[d];
    DeviceL2& l2 = state_.l2[d];
    devices_[d].connections = info.connections.load();
    devices_[d].vid = info.vid.load();
    views_[d].ready = info.state.load() == static_cast<uint32_t>(DeviceState::kReady);
    views_[d].max_frame = GuestMaxFrame(info.features.load());
    devices_[d].configured = info.state.load() != static_cast<uint32_t>(DeviceState::kUnused);
    if (l2.learned.load(std::memory_order_acquire) == 0) continue;
    const MacKey mac = l2.mac.load();
    const auto owner = table_.Lookup(mac);
    if (!views_[d].ready || l2.connection.load() != devices_[d].connections || owner != d) {
      Unregister(d, "its guest left while switching was down");
      continue;
    }
    views_[d].learned = true;
    views_[d].mac = mac;
    VSW_LOG(INFO, "device %u: kept mac %s and vlan %u from the table", d, MacToString(mac).c_str(),
            l2.vlan.load());
  }
  // Entries no device claims (an instance killed between the table and DeviceL2).
  const void* key = nullptr;
  void* data = nullptr;
  uint32_t next = 0;
  std::vector<MacKey> orphans;
  while (rte_hash_iterate(hash_, &key, &data, &next) >= 0) {
    const MacKey mac = *static_cast<const MacKey*>(key);
    const auto d = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data));
    if (d >= max_devices_ || !views_[d].learned || views_[d].mac != mac) orphans.push_back(mac);
  }
  for (MacKey mac : orphans) {
    (void)table_.Remove(mac);
    VSW_LOG(INFO, "removed mac %s from the table: no device owns it", MacToString(mac).c_str());
  }
}

void SwitchEngine::Register(uint32_t d, MacKey mac) {
  if (!table_.Add(mac, d)) {
    VSW_LOG(ERR, "device %u: the MAC table is full; mac %s not registered ([primary] "
            "mac-table-size)", d, MacToString(mac).c_str());
    return;
  }
  DeviceL2& l2 = state_.l2[d];
  l2.mac.store(mac);
  l2.vlan.store(VlanOfDevice(d));
  l2.connection.store(devices_[d].connections);
  l2.learned.store(1, std::memory_order_release);
  views_[d].learned = true;
  views_[d].mac = mac;
  VSW_LOG(INFO, "VHOST_DATA: (%d) mac %s and vlan %u registered", devices_[d].vid,
          MacToString(mac).c_str(), VlanOfDevice(d));
  if (vmdq_) VmdqMac(d, mac, true);
}

void SwitchEngine::Unregister(uint32_t d, const char* why) {
  DeviceL2& l2 = state_.l2[d];
  const MacKey mac = l2.mac.load();
  l2.learned.store(0, std::memory_order_release);
  if (table_.Lookup(mac) == d) (void)table_.Remove(mac);
  l2.mac.store(0);
  l2.vlan.store(0);
  l2.connection.store(0);
  views_[d].learned = false;
  views_[d].mac = 0;
  devices_[d].refusal_logged = false;
  VSW_LOG(INFO, "VHOST_DATA: (%d) mac %s and vlan %u unregistered: %s", devices_[d].vid,
          MacToString(mac).c_str(), VlanOfDevice(d), why);
  if (vmdq_) VmdqMac(d, mac, false);
}

void SwitchEngine::VmdqMac(uint32_t d, MacKey mac, bool add) {
  // Control path, once per guest: a synchronous request to the primary (see
  // vmdq_mac_request.h for why the secondary does not call the ethdev itself).
  VmdqMacRequest r;
  r.add = add;
  MacToBytes(mac, r.mac);
  r.pool = d;
  rte_mp_msg msg{};
  std::snprintf(msg.name, sizeof(msg.name), "%s", kVmdqMacAction);
  EncodeVmdqMacRequest(r, msg.param);
  msg.len_param = kVmdqMacRequestLen;
  struct rte_mp_reply reply{};
  const timespec ts{1, 0};
  int rc = rte_mp_request_sync(&msg, &reply, &ts);
  if (rc == 0 && reply.nb_received == 1 && reply.msgs[0].len_param == static_cast<int>(sizeof(int))) {
    std::memcpy(&rc, reply.msgs[0].param, sizeof(int));
  } else if (rc == 0) {
    rc = -ETIMEDOUT;
  } else {
    rc = -rte_errno;
  }
  std::free(reply.msgs);
  if (rc != 0) {
    VSW_LOG(WARNING, "device %u: the primary could not %s mac %s %s VMDQ pool %u: %s", d,
            add ? "add" : "remove", MacToString(mac).c_str(), add ? "to" : "from", d, rte_strerror(-rc));
  }
}

void SwitchEngine::DeviceLeft(uint32_t d) {
  // destroy_device: its from_vm ring is ours to drain; to_vm belongs to vhost (the only
  // consumer), so we only stop producing to it and drop our own batch.
  Device& dev = devices_[d];
  QueueCounters& rx = state_.counters[d].switch_rx;
  (void)DrainFromVm(d);
  if (!dev.batch.empty()) {
    Bump(rx.drops[Idx(DropReason::kDeviceNotReady)], dev.batch.size());
    HeldLedger::FreeAndErase(dev.batch.data(), dev.batch.size());
    dev.batch.Clear();
  }
}

uint64_t SwitchEngine::DrainFromVm(uint32_t d) {
  unsigned n;
  uint64_t drained = 0;
  while ((n = held_.Dequeue(held::kSwitchingBurst, kBurst, devices_[d].from_vm, HeldRingId(d, false))) > 0) {
    HeldLedger::FreeAndErase(burst_, n);
    drained += n;
  }
  if (drained) Bump(state_.counters[d].switch_tx.drops[Idx(DropReason::kDeviceNotReady)], drained);
  return drained;
}

void SwitchEngine::CheckDevices() {
  for (uint32_t d = 0; d < max_devices_; ++d) {
    const DeviceInfo& info = state_.devices[d];
    Device& dev = devices_[d];
    const uint32_t st = info.state.load(std::memory_order_acquire);
    const bool ready = st == static_cast<uint32_t>(DeviceState::kReady);
    const uint64_t conns = info.connections.load(std::memory_order_acquire);
    dev.configured = st != static_cast<uint32_t>(DeviceState::kUnused);
    const bool reconnected = conns != dev.connections;
    if ((views_[d].ready && !ready) || reconnected) {
      if (views_[d].learned) Unregister(d, ready ? "the guest reconnected" : "the device was destroyed");
      DeviceLeft(d);
    } else if (!ready && rte_ring_count(dev.from_vm) != 0 &&
               info.state.load(std::memory_order_acquire) != static_cast<uint32_t>(DeviceState::kReady)) {
      // A burst vswitch-vhost dequeued before the device stopped and put on the ring after
      // DeviceLeft drained it: we are the ring's only consumer and read it only while the
      // device is ready. (The state is read again: a connection being made stores kReady
      // before vswitch-vhost takes its guest's first frames.)
      (void)DrainFromVm(d);
    }
    if (ready && (!views_[d].ready || reconnected)) {
      // vswitch-vhost stores the negotiated features before the state (read above, acquire).
      dev.vid = info.vid.load();
      views_[d].max_frame = GuestMaxFrame(info.features.load());
      dev.oversize_logged = false;
      dev.port_oversize_logged = false;
    }
    dev.connections = conns;
    views_[d].ready = ready;
  }
}

uint32_t SwitchEngine::Poll() {
  handed_off_ = false;
  now_ns_ = MonotonicNs();
  mappings_.Sync(now_ns_);
  CheckDevices();
  uint32_t work = PollPort();
  for (uint32_t d = 0; d < max_devices_; ++d) {
    if (views_[d].ready) work += PollDevice(d);
  }
  FlushPort();
  FlushBatches();
  if (work != 0) port_sleep_us_ = kFirstPortSleepUs;
  return work;
}

bool SwitchEngine::HasWork() {
  // The port is not looked at here. With its RX queue fds in the epoll (WakeOnPort) a
  // frame cannot slip in unseen between the last rte_eth_rx_burst and the sleep: the
  // epoll is level-triggered and the fd is the tun queue itself, readable for as long as a
  // frame waits in it (in every process: the fds are copies of one open file), so an
  // epoll_wait that starts with a frame queued returns at once, and one that is waiting
  // when a frame comes returns then. Without them, the short timeout (MaxSleepUs) is
  // what bounds the wait.
  for (uint32_t d = 0; d < max_devices_; ++d) {
    // Frames on the ring of a device that is not ready are work too: CheckDevices frees them.
    if (rte_ring_count(devices_[d].from_vm) != 0) return true;
    // A device that became ready (or went) must be seen by CheckDevices.
    const bool ready = state_.devices[d].state.load(std::memory_order_acquire) ==
                       static_cast<uint32_t>(DeviceState::kReady);
    if (ready != views_[d].ready) return true;
  }
  return false;
}

uint64_t SwitchEngine::MaxSleepUs() {
  if (port_wakes_) return kHeartbeatBoundSleepUs;
  const uint64_t us = port_sleep_us_;
  port_sleep_us_ = std::min(port_sleep_us_ * 2, kMaxPortSleepUs);
  return us;
}

void SwitchEngine::WakeOnPort(PollPacer& pacer) {
  const uint16_t expected = state_.config.port_rx_wake_fds;
  if (expected == 0) {
    VSW_LOG(INFO, "port %u has no RX interrupts: looked at on a timer while idle (20 us after "
            "falling asleep, doubling to 1 ms)", port_);
    return;
  }
  std::string why;
  if (expected != rx_queues_) {
    // One fd per RX queue, or a queue would be left to the timer unseen.
    why = std::to_string(expected) + " fds for " + std::to_string(rx_queues_) + " RX queues";
  } else if (RequestFds(kPortRxFdsAction, expected, &port_fds_, &why)) {
    for (int fd : port_fds_) {
      if (!pacer.AddWaitFd(fd, &why)) break;
    }
  }
  if (!why.empty()) {
    VSW_LOG(WARNING, "port %u: cannot sleep on its RX queue fds (%s): looked at on a timer "
            "while idle", port_, why.c_str());
    // An fd already in the epoll stays there until it closes (with the pacer): harmless,
    // it only ends sleeps early.
    return;
  }
  port_wakes_ = true;
  VSW_LOG(INFO, "port %u: sleeping on its %zu RX queue fd(s): a frame from the port wakes "
          "switching", port_, port_fds_.size());
}

uint32_t SwitchEngine::PollPort() {
  uint32_t work = 0;
  PortCounters& pc = state_.port;
  for (uint16_t q = 0; q < rx_queues_; ++q) {
    // Received into the ledger's burst list: every slot of it is empty between bursts, so
    // what the driver wrote there is ours.
    rte_mbuf** pkts = burst_;
    const uint16_t n = rte_eth_rx_burst(port_, q, pkts, kBurst);
    if (n == 0) continue;
    work += n;
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; ++i) bytes += pkts[i]->pkt_len;
    Bump(pc.rx_packets, n);
    Bump(pc.rx_bytes, bytes);
    for (uint16_t i = 0; i < n; ++i) {
      RouteFromPortOne(pkts[i]);
      HeldLedger::Erase(pkts + i, 1);  // freed or placed in its next list (held_ledger.h)
    }
  }
  return work;
}

void SwitchEngine::RouteFromPortOne(rte_mbuf* m) {
  PortCounters& pc = state_.port;
  const FrameInfo f = ParseMbuf(m);
  std::optional<uint32_t> owner;
  if (f.status == FrameStatus::kOk && f.tagged && !IsMulticast(f.dst)) owner = table_.Lookup(f.dst);
  const Route r = RouteFromPort(f, owner, views_, port_max_frame_);
  if (r.drop) {
    Bump(pc.drops[Idx(r.reason)]);
    rte_pktmbuf_free(m);
    return;
  }
  CountTooBig(r, 0);
  if (r.devices == 0) {
    rte_pktmbuf_free(m);
    return;
  }
  // Toward guests frames are always untagged (as vhost-switch's VLAN strip).
  if ((m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) == 0) (void)rte_vlan_strip(m);
  m->ol_flags &= ~(RTE_MBUF_F_RX_VLAN_STRIPPED | RTE_MBUF_F_RX_VLAN);
  m->vlan_tci = 0;
  DeliverCopies(m, r.devices, false);
}

void SwitchEngine::PublishDirectPolicy() {
  DirectPolicy& p = state_.direct;
  const bool enabled = software_vm2vm_ && options_.direct_vm2vm != 0;
  p.switching_pid.store(getpid());
  p.enabled.store(enabled ? 1 : 0, std::memory_order_release);
  VSW_LOG(INFO, "direct guest-to-guest delivery by vswitch-vhost: %s", enabled ? "on" :
          (software_vm2vm_ ? "off (direct-vm2vm 0)" : "off (vm2vm is not in software)"));
}

void SwitchEngine::CountTooBig(const Route& r, uint32_t src_device) {
  // Against the receiver that could not take it: a guest without mergeable/TSO buffers
  // (its switch_rx), or the port's MTU (the sender's switch_tx, as a unicast frame to it).
  for (uint64_t bits = r.too_big; bits != 0; bits &= bits - 1) {
    const auto d = static_cast<uint32_t>(__builtin_ctzll(bits));
    Bump(state_.counters[d].switch_rx.drops[Idx(DropReason::kOversize)]);
    if (!devices_[d].oversize_logged) {
      devices_[d].oversize_logged = true;
      VSW_LOG(WARNING, "device %u: frames larger than %u bytes dropped (oversize): the guest "
              "did not negotiate mergeable RX buffers or TSO/UFO (turn on [vhost] mergeable)", d,
              views_[d].max_frame);
    }
  }
  if (r.port_too_big) TooBigForPort(src_device);
}

void SwitchEngine::TooBigForPort(uint32_t d) {
  Bump(state_.counters[d].switch_tx.drops[Idx(DropReason::kOversize)]);
  if (devices_[d].port_oversize_logged) return;
  devices_[d].port_oversize_logged = true;
  VSW_LOG(WARNING, "device %u: frames larger than %u bytes toward the port dropped (oversize): "
          "the port's MTU is %u ([primary] mtu, clamped to what the port takes)", d, port_max_frame_,
          port_max_frame_ - RTE_ETHER_HDR_LEN);
}

void SwitchEngine::DropFromDevice(uint32_t d, DropReason reason, rte_mbuf* m) {
  Bump(state_.counters[d].switch_tx.drops[Idx(reason)]);
  rte_pktmbuf_free(m);
}

uint32_t SwitchEngine::PollDevice(uint32_t d) {
  Device& dev = devices_[d];
  rte_mbuf** pkts = burst_;
  const unsigned n = held_.Dequeue(held::kSwitchingBurst, kBurst, dev.from_vm, HeldRingId(d, false));
  if (n == 0) return 0;
  for (unsigned i = 0; i < n; ++i) {
    cur_slot_ = pkts + i;
    RouteFromDeviceOne(d, pkts[i]);
    HeldLedger::Erase(pkts + i, 1);  // freed or placed in its next list (held_ledger.h)
  }
  cur_slot_ = nullptr;
  return n;
}

void SwitchEngine::RouteFromDeviceOne(uint32_t d, rte_mbuf* m) {
  Device& dev = devices_[d];
  QueueCounters& tx = state_.counters[d].switch_tx;
  if (!mappings_.Readable(m)) {
    DropFromDevice(d, DropReason::kStaleZeroCopy, m);
    return;
  }
  const FrameInfo f = ParseMbuf(m);
  if (f.status != FrameStatus::kOk || f.tagged) {
    DropFromDevice(d, f.status == FrameStatus::kRunt ? DropReason::kRunt : DropReason::kDoubleVlan, m);
    return;
  }
  std::optional<uint32_t> src_owner;
  if (!views_[d].learned || f.src != views_[d].mac) {
    src_owner = table_.Lookup(f.src);
    const LearnDecision ld = DecideLearning(d, views_[d].learned, views_[d].mac, f.src, src_owner);
    if (ld.action == LearnAction::kRegister) {
      Register(d, f.src);
      src_owner = views_[d].learned && views_[d].mac == f.src ? std::optional<uint32_t>(d) : std::nullopt;
    } else if (ld.action == LearnAction::kRefuse && !views_[d].learned && !dev.refusal_logged) {
      dev.refusal_logged = true;
      VSW_LOG(WARNING, "VHOST_DATA: (%d) mac %s refused: already registered by device %u "
              "(vlan %u); its frames are dropped", dev.vid, MacToString(f.src).c_str(), ld.owner,
              VlanOfDevice(ld.owner));
    }
  } else {
    src_owner = d;
  }
  GuestRouteInput in;
  in.src_device = d;
  in.frame = f;
  in.src_owner = src_owner;
  if (software_vm2vm_ && !IsMulticast(f.dst)) in.dst_owner = table_.Lookup(f.dst);
  in.software_vm2vm = software_vm2vm_;
  in.port_max_frame = port_max_frame_;
  in.segmentation_offload = (m->ol_flags & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)) != 0;
  const Route r = RouteFromGuest(in, views_);
  if (r.drop && r.reason == DropReason::kOversize) {
    TooBigForPort(d);  // the only oversize drop of a whole frame: toward the port
    rte_pktmbuf_free(m);
    return;
  }
  if (r.drop) {
    DropFromDevice(d, r.reason, m);
    return;
  }
  CountTooBig(r, d);
  if (r.devices == 0 && !r.to_port) {
    rte_pktmbuf_free(m);  // every receiver refused it for its size (counted above)
    return;
  }
  Bump(tx.packets);
  Bump(tx.bytes, m->pkt_len);
  if (r.devices != 0) DeliverCopies(m, r.devices, r.to_port);
  if (r.to_port) ToPort(d, m);
}

void SwitchEngine::DeliverCopies(rte_mbuf* m, uint64_t devices, bool keep_original) {
  while (devices != 0) {
    const uint32_t d = static_cast<uint32_t>(__builtin_ctzll(devices));
    devices &= devices - 1;
    rte_mbuf* out = m;
    if (devices != 0 || keep_original) {
      out = rte_pktmbuf_copy(m, pool_, 0, UINT32_MAX);
      if (out == nullptr) {
        Bump(state_.counters[d].switch_rx.drops[Idx(DropReason::kNoMbuf)]);
        continue;
      }
    }
    ToDevice(d, out);
  }
}

void SwitchEngine::ToDevice(uint32_t d, rte_mbuf* m) {
  Device& dev = devices_[d];
  if (!views_[d].ready) {
    Bump(state_.counters[d].switch_rx.drops[Idx(DropReason::kDeviceNotReady)]);
    rte_pktmbuf_free(m);
    return;
  }
  if (dev.batch.full()) FlushDevice(d);
  dev.batch_len[dev.batch.size()] = m->pkt_len;
  dev.batch.Add(m);
  if (dev.batch.full()) FlushDevice(d);
}

void SwitchEngine::FlushDevice(uint32_t d) {
  Device& dev = devices_[d];
  const uint16_t n = dev.batch.size();
  if (n == 0) return;
  rte_mbuf** pkts = dev.batch.data();
  QueueCounters& rx = state_.counters[d].switch_rx;
  const EnqueueResult res = EnqueueWithRetry(
      n, retry_,
      [&](unsigned first, unsigned count) {
        return held_.Enqueue(held::SwitchingToVm(d), first, count, dev.to_vm, HeldRingId(d, true));
      },
      [this](unsigned us) {
        if (pacer_ != nullptr) {
          pacer_->WaitForPeer(us);
        } else {
          rte_delay_us_block(us);
        }
      });
  // Sent mbufs are vswitch-vhost's (and their slots erased): their lengths were kept.
  uint64_t bytes = 0;
  for (unsigned i = 0; i < res.sent; ++i) bytes += dev.batch_len[i];
  Bump(rx.packets, res.sent);
  Bump(rx.bytes, bytes);
  if (res.sent != 0) handed_off_ = true;
  if (res.retries) Bump(rx.retries, res.retries);
  if (res.sent < n) {
    Bump(rx.drops[Idx(DropReason::kRingFull)], n - res.sent);
    HeldLedger::FreeAndErase(pkts + res.sent, n - res.sent);
    if (now_ns_ >= dev.next_full_log_ns) {
      dev.next_full_log_ns = now_ns_ + 1'000'000'000ull;
      VSW_LOG(WARNING, "device %u: to_vm ring full, frames dropped after %u retries %u us apart "
              "(so far: %lu dropped, %lu retries); is the guest reading?", d, res.retries,
              retry_.delay_us, static_cast<unsigned long>(rx.drops[Idx(DropReason::kRingFull)].load()),
              static_cast<unsigned long>(rx.retries.load()));
    }
  }
  dev.batch.Clear();
}

void SwitchEngine::FlushBatches() {
  for (uint32_t d = 0; d < max_devices_; ++d) {
    if (!devices_[d].batch.empty()) FlushDevice(d);
  }
}

rte_mbuf* SwitchEngine::CopyToPool(rte_mbuf* m, QueueCounters& tx) {
  rte_mbuf* c = rte_pktmbuf_copy(m, pool_, 0, UINT32_MAX);
  rte_pktmbuf_free(m);
  // Before the next allocation could hand `m` out again (held_ledger.h).
  if (cur_slot_ != nullptr && *cur_slot_ == m) HeldLedger::Erase(cur_slot_, 1);
  if (c == nullptr) Bump(tx.drops[Idx(DropReason::kNoMbuf)]);
  return c;
}

void SwitchEngine::ToPort(uint32_t src_device, rte_mbuf* m) {
  QueueCounters& tx = state_.counters[src_device].switch_tx;
  if (MustCopyToPort(port_access_, m)) {
    // Zero-copy guest memory toward a port that DMAs: the NIC could not read it.
    m = CopyToPool(m, tx);
    if (m == nullptr) return;
  }
  TxPlan plan = PlanPortTx(tx_caps_, m->ol_flags, m->nb_segs);
  m->vlan_tci = VlanOfDevice(src_device);
  if (plan.offload_vlan) {
    m->ol_flags |= RTE_MBUF_F_TX_VLAN;
  } else {
    if (!RTE_MBUF_DIRECT(m) || rte_mbuf_refcnt_read(m) > 1 || rte_pktmbuf_headroom(m) < kVlanTagLen) {
      // An external (zero-copy) or shared buffer is not ours to prepend to: copy it.
      m = CopyToPool(m, tx);
      if (m == nullptr) return;
      m->vlan_tci = VlanOfDevice(src_device);
    }
    if (rte_vlan_insert(&m) != 0) {
      Bump(tx.drops[Idx(DropReason::kNoMbuf)]);
      rte_pktmbuf_free(m);
      return;
    }
  }
  if (!plan.software_gso) {
    if (plan.linearize && rte_pktmbuf_linearize(m) != 0) {
      Bump(tx.drops[Idx(DropReason::kOversize)]);
      rte_pktmbuf_free(m);
      return;
    }
    if (plan.software_ip_cksum || plan.software_l4_cksum) {
      SoftwareChecksums(m, plan.software_ip_cksum, plan.software_l4_cksum);
    }
    QueuePortTx(src_device, m);
    return;
  }
  // Cut in software: each segment carries a copy of the (tagged) headers.
  gso_.gso_size = static_cast<uint16_t>(m->l2_len + m->l3_len + m->l4_len + m->tso_segsz);
  rte_mbuf* segs[64];
  const int nseg = rte_gso_segment(m, &gso_, segs, RTE_DIM(segs));
  if (nseg <= 0) {
    Bump(tx.drops[Idx(DropReason::kOversize)]);
    rte_pktmbuf_free(m);
    return;
  }
  if (segs[0] != m) rte_pktmbuf_free(m);  // rte_gso never frees its input
  for (int i = 0; i < nseg; ++i) {
    rte_mbuf* s = segs[i];
    if (plan.linearize && s->nb_segs > 1 && rte_pktmbuf_linearize(s) != 0) {
      Bump(tx.drops[Idx(DropReason::kOversize)]);
      rte_pktmbuf_free(s);
      continue;
    }
    if (plan.software_ip_cksum || plan.software_l4_cksum) {
      SoftwareChecksums(s, plan.software_ip_cksum, plan.software_l4_cksum);
    }
    QueuePortTx(src_device, s);
  }
}

void SwitchEngine::QueuePortTx(uint32_t src_device, rte_mbuf* m) {
  if (port_tx_count_ == kBurst) FlushPort();
  port_tx_[port_tx_count_] = m;
  port_tx_src_[port_tx_count_] = src_device;
  port_tx_len_[port_tx_count_] = m->pkt_len;
  ++port_tx_count_;
}

void SwitchEngine::FlushPort() {
  if (port_tx_count_ == 0) return;
  // The driver frees what it sends, as it sends it: the ledger lets go of the batch first
  // (a kill inside rte_eth_tx_burst loses what it had not sent yet).
  rte_mbuf* pkts[kBurst];
  std::copy_n(port_tx_, port_tx_count_, pkts);
  HeldLedger::Erase(port_tx_, port_tx_count_);
  uint16_t sent = 0;
  for (unsigned t = 0; t < kPortTxTries && sent < port_tx_count_; ++t) {
    sent = static_cast<uint16_t>(sent + rte_eth_tx_burst(port_, 0, pkts + sent,
                                                         static_cast<uint16_t>(port_tx_count_ - sent)));
  }
  PortCounters& pc = state_.port;
  uint64_t bytes = 0;
  for (uint16_t i = 0; i < sent; ++i) bytes += port_tx_len_[i];  // sent mbufs are the driver's now
  Bump(pc.tx_packets, sent);
  Bump(pc.tx_bytes, bytes);
  for (uint16_t i = sent; i < port_tx_count_; ++i) {
    Bump(state_.counters[port_tx_src_[i]].switch_tx.drops[Idx(DropReason::kPortTx)]);
    rte_pktmbuf_free(pkts[i]);
  }
  port_tx_count_ = 0;
}

void SwitchEngine::MaybePrintStats(uint64_t now_ns) {
  if (options_.stats_s == 0 || now_ns < next_stats_ns_) return;
  next_stats_ns_ = now_ns + uint64_t{options_.stats_s} * 1'000'000'000ull;
  std::vector<DeviceStatsRow> rows;
  for (uint32_t d = 0; d < max_devices_; ++d) {
    if (!devices_[d].configured) continue;
    rows.push_back(StatsRowFor(d, state_.devices[d].vid.load(), state_.counters[d]));
  }
  for (const std::string& line : FormatDeviceStats(rows)) VSW_LOG(INFO, "%s", line.c_str());
}

void SwitchEngine::Shutdown() {
  if (devices_.empty()) return;
  FlushPort();
  for (uint32_t d = 0; d < max_devices_; ++d) {
    if (views_[d].ready) {
      FlushDevice(d);
    } else if (!devices_[d].batch.empty()) {
      HeldLedger::FreeAndErase(devices_[d].batch.data(), devices_[d].batch.size());
      devices_[d].batch.Clear();
    }
  }
  devices_.clear();
}

}  // namespace vswitch
