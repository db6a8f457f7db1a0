// The `vswitch_state` memzone: everything the processes of a group share besides DPDK's own
// objects (mbuf pool, rings, MAC hash). Every secondary checks magic, version and size at
// attach; a binary built against another layout refuses to attach.
//
// Writers: each cache-line-aligned block has one writing process (noted per field), so
// counters are plain single-writer atomics: no locked instructions on the datapath.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "drop_reason.h"
#include "held_mbufs.h"
#include "role.h"
#include "zero_copy_reason.h"

namespace vswitch {

inline constexpr uint32_t kStateMagic = 0x56535754;  // "VSWT"
// Bump on any change to the structs below or to names.h.
// 2: DeviceL2::connection. 3: guest memory mappings table and its acknowledgement,
// zero-copy counters, DropReason::kStaleZeroCopy. 4: doorbells. 5:
// ConfigSnapshot::port_rx_wake_fds. 6: direct guest-to-guest (DirectPolicy,
// DeviceCounters::direct_rx/direct_tx). 7: DeviceInfo::refused_connections;
// DropReason::kGuestNoBuffer removed (QueueCounters::drops one shorter). 8:
// ConfigSnapshot::port_mtu/port_max_frame; DirectPolicy::max_frame removed (guest-to-guest
// frames are limited by the receiving guest, not the port). 9: RoleSlot's ring repair
// counters. 10: DeviceInfo::memory_faults. 11: RoleHeld (held_mbufs.h), per role. 12: the
// vsw_packed_rings memzone (kPackedRingsBytes below; not in SharedState, but a secondary
// of this build needs it from the primary).
inline constexpr uint32_t kLayoutVersion = 12;

inline constexpr std::size_t kCacheLine = 64;
// 82599 VMDQ offers 64 pools; one device per pool.
inline constexpr uint32_t kMaxDevices = 64;
// VIRTIO_NET_F_MQ: vswitch serves up to 8 queue pairs per device.
inline constexpr uint32_t kMaxQueuePairs = 8;
inline constexpr std::size_t kSocketPathMax = 108;  // sizeof(sockaddr_un::sun_path)
inline constexpr std::size_t kPortNameMax = 256;
inline constexpr uint16_t kVlanBase = 1000;  // device i uses VLAN 1000 + i (vhost-switch)

// The vsw_packed_rings memzone (names.h): kMaxDevices slots of kPackedRingsSlotBytes. A
// slot is the socket path it serves (NUL-terminated, in the first
// kPackedRingsSlotPathBytes) followed by one record per vring, kPackedRingRecordBytes each
// (the vhost library's PackedRingRecord, secondary/vhost/lib/virtio/packed_ring_record.h,
// which vswitch-vhost static_asserts against this size). A slot follows its socket path,
// not the socket's position in the configuration, so that records never pass to another
// socket when the list changes between restarts (secondary/vhost/packed_ring_records.h).
// Zeroed by the primary, written only by vswitch-vhost; kept across its restarts.
inline constexpr uint32_t kVringsPerDevice = 2 * kMaxQueuePairs;
inline constexpr std::size_t kPackedRingRecordBytes = 64 + 2 * 1024;
inline constexpr std::size_t kPackedRingsSlotPathBytes = 128;
static_assert(kSocketPathMax < kPackedRingsSlotPathBytes && kPackedRingsSlotPathBytes % kCacheLine == 0);
inline constexpr std::size_t kPackedRingsSlotBytes =
    kPackedRingsSlotPathBytes + std::size_t{kVringsPerDevice} * kPackedRingRecordBytes;
inline constexpr std::size_t kPackedRingsBytes = std::size_t{kMaxDevices} * kPackedRingsSlotBytes;

using Counter = std::atomic<uint64_t>;
static_assert(Counter::is_always_lock_free, "shared counters must be lock-free across processes");

// Single-writer increment: a relaxed load and store, not a locked add. Only the one process
// that owns the block may call it.
inline void Bump(Counter& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

enum class RoleState : uint32_t {
  kDown = 0,      // no process, or the primary found it dead or hung
  kStarting = 1,  // registered, not yet serving
  kUp = 2,        // serving
};

// The registry of processes. Written by the role itself (register, heartbeat, deregister)
// and by the primary (marking a dead one down); never on a datapath.
struct alignas(kCacheLine) RoleSlot {
  std::atomic<int32_t> pid;           // 0: none registered
  std::atomic<uint32_t> state;        // RoleState
  std::atomic<uint64_t> start_ns;     // CLOCK_REALTIME when it registered
  std::atomic<uint64_t> heartbeat_ns; // CLOCK_MONOTONIC of the last heartbeat
  std::atomic<uint64_t> instances;    // registrations so far; restarts = instances - 1
  std::atomic<uint64_t> deaths;       // times the primary found it gone or hung
  // Written by the role when it attaches (ring_repair.h): half-done ring operations a
  // killed predecessor left on the ring ends this role owns, rolled back; and their slots,
  // dropped (producer end: never published) or redelivered (consumer end). Kept across
  // restarts: totals since the primary started.
  std::atomic<uint64_t> ring_repairs;
  std::atomic<uint64_t> ring_slots_dropped;
  std::atomic<uint64_t> ring_slots_redelivered;
};

enum class DeviceState : uint32_t {
  kUnused = 0,     // no socket configured in this slot
  kWaiting = 1,    // socket registered: listening (server) or connecting (client)
  kConnected = 2,  // a frontend is connected, rings not ready yet
  kReady = 3,      // new_device called: the datapath serves it
};

// Written by the vhost secondary.
struct alignas(kCacheLine) DeviceInfo {
  char socket_path[kSocketPathMax];
  std::atomic<uint32_t> state;        // DeviceState
  std::atomic<int32_t> vid;           // -1 when not connected
  std::atomic<uint64_t> features;     // negotiated virtio features
  std::atomic<uint32_t> queue_pairs;  // enabled queue pairs
  std::atomic<uint32_t> client_mode;  // 1: vswitch connects to the frontend
  std::atomic<uint64_t> connections;  // new_device count
  // Front-ends refused because the socket already had a live connection (server mode).
  std::atomic<uint64_t> refused_connections;
  // Connections closed because guest memory faulted: the front-end shrank its file.
  std::atomic<uint64_t> memory_faults;
};

// Written by the switching secondary: what it learned about the device.
struct alignas(kCacheLine) DeviceL2 {
  std::atomic<uint64_t> mac;   // 48-bit MAC in the low bits (network order bytes, see mac_table.h)
  std::atomic<uint32_t> learned;
  std::atomic<uint32_t> vlan;  // VLAN tag, kVlanBase + device id once learned
  // DeviceInfo::connections when the MAC was learned: a restarted switching secondary
  // tells a learned guest that is still connected from one that reconnected meanwhile.
  std::atomic<uint64_t> connection;
};

// One queue's counters, one writer.
struct alignas(kCacheLine) QueueCounters {
  Counter packets;
  Counter bytes;
  Counter retries;
  Counter drops[kDropReasonCount];
};

// Written by vhost: dequeue zero-copy on one guest TX queue.
struct alignas(kCacheLine) ZeroCopyCounters {
  Counter by_reference;  // packets passed to vswitch-switching by reference
  Counter copied[kZeroCopyCopyReasonCount];
};

struct DeviceCounters {
  // Written by vhost. rx: into the guest (enqueue), tx: out of the guest (dequeue), per
  // queue pair.
  QueueCounters vhost_rx[kMaxQueuePairs];
  QueueCounters vhost_tx[kMaxQueuePairs];
  // Written by switching. rx: routed to this device's to_vm ring; tx: taken from its
  // from_vm ring and routed (to the port or another device).
  QueueCounters switch_rx;
  QueueCounters switch_tx;
  // Written by vhost, per queue pair's TX queue (--dequeue-zero-copy).
  ZeroCopyCounters vhost_zero_copy[kMaxQueuePairs];
  // Written by vhost: guest-to-guest frames it delivered itself (DirectPolicy), counted
  // also in vhost_tx of the sender (direct_tx) and vhost_rx of the receiver (direct_rx),
  // never in switch_rx/switch_tx.
  QueueCounters direct_rx;
  QueueCounters direct_tx;
};

// Dequeue zero-copy across processes (docs/architecture.md): vswitch-vhost's mappings of
// guest memory, which vswitch-switching maps at the same addresses so that a packet
// passed by reference is readable where it is transmitted. 256 entries: 64 memory slots
// per device (CONFIGURE_MEM_SLOTS) are rarely all used, and a device rarely has more than
// a few regions (QEMU: 1-3).
inline constexpr uint32_t kMaxSharedMappings = 256;

// One mapping; fields are atomics because the reader copies them under a sequence lock.
struct SharedMapping {
  std::atomic<uint64_t> vhost_va;        // where vswitch-vhost mapped it
  std::atomic<uint64_t> size;            // bytes mapped
  std::atomic<uint64_t> file_offset;     // of vhost_va in the file
  std::atomic<uint64_t> add_generation;  // table generation that added it; 0: entry unused
  std::atomic<int32_t> fd;               // the file in vswitch-vhost: /proc/<vhost_pid>/fd/<fd>
  uint32_t reserved;
};

// Written by vswitch-vhost under a sequence lock: `seq` is odd while it writes.
struct alignas(kCacheLine) MappingTable {
  std::atomic<uint64_t> seq;
  std::atomic<uint64_t> generation;  // bumped by every change; 0: nothing published yet
  std::atomic<int32_t> vhost_pid;    // the instance whose mappings these are
  uint32_t reserved;
  SharedMapping entries[kMaxSharedMappings];
};

// Written by vswitch-switching under a sequence lock: the table generation it applied.
struct alignas(kCacheLine) MappingAck {
  std::atomic<uint64_t> seq;
  std::atomic<int32_t> switching_pid;  // who applied it
  std::atomic<int32_t> vhost_pid;      // whose table
  std::atomic<uint64_t> generation;    // every entry of this generation is mapped or refused
  std::atomic<uint64_t> refused[kMaxSharedMappings / 64];  // bit: entry index refused
  // Not under the lock: operator counters.
  std::atomic<uint64_t> refusals;  // entries refused (address taken, open failed) so far
  std::atomic<uint64_t> mapped;    // entries mapped now
};

// Written by the switching secondary.
struct alignas(kCacheLine) PortCounters {
  Counter rx_packets;  // taken from the port's RX queues
  Counter rx_bytes;
  Counter tx_packets;  // handed to the port's TX queues
  Counter tx_bytes;
  Counter drops[kDropReasonCount];
};

// How a polling role sleeps and is woken (doorbell.h). Written by the role that owns it;
// producers that hand it work only read `asleep`.
struct alignas(kCacheLine) DoorbellSlot {
  // 0 while the owner polls; while it sleeps (or is about to), the number of that sleep
  // (never 0), so a producer rings once per sleep however many bursts it hands over.
  std::atomic<uint32_t> asleep;
  std::atomic<uint32_t> last_sleep;  // the number the last sleep took (kept across restarts)
  std::atomic<uint64_t> cpus;       // the owner's allowed CPUs (bit i: CPU i, first 64)
  std::atomic<uint64_t> sleeps;     // times the owner went to sleep
  std::atomic<uint64_t> woken;      // sleeps ended by an event (a doorbell or a guest's kick)
  std::atomic<uint64_t> timed_out;  // sleeps that ran to their timeout
  std::atomic<uint64_t> yields;     // times it gave its CPU to a role sharing that CPU
};

// Written by vswitch-switching when it starts: what its routing of a guest's unicast frame
// to another guest depends on beyond the devices' learned MACs (DeviceL2) and the
// receivers' negotiated features (DeviceInfo::features, guest_frame_limit.h), so that
// vswitch-vhost can deliver such a frame itself, without the two hand-offs through the
// from_vm and to_vm rings (docs/architecture.md, "Direct guest-to-guest"). Left as it is
// when switching stops: the MACs it learned stay valid for their connections.
struct alignas(kCacheLine) DirectPolicy {
  std::atomic<uint32_t> enabled;    // 1: software vm2vm, and direct delivery allowed
  std::atomic<int32_t> switching_pid;  // who published it (0: nobody yet)
};

// What the primary started with, for every other process to read.
struct alignas(kCacheLine) ConfigSnapshot {
  char port[kPortNameMax];      // the `[primary] port` value
  uint32_t max_devices;         // rings exist for devices 0 .. max_devices-1
  uint32_t ring_size;
  uint32_t mbufs;
  uint16_t port_id;             // DPDK ethdev port id of the port
  uint16_t port_rx_queues;
  uint16_t port_tx_queues;
  uint16_t vmdq_pools;          // 0: software VMDQ
  uint32_t heartbeat_timeout_ms;
  uint16_t port_rx_wake_fds;    // RX queue fds the primary hands over (port_rx_wake.h); 0: none
  uint16_t port_mtu;            // the MTU the primary set on the port ([primary] mtu)
  uint32_t port_max_frame;      // untagged bytes a frame toward the port may have (MTU + 14)
};

struct alignas(kCacheLine) SharedState {
  // Header: written once by the primary before it sets `ready`.
  uint32_t magic;
  uint32_t layout_version;
  uint64_t layout_size;
  std::atomic<int32_t> primary_pid;
  std::atomic<uint32_t> ready;  // 1 once every shared object exists
  uint64_t primary_start_ns;    // CLOCK_REALTIME

  ConfigSnapshot config;
  RoleSlot roles[kRoleCount];
  DeviceInfo devices[kMaxDevices];
  DeviceL2 l2[kMaxDevices];
  DeviceCounters counters[kMaxDevices];
  PortCounters port;
  MappingTable mappings;
  MappingAck mapping_ack;
  DoorbellSlot doorbells[kRoleCount];
  DirectPolicy direct;
  RoleHeld held[kRoleCount];  // each written by its role (held_mbufs.h)
};

// The layout is shared by separately built binaries: pin what they rely on.
static_assert(std::is_standard_layout_v<SharedState>);
static_assert(sizeof(RoleSlot) == kCacheLine);
static_assert(sizeof(DeviceL2) == kCacheLine);
static_assert(sizeof(DeviceInfo) % kCacheLine == 0);
static_assert(sizeof(DeviceInfo) == 3 * kCacheLine);
static_assert(offsetof(DeviceInfo, refused_connections) == 144);
static_assert(offsetof(DeviceInfo, memory_faults) == 152);
static_assert(sizeof(QueueCounters) % kCacheLine == 0);
static_assert(sizeof(PortCounters) % kCacheLine == 0);
static_assert(offsetof(SharedState, magic) == 0);
static_assert(offsetof(SharedState, layout_version) == 4);
static_assert(offsetof(SharedState, config) % kCacheLine == 0);
static_assert(offsetof(SharedState, roles) % kCacheLine == 0);
static_assert(offsetof(SharedState, counters) % kCacheLine == 0);
static_assert(sizeof(ZeroCopyCounters) % kCacheLine == 0);
static_assert(sizeof(SharedMapping) == 40);
static_assert(offsetof(MappingTable, entries) == 24);
static_assert(kMaxSharedMappings % 64 == 0);
static_assert(offsetof(SharedState, mappings) % kCacheLine == 0);
static_assert(offsetof(SharedState, mapping_ack) % kCacheLine == 0);
static_assert(sizeof(DoorbellSlot) == kCacheLine);
static_assert(offsetof(DoorbellSlot, asleep) == 0);
static_assert(offsetof(SharedState, doorbells) % kCacheLine == 0);
static_assert(sizeof(DirectPolicy) == kCacheLine);
static_assert(offsetof(ConfigSnapshot, port_max_frame) % sizeof(uint32_t) == 0);
static_assert(offsetof(SharedState, direct) % kCacheLine == 0);
static_assert(offsetof(SharedState, held) % kCacheLine == 0);
static_assert(kHeldMaxDevices == kMaxDevices);
static_assert(kHeldListSlots >= 64, "vswitch-vhost's packet builder keeps up to 64 spares in one list");
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<int32_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free);

// Checks a mapped state against this binary's layout. Returns an empty string when it
// matches, otherwise a sentence saying what differs and what to do.
[[nodiscard]] std::string CheckLayout(const SharedState& state);

}  // namespace vswitch
