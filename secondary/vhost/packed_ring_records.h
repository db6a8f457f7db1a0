// vswitch-vhost's records of its packed rings' device positions (the vhost library's
// packed_ring_record.h) in the group's vsw_packed_rings memzone, which the primary
// creates zeroed and keeps across vswitch-vhost's restarts (layout: shared/state_layout.h,
// kPackedRingsBytes). A restarted instance finds what the killed one left there; the
// library checks that a record names the ring being started, in the state guest memory
// shows, before it resumes from it (docs/architecture.md "Resuming a packed ring").
//
// Each memzone slot names the socket path its records belong to. At Init a socket takes
// the slot that names it; a socket no slot names takes a slot no configured socket names,
// whose records are invalidated before the slot is renamed. So a record follows its socket
// when the configuration reorders, adds or removes sockets between restarts, and is
// never offered for another socket's rings.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "feature_bits.h"
#include "packed_ring_record.h"
#include "state_layout.h"

namespace vswitch {

static_assert(sizeof(vhost::PackedRingRecord) == kPackedRingRecordBytes,
              "the vsw_packed_rings layout changed: bump kLayoutVersion and kPackedRingRecordBytes");
static_assert(kPackedRingRecordBytes % alignof(vhost::PackedRingRecord) == 0 &&
              kPackedRingsSlotPathBytes % alignof(vhost::PackedRingRecord) == 0 &&
              kPackedRingsSlotBytes % alignof(vhost::PackedRingRecord) == 0);
// Every vring the library can start on a device has a record.
static_assert(kVringsPerDevice == vhost::kMaxVrings);

class PackedRingRecordSlots final : public vhost::PackedRingRecords {
 public:
  // Looks the primary's vsw_packed_rings memzone up and Attaches to it; false with `error`
  // set when the primary has none of the expected size.
  [[nodiscard]] bool Init(const std::vector<std::string>& socket_files, std::string* error);
  // Takes `bytes` at `base` (kPackedRingsBytes, aligned to a cache line, zeroed or left
  // by an earlier instance) as the slots, and gives each of `socket_files` its slot (see
  // above). Call before any ring runs: no other process may write the slots meanwhile.
  [[nodiscard]] bool Attach(void* base, std::size_t bytes, const std::vector<std::string>& socket_files,
                            std::string* error);
  // Vring `vring` of the socket `socket_path`; nullptr for another socket or vring.
  vhost::PackedRingRecord* Find(const std::string& socket_path, uint32_t vring) override;

 private:
  [[nodiscard]] char* SlotPath(std::size_t slot) const { return base_ + slot * kPackedRingsSlotBytes; }
  [[nodiscard]] vhost::PackedRingRecord* Records(std::size_t slot) const {
    return reinterpret_cast<vhost::PackedRingRecord*>(SlotPath(slot) + kPackedRingsSlotPathBytes);
  }

  char* base_ = nullptr;
  std::vector<std::string> sockets_;  // the configured sockets
  std::vector<std::size_t> slots_;    // sockets_[i]'s slot
};

}  // namespace vswitch
