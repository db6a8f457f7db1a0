// Where a packed ring's device side stands, kept in memory that outlives the back-end
// process, so that the next instance can resume the ring when the front-end cannot tell
// it where (docs/architecture.md "Resuming a packed ring").
//
// Why: a split ring's device position is in guest memory (used->idx), a packed ring's is
// not (VIRTIO 1.2 2.8: the device's next avail index and wrap counters are the device's
// own). vhost-user.rst has the front-end send it back with SET_VRING_BASE, but it only
// knows what the last GET_VRING_BASE answered: a back-end that was killed (or left
// without GET_VRING_BASE) never answered one. QEMU then sends a stale base; DPDK's
// virtio-user resets its packed rings on reconnection and sends the fresh base (0, wrap
// 1). The record lets the next instance tell the two apart and resume the first.
//
// Writer: the ring (packed_ring.cc), once per PublishUsed (a burst), plus one store per
// buffer it holds across a burst (zero-copy) in the held table. A kill at any store
// leaves a state PlanPackedResume can reconcile with guest memory (x86 stores become
// visible in program order; the successor reads after the writer died):
//   - `pending` is stored before the used descriptors of a batch, `committed` after
//     them; if they differ, the batch's first flag (written last) says whether the
//     driver can have seen it.
//   - held[id] is set when a chain is consumed without being returned (zero-copy), gets
//     kPackedHeldPut when it is returned, and is cleared once its used descriptor is
//     written, before `committed` moves.
// Reader: PlanPackedResume (pure; tests drive it over heap memory).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "packed_ring_layout.h"

namespace vswitch::vhost {

// Queues larger than this are not recorded (the held table is sized for it): they start
// from the front-end's base, as before. QEMU and virtio-user default to 256.
inline constexpr uint32_t kPackedRecordMaxSize = 1024;
// held[id]: descriptors of the chain (1..size), | kPackedHeldPut once returned.
inline constexpr uint16_t kPackedHeldPut = 0x8000;

// What identifies a ring across back-end instances: the front-end's addresses
// (SET_VRING_ADDR), its size, and the file the descriptor ring lies in (device and
// inode of the SET_MEM_TABLE fd). A new front-end process maps new files even when it
// lands on the same addresses (DPDK's EAL does, deterministically).
struct PackedRingIdentity {
  uint64_t desc_addr = 0;
  uint64_t driver_addr = 0;
  uint64_t device_addr = 0;
  uint64_t file_dev = 0;
  uint64_t file_ino = 0;
  uint32_t size = 0;
  friend bool operator==(const PackedRingIdentity&, const PackedRingIdentity&) = default;
};

// A device position as recorded: EncodePackedBase in bits 0-31; bits 32-47 the place of
// the last used descriptor written (index | wrap << 15), bit 48 set when there is one.
[[nodiscard]] constexpr uint64_t EncodeRecordedPosition(PackedRingState s, PackedPosition last,
                                                        bool has_last) {
  return EncodePackedBase(s) |
         (has_last ? (uint64_t{static_cast<uint16_t>(last.idx | (last.wrap ? 0x8000 : 0))} << 32) |
                         (uint64_t{1} << 48)
                   : 0);
}

struct alignas(64) PackedRingRecord {
  std::atomic<uint32_t> valid;  // 1: identity and positions describe a ring
  std::atomic<uint32_t> size;
  std::atomic<uint64_t> desc_addr;
  std::atomic<uint64_t> driver_addr;
  std::atomic<uint64_t> device_addr;
  std::atomic<uint64_t> file_dev;
  std::atomic<uint64_t> file_ino;
  std::atomic<uint64_t> committed;  // EncodeRecordedPosition after the last whole batch
  std::atomic<uint64_t> pending;    // the batch being written (== committed between batches)
  std::atomic<uint16_t> held[kPackedRecordMaxSize];
};
static_assert(std::is_standard_layout_v<PackedRingRecord>);
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint16_t>::is_always_lock_free);
static_assert(offsetof(PackedRingRecord, size) == 4);
static_assert(offsetof(PackedRingRecord, desc_addr) == 8);
static_assert(offsetof(PackedRingRecord, committed) == 48);
static_assert(offsetof(PackedRingRecord, pending) == 56);
static_assert(offsetof(PackedRingRecord, held) == 64);
static_assert(sizeof(PackedRingRecord) == 64 + 2 * kPackedRecordMaxSize);

// Where the records live: the application hands the library one per socket path and
// vring (vswitch-vhost: a memzone of the group; the test harness: a file). nullptr:
// that ring is not recorded.
class PackedRingRecords {
 public:
  virtual ~PackedRingRecords() = default;
  [[nodiscard]] virtual PackedRingRecord* Find(const std::string& socket_path, uint32_t vring) = 0;
};

struct PackedHeldChain {
  uint16_t id;
  uint16_t descs;
};

// What the next instance does with a record.
struct PackedResumePlan {
  bool adopt = false;
  PackedRingState state{};                // avail and used to resume from (adopt)
  std::vector<PackedHeldChain> returning;  // chains held at the death: return used, len 0
  const char* why = "";                   // the check that refused it (!adopt)
};

// Decides whether a ring about to start, described by `identity` with descriptors
// `desc` (size identity.size), is the ring `record` describes, in the state it left it.
// Checks, in order: the record is valid and names this ring (addresses, size, file);
// a batch being written at the death is resolved by its first flag; held chains the
// death left consumed but unrecorded are found in memory after the recorded avail place
// (they will be read again) and dropped; what is held adds up to the descriptors between
// the used and avail places; and guest memory agrees: the descriptors from used to avail
// are still available for their wrap, the last used descriptor written still says USED
// for its wrap (used, or made available again for the next lap), and the descriptor at
// the avail place is not marked used for the current wrap nor left available for the
// previous one. A ring the front-end reset (zeroed, or refilled from index 0) fails them.
[[nodiscard]] PackedResumePlan PlanPackedResume(const PackedRingRecord& record,
                                                const PackedRingIdentity& identity,
                                                const PackedDesc* desc);

// Writes a fresh record for a ring starting at `state` with `held` chains in flight.
void ResetPackedRecord(PackedRingRecord& record, const PackedRingIdentity& identity,
                       PackedRingState state, const std::vector<PackedHeldChain>& held);

}  // namespace vswitch::vhost
