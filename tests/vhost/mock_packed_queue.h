// The driver side of a packed virtqueue over heap memory (HeapGuestMemory), for unit
// tests, fuzzers and benchmarks of PackedRing: it writes chains into the descriptor ring
// as a virtio driver does (every descriptor's AVAIL/USED flags for its wrap counter, the
// first descriptor's flags last), keeps the buffer IDs it handed out, and reads used
// descriptors back the way the driver must (skipping each buffer's descriptor count).
// It can also write what no correct driver would (raw descriptors, reused IDs).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "mock_split_queue.h"  // HeapGuestMemory, BufferSpec
#include "packed_ring.h"

namespace vswitch::vhost::test {

class MockPackedQueue {
 public:
  // Ring at `ring_gpa` (16 * size bytes, then the driver and device event areas), data
  // buffers from [data_gpa, data_gpa + data_size).
  MockPackedQueue(HeapGuestMemory& memory, uint16_t size, uint64_t ring_gpa, uint64_t data_gpa,
                  uint64_t data_size);

  [[nodiscard]] PackedRingLayout Layout() const;
  [[nodiscard]] uint16_t size() const { return size_; }
  [[nodiscard]] uint64_t ring_gpa() const { return ring_gpa_; }
  // The driver's next place to make available / to look for a used descriptor.
  [[nodiscard]] PackedPosition avail() const { return avail_; }
  [[nodiscard]] PackedPosition used() const { return used_; }

  [[nodiscard]] uint64_t Alloc(uint32_t len);
  // Makes a chain available (one descriptor per buffer) under a free buffer ID, or
  // `id` when given (no check: hostile drivers reuse IDs); returns the ID.
  uint16_t AddChain(std::span<const BufferSpec> buffers, std::optional<uint16_t> id = {});
  // One INDIRECT descriptor pointing at a table that holds `buffers`.
  uint16_t AddIndirectChain(std::span<const BufferSpec> buffers);
  // A device-readable chain carrying `bytes` in pieces of `split` lengths.
  uint16_t AddReadableBytes(std::span<const uint8_t> bytes, std::span<const uint32_t> split = {});

  // Raw access for hostile drivers: writes descriptor `i` as given, and moves the
  // driver's avail place on without writing anything.
  void SetDesc(uint16_t i, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags);
  [[nodiscard]] PackedDesc GetDesc(uint16_t i) const;
  // The flags a correct driver would give a descriptor made available at place `p`.
  [[nodiscard]] static uint16_t AvailFlags(PackedPosition p, uint16_t other_flags = 0);
  void SkipAvail(uint32_t n) { avail_ = PackedAdvance(avail_, n, size_); }

  struct UsedElem {
    uint16_t id;
    uint32_t len;
    bool written;  // WRITE flag in the used descriptor
  };
  // The next used descriptor, if the device wrote one there; frees its ID and moves on
  // by the number of descriptors that buffer had.
  std::optional<UsedElem> PollUsed();
  // The bytes the device wrote into buffer `id`'s writable buffers (its first `len`).
  [[nodiscard]] std::vector<uint8_t> ReadWritten(uint16_t id, uint32_t len) const;

  void SetDriverEvent(uint16_t flags, uint16_t off_wrap = 0);
  [[nodiscard]] PackedEvent DeviceEvent() const;

 private:
  struct Buffer {
    uint16_t descs;  // ring descriptors
    std::vector<std::pair<uint64_t, uint32_t>> writable;  // (gpa, len)
  };
  uint16_t TakeId();
  PackedEvent* DriverEventPtr() const;
  PackedEvent* DeviceEventPtr() const;

  HeapGuestMemory& memory_;
  uint16_t size_;
  uint64_t ring_gpa_;
  uint64_t data_next_;
  uint64_t data_end_;
  PackedPosition avail_{};
  PackedPosition used_{};
  uint16_t next_id_ = 0;
  std::map<uint16_t, Buffer> outstanding_;
  // Writable buffers of the IDs returned, for ReadWritten.
  std::map<uint16_t, std::vector<std::pair<uint64_t, uint32_t>>> last_used_writable_;
};

}  // namespace vswitch::vhost::test
