// vswitch-switching's side of dequeue zero-copy across processes (docs/architecture.md):
// maps every guest memory mapping vswitch-vhost publishes (MappingTable) read-only at the
// same virtual address, so that packets passed by reference are readable here, and
// acknowledges the generation it applied (MappingAck, shared/mapping_share.h). A
// mapping whose address is taken here is refused (vhost then copies those packets).
#pragma once

#include <rte_mbuf.h>
#include <sys/types.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "mapping_share.h"
#include "state_layout.h"

namespace vswitch {

class GuestMappings {
 public:
  explicit GuestMappings(SharedState& state);
  ~GuestMappings();
  GuestMappings(const GuestMappings&) = delete;
  GuestMappings& operator=(const GuestMappings&) = delete;

  // Applies the published table when it changed (otherwise a couple of loads). Call
  // before reading any from_vm ring in a round: a mapping it removes is no longer
  // referenced by anything this round reads.
  void Sync(uint64_t now_ns);
  // Every external (zero-copy) buffer of `m` lies in memory mapped here. A packet that
  // fails this (left by a vswitch-vhost instance that is gone) must be freed unread.
  [[nodiscard]] bool Readable(const rte_mbuf* m) const {
    for (const rte_mbuf* seg = m; seg != nullptr; seg = seg->next) {
      if (RTE_MBUF_HAS_EXTBUF(seg) && !Mapped(reinterpret_cast<uintptr_t>(seg->buf_addr), seg->buf_len)) {
        return false;
      }
    }
    return true;
  }
  [[nodiscard]] size_t mapped() const { return ranges_.size(); }

 private:
  struct Held {
    MappingEntry entry;
    bool refused = false;
    int guard_slot = -1;  // guest_fault_guard.h
  };
  [[nodiscard]] bool Mapped(uintptr_t addr, uint64_t len) const {
    for (const auto& [start, end] : ranges_) {
      if (addr >= start && addr < end && len <= end - addr) return true;
    }
    return false;
  }
  [[nodiscard]] bool MapOne(int32_t vhost_pid, const MappingEntry& e);
  void UnmapOne(const Held& h);
  // Logs the guest memory faults caught since the last round (guest_fault_guard.h).
  void ReportFaults();

  SharedState& state_;
  const int32_t self_;
  int32_t mapped_pid_ = 0;       // the vhost instance whose mappings `held_` are
  uint64_t applied_seq_ = ~0ull;  // MappingTable::seq last applied
  uint64_t next_alive_check_ns_ = 0;
  std::vector<Held> held_;
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges_;  // [start, end) of mapped entries
  bool refusal_logged_ = false;
  uint64_t faults_seen_ = 0;  // GuestFaultCount() already logged
};

}  // namespace vswitch
