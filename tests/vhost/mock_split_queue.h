// The driver side of a split virtqueue over heap memory, for unit tests, fuzzers and
// benchmarks of the virtqueue engine: it lays out the descriptor table, available and
// used rings in "guest memory" made of heap buffers, publishes chains the way a virtio
// driver does, and reads back what the device wrote. It can also publish what no
// correct driver would (loops, out-of-range indexes, index jumps).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "guest_memory.h"
#include "net_datapath.h"
#include "split_ring.h"
#include "virtio_ring.h"

namespace vswitch::vhost::test {

// Guest memory made of heap regions at chosen guest-physical addresses. The user
// address of a region is its guest address + kUserOffset. Each region sits between two
// PROT_NONE guard pages (and a page-multiple region ends exactly at the second), so any
// read or write the engine makes outside what the "guest" shared faults the test.
class HeapGuestMemory {
 public:
  static constexpr uint64_t kUserOffset = 0x7f0000000000ull;

  HeapGuestMemory() = default;
  HeapGuestMemory(const HeapGuestMemory&) = delete;
  HeapGuestMemory& operator=(const HeapGuestMemory&) = delete;
  ~HeapGuestMemory();

  // Adds a zeroed region; returns its host pointer.
  uint8_t* AddRegion(uint64_t gpa, uint64_t size);
  [[nodiscard]] GuestMemoryTable& table() { return table_; }
  // Host pointer of `gpa` (which must be mapped with `len` contiguous bytes).
  [[nodiscard]] uint8_t* Host(uint64_t gpa, uint64_t len = 1) const;
  void Write(uint64_t gpa, std::span<const uint8_t> bytes);
  [[nodiscard]] std::vector<uint8_t> Read(uint64_t gpa, uint64_t len) const;

 private:
  struct Mapping {
    void* base;
    size_t len;
  };
  std::vector<Mapping> mappings_;
  GuestMemoryTable table_;
};

struct BufferSpec {
  uint32_t len;
  bool writable;
  // Where the buffer lives; 0: the queue's bump allocator picks.
  uint64_t gpa = 0;
};

class MockSplitQueue {
 public:
  // Rings at `ring_gpa` (must be mapped), data buffers allocated from
  // [data_gpa, data_gpa + data_size).
  MockSplitQueue(HeapGuestMemory& memory, uint16_t size, uint64_t ring_gpa, uint64_t data_gpa,
                 uint64_t data_size);

  [[nodiscard]] RingLayout Layout() const;
  [[nodiscard]] uint16_t size() const { return size_; }
  [[nodiscard]] uint64_t desc_gpa() const { return ring_gpa_; }
  [[nodiscard]] uint64_t avail_gpa() const { return avail_gpa_; }
  [[nodiscard]] uint64_t used_gpa() const { return used_gpa_; }

  // Allocates `len` bytes of buffer space (16-byte aligned).
  [[nodiscard]] uint64_t Alloc(uint32_t len);
  // Writes descriptor `i` directly (for malformed chains).
  void SetDesc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
  [[nodiscard]] VirtqDesc GetDesc(uint16_t i) const;
  // Builds a chain from the next free descriptors (wrapping), returns its head.
  uint16_t AddChain(std::span<const BufferSpec> buffers);
  // Builds an indirect table holding `buffers` and one descriptor pointing at it.
  uint16_t AddIndirectChain(std::span<const BufferSpec> buffers);
  // A device-readable chain carrying `bytes` split into pieces of `split` lengths
  // (the last piece takes the rest).
  uint16_t AddReadableBytes(std::span<const uint8_t> bytes, std::span<const uint32_t> split = {});

  // Puts `head` in the next available slot and bumps avail->idx (with a release fence).
  void Publish(uint16_t head);
  // Writes a raw available ring entry / index (hostile drivers).
  void SetAvailEntry(uint16_t slot, uint16_t value);
  void SetAvailIdx(uint16_t idx);
  [[nodiscard]] uint16_t avail_idx() const;
  void SetAvailFlags(uint16_t flags);
  void SetUsedEvent(uint16_t value);

  [[nodiscard]] uint16_t UsedIdx() const;
  [[nodiscard]] uint16_t UsedFlags() const;
  [[nodiscard]] VirtqUsedElem Used(uint16_t i) const;
  // The bytes of chain `head`'s writable buffers, first `len` of them.
  [[nodiscard]] std::vector<uint8_t> ReadWritten(uint16_t head, uint32_t len) const;

 private:
  HeapGuestMemory& memory_;
  uint16_t size_;
  uint64_t ring_gpa_;
  uint64_t avail_gpa_;
  uint64_t used_gpa_;
  uint64_t data_next_;
  uint64_t data_end_;
  uint16_t next_desc_ = 0;
};

// A host packet as bytes, for EnqueuePacket.
class VectorPacketSource final : public PacketSource {
 public:
  explicit VectorPacketSource(std::vector<uint8_t> bytes, VirtioNetHdr hdr = {},
                              uint32_t piece = 0);
  [[nodiscard]] uint32_t length() const override { return static_cast<uint32_t>(bytes_.size()); }
  [[nodiscard]] VirtioNetHdr header() const override { return hdr_; }
  void Rewind() override { pos_ = 0; }
  [[nodiscard]] bool NextPiece(const uint8_t*& data, uint32_t& len) override;
  [[nodiscard]] bool SinglePiece(const uint8_t*& data) const override {
    if (piece_ != 0 && piece_ < bytes_.size()) return false;
    data = bytes_.data();
    return true;
  }

 private:
  std::vector<uint8_t> bytes_;
  VirtioNetHdr hdr_;
  uint32_t piece_;
  size_t pos_ = 0;
};

// Collects guest packets as byte vectors.
class VectorPacketSink final : public PacketSink {
 public:
  struct Packet {
    std::vector<uint8_t> bytes;
    VirtioNetHdr hdr;
  };
  [[nodiscard]] bool Begin(uint32_t length) override;
  void Append(const uint8_t* data, uint32_t len) override;
  [[nodiscard]] bool Finish(const VirtioNetHdr& header) override;

  std::vector<Packet> packets;
  uint32_t capacity = 1u << 30;  // Begin fails after this many packets
  bool reject = false;           // Finish fails

 private:
  Packet current_;
  uint32_t expected_ = 0;
};

// `n` bytes that differ from position to position (and with `seed`), so a packet that
// arrives shifted, truncated or mixed with another does not compare equal.
[[nodiscard]] inline std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

}  // namespace vswitch::vhost::test
