#include "packed_ring_records.h"

#include <rte_memzone.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "names.h"

namespace vswitch {

bool PackedRingRecordSlots::Init(const std::vector<std::string>& socket_files, std::string* error) {
  const rte_memzone* mz = rte_memzone_lookup(kPackedRingsMemzone);
  if (mz == nullptr || mz->len < kPackedRingsBytes) {
    *error = std::string("the primary has no ") + kPackedRingsMemzone + " memzone of " +
             std::to_string(kPackedRingsBytes) + " bytes: restart the whole group with one build";
    return false;
  }
  return Attach(mz->addr, mz->len, socket_files, error);
}

bool PackedRingRecordSlots::Attach(void* base, std::size_t bytes, const std::vector<std::string>& socket_files,
                                   std::string* error) {
  if (bytes < kPackedRingsBytes || reinterpret_cast<uintptr_t>(base) % kCacheLine != 0) {
    *error = "packed ring records: " + std::to_string(bytes) + " bytes, " + std::to_string(kPackedRingsBytes) +
             " on a cache line wanted";
    return false;
  }
  if (socket_files.size() > kMaxDevices) {
    *error = "packed ring records: " + std::to_string(socket_files.size()) + " sockets, slots for " +
             std::to_string(kMaxDevices);
    return false;
  }
  for (const std::string& s : socket_files) {
    if (s.empty() || s.size() >= kPackedRingsSlotPathBytes) {
      *error = "packed ring records: socket path '" + s + "' does not fit a slot";
      return false;
    }
  }
  base_ = static_cast<char*>(base);
  sockets_ = socket_files;
  slots_.assign(sockets_.size(), kMaxDevices);
  // A slot's name, bounded: a predecessor killed while renaming it may have left any bytes.
  auto name = [&](std::size_t slot) { return std::string(SlotPath(slot), strnlen(SlotPath(slot), kPackedRingsSlotPathBytes)); };
  std::vector<bool> taken(kMaxDevices, false);
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    for (std::size_t slot = 0; slot < kMaxDevices; ++slot) {
      if (!taken[slot] && name(slot) == sockets_[i]) {
        slots_[i] = slot;
        taken[slot] = true;
        break;
      }
    }
  }
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    if (slots_[i] != kMaxDevices) continue;
    // A free slot: one never named first (kept the longest), else one whose socket is
    // no longer configured.
    std::size_t pick = kMaxDevices;
    for (std::size_t slot = 0; slot < kMaxDevices && pick == kMaxDevices; ++slot) {
      if (!taken[slot] && SlotPath(slot)[0] == '\0') pick = slot;
    }
    for (std::size_t slot = 0; slot < kMaxDevices && pick == kMaxDevices; ++slot) {
      if (!taken[slot]) pick = slot;
    }
    // There are kMaxDevices slots and at most kMaxDevices sockets.
    taken[pick] = true;
    slots_[i] = pick;
    // Records first, name second: a death between them leaves invalid records under the
    // old name, never the old records under the new one.
    vhost::PackedRingRecord* records = Records(pick);
    for (uint32_t v = 0; v < kVringsPerDevice; ++v) records[v].valid.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    std::memset(SlotPath(pick), 0, kPackedRingsSlotPathBytes);
    std::memcpy(SlotPath(pick), sockets_[i].data(), sockets_[i].size());
  }
  return true;
}

vhost::PackedRingRecord* PackedRingRecordSlots::Find(const std::string& socket_path, uint32_t vring) {
  if (base_ == nullptr || vring >= kVringsPerDevice) return nullptr;
  for (std::size_t i = 0; i < sockets_.size(); ++i) {
    if (sockets_[i] == socket_path) return &Records(slots_[i])[vring];
  }
  return nullptr;
}

}  // namespace vswitch
