// The rules of dequeue zero-copy across processes (docs/architecture.md "Dequeue zero-copy
// across processes"), apart from any I/O: vswitch-vhost publishes its guest memory
// mappings in MappingTable, vswitch-switching maps each at the same address and
// acknowledges the generation it applied in MappingAck, and
//   - vhost passes a buffer by reference only if its mapping's entry was added in a
//     generation that the switching instance registered now acknowledged for this vhost
//     instance, and was not refused;
//   - vhost unmaps a mapping it no longer uses only once that switching instance has
//     acknowledged a generation without it (or no switching instance is registered), so
//     the address is not reused here while switching still maps the old file there.
// Both tables are sequence-locked: a reader that sees `seq` odd or changed retries (or, on
// the datapath, answers "not shared").
#pragma once

#include <cstdint>
#include <vector>

#include "state_layout.h"

namespace vswitch {

struct MappingEntry {
  uint32_t index = 0;  // in MappingTable::entries
  uint64_t vhost_va = 0;
  uint64_t size = 0;
  uint64_t file_offset = 0;
  uint64_t add_generation = 0;
  int32_t fd = -1;
  friend bool operator==(const MappingEntry&, const MappingEntry&) = default;
};

struct MappingSnapshot {
  int32_t vhost_pid = 0;
  uint64_t generation = 0;
  std::vector<MappingEntry> entries;  // in-use entries only
};

// Writer side of MappingTable (vswitch-vhost; one writer at a time).
void BeginTableWrite(MappingTable& table);
void EndTableWrite(MappingTable& table);
// Publishes entry `index` under a new table generation (one whole write); returns that
// generation, the entry's add generation.
[[nodiscard]] uint64_t PublishEntry(MappingTable& table, uint32_t index, uint64_t vhost_va, uint64_t size,
                      uint64_t file_offset, int32_t fd);
// Withdraws entry `index` under a new table generation; returns it.
[[nodiscard]] uint64_t WithdrawEntry(MappingTable& table, uint32_t index);
// A consistent copy of the table; false when the writer was writing (try again).
[[nodiscard]] bool ReadTable(const MappingTable& table, MappingSnapshot& out);

struct AckRecord {
  int32_t switching_pid = 0;
  int32_t vhost_pid = 0;
  uint64_t generation = 0;
  uint64_t refused[kMaxSharedMappings / 64] = {};
  [[nodiscard]] bool Refused(uint32_t index) const { return (refused[index / 64] >> (index % 64)) & 1; }
};

// Writer side of MappingAck (vswitch-switching).
void WriteAck(MappingAck& ack, const AckRecord& record);
// False when the writer was writing.
[[nodiscard]] bool ReadAck(const MappingAck& ack, AckRecord& out);

// Datapath (vhost): may a buffer in table entry `index`, added at `add_generation`, go by
// reference? `switching_pid`: the switching role's registered pid now (0: none);
// `self_pid`: this vhost instance.
[[nodiscard]] bool MappingShared(const AckRecord& ack, int32_t switching_pid, int32_t self_pid,
                                 uint32_t index, uint64_t add_generation);
// vhost: may a mapping removed from the table at `removed_generation` be unmapped?
[[nodiscard]] bool MayUnmapRetired(const AckRecord& ack, int32_t switching_pid, int32_t self_pid,
                                   uint64_t removed_generation);

// What vswitch-switching must do to match a snapshot, given what it maps now (entries of
// the instance `mapped_pid`; refused entries count as "mapped" so they are not retried).
struct MappingPlan {
  std::vector<MappingEntry> unmap;  // no longer in the table, or of another vhost instance
  std::vector<MappingEntry> map;    // new in the table
};
[[nodiscard]] MappingPlan PlanMappingSync(const std::vector<MappingEntry>& mapped, int32_t mapped_pid,
                                          const MappingSnapshot& table);

}  // namespace vswitch
