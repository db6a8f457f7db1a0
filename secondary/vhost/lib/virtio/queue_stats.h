// Per-virtqueue counters and the named reasons a packet or chain is dropped. The
// datapath thread is the only writer (it holds the queue's lock); any thread may read.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace vswitch::vhost {

enum class DropReason : uint8_t {
  kAvailIndexJump,      // avail->idx moved more than the queue size ahead (2.6.6)
  kHeadOutOfRange,      // an available-ring entry names no descriptor (2.6.6)
  kDescIndexOutOfRange, // a descriptor's next is outside its table (2.6.5)
  kChainTooLong,        // more descriptors than the table holds: a loop (2.6.5.2)
  kUnmappedAddress,     // a buffer not inside the shared guest memory
  kBadIndirectTable,    // indirect not negotiated, length 0 / not a multiple of 16 /
                        // above the queue size, or not contiguous (2.6.5.3)
  kNestedIndirect,      // an indirect descriptor inside an indirect table (2.6.5.3.1)
  kIndirectWithNext,    // INDIRECT and NEXT both set (2.6.5.3.1); packed: in a chain (2.8)
  kLengthOverflow,      // a chain longer than 2^32 - 1 bytes
  kWrongDirection,      // device-writable buffer on TX, or device-readable on RX (2.6.4.2)
  kChainTooShort,       // TX chain not longer than the virtio-net header (CVE-2022-2132)
  kPacketTooLarge,      // TX packet above kMaxPacketLength
  kRxBufferTooSmall,    // RX chain cannot hold header + packet (no mergeable buffers)
  kBadNetHeader,        // csum_start/csum_offset past the packet, unknown gso_type (5.1.6.2)
  kOffloadNotNegotiated,  // host packet asks for TSO/checksum the guest did not negotiate
  // Packed ring (2.8) only. Each stops the queue: the device can no longer tell where
  // the driver's next buffer starts or which buffer ID to return.
  kDescNotAvailable,    // a descriptor of a chain not marked available for its wrap counter
  kBufferIdOutOfRange,  // a buffer ID not below the queue size
  kBufferIdInUse,       // a buffer ID the device still holds, made available again
  kCount,
};

inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::kCount);

// Operator-facing text: what a non-zero counter means.
[[nodiscard]] constexpr const char* DropReasonName(DropReason r) {
  switch (r) {
    case DropReason::kAvailIndexJump: return "avail_index_jump";
    case DropReason::kHeadOutOfRange: return "head_out_of_range";
    case DropReason::kDescIndexOutOfRange: return "desc_index_out_of_range";
    case DropReason::kChainTooLong: return "chain_too_long";
    case DropReason::kUnmappedAddress: return "unmapped_address";
    case DropReason::kBadIndirectTable: return "bad_indirect_table";
    case DropReason::kNestedIndirect: return "nested_indirect";
    case DropReason::kIndirectWithNext: return "indirect_with_next";
    case DropReason::kLengthOverflow: return "length_overflow";
    case DropReason::kWrongDirection: return "wrong_direction";
    case DropReason::kChainTooShort: return "chain_too_short";
    case DropReason::kPacketTooLarge: return "packet_too_large";
    case DropReason::kRxBufferTooSmall: return "rx_buffer_too_small";
    case DropReason::kBadNetHeader: return "bad_net_header";
    case DropReason::kOffloadNotNegotiated: return "offload_not_negotiated";
    case DropReason::kDescNotAvailable: return "desc_not_available";
    case DropReason::kBufferIdOutOfRange: return "buffer_id_out_of_range";
    case DropReason::kBufferIdInUse: return "buffer_id_in_use";
    case DropReason::kCount: break;
  }
  return "?";
}

[[nodiscard]] constexpr const char* DropReasonHelp(DropReason r) {
  switch (r) {
    case DropReason::kAvailIndexJump: return "guest driver moved its available index beyond the queue size; queue stopped until reset";
    case DropReason::kHeadOutOfRange: return "guest published a descriptor index outside the table; queue stopped until reset";
    case DropReason::kDescIndexOutOfRange: return "descriptor chain pointed outside its table";
    case DropReason::kChainTooLong: return "descriptor chain looped or exceeded the queue size";
    case DropReason::kUnmappedAddress: return "descriptor buffer outside the memory the guest shared";
    case DropReason::kBadIndirectTable: return "malformed indirect descriptor table";
    case DropReason::kNestedIndirect: return "indirect descriptor nested in an indirect table";
    case DropReason::kIndirectWithNext: return "indirect descriptor with the NEXT flag (or, packed ring, inside a chain)";
    case DropReason::kLengthOverflow: return "descriptor chain longer than 4 GiB";
    case DropReason::kWrongDirection: return "buffer direction (read/write) wrong for the queue";
    case DropReason::kChainTooShort: return "TX chain shorter than the virtio-net header plus one byte";
    case DropReason::kPacketTooLarge: return "TX packet larger than 64 KiB";
    case DropReason::kRxBufferTooSmall: return "guest RX buffer too small for the packet";
    case DropReason::kBadNetHeader: return "virtio-net header with offsets past the packet or unknown GSO type";
    case DropReason::kOffloadNotNegotiated: return "host packet needs TSO or checksum offload the guest did not negotiate";
    case DropReason::kDescNotAvailable: return "packed ring: a chain ran into a descriptor whose flags do not say available for the current wrap; queue stopped until reset";
    case DropReason::kBufferIdOutOfRange: return "packed ring: buffer ID outside the queue size; queue stopped until reset";
    case DropReason::kBufferIdInUse: return "packed ring: buffer ID made available again while the device still held it; queue stopped until reset";
    case DropReason::kCount: break;
  }
  return "?";
}

// Why dequeue zero-copy copied a packet instead of passing it by reference.
enum class ZeroCopyCopyReason : uint8_t {
  kBelowThreshold,   // shorter than the threshold (512 bytes): copying is cheaper
  kCapReached,       // half the queue already in flight: copy so the guest keeps descriptors
  kRegionNotShared,  // a buffer in memory the transmitting process has not mapped (yet)
  kOther,            // no mbufs for the chain, too many pieces, a header it cannot apply
  kCount,
};
inline constexpr size_t kZeroCopyCopyReasonCount = static_cast<size_t>(ZeroCopyCopyReason::kCount);

// A counter with one writer: plain load/store, no locked read-modify-write.
class Counter {
 public:
  void Add(uint64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  [[nodiscard]] uint64_t Get() const { return v_.load(std::memory_order_relaxed); }
  void Reset() { v_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

struct QueueStats {
  Counter packets;        // packets moved (enqueued to or dequeued from the guest)
  Counter bytes;          // their bytes, without the virtio-net header
  Counter notifications;  // call eventfd signals sent to the guest
  Counter no_room;        // enqueue bursts that stopped because the guest had no buffers
  Counter no_mbuf;        // dequeue bursts that stopped because the mempool was empty
  Counter drops[kDropReasonCount];
  Counter zero_copy;  // dequeued by reference (dequeue zero-copy)
  Counter zero_copy_copied[kZeroCopyCopyReasonCount];  // zero-copy on, copied anyway
  // Written by the control path only: zero-copy chains returned to the guest when their
  // ring stopped while a consumer still held them (Device::DrainZeroCopy's bound).
  Counter zero_copy_returned_held;

  void CopiedAnyway(ZeroCopyCopyReason r) { zero_copy_copied[static_cast<size_t>(r)].Add(1); }
  void Drop(DropReason r) { drops[static_cast<size_t>(r)].Add(1); }
  [[nodiscard]] uint64_t Dropped(DropReason r) const { return drops[static_cast<size_t>(r)].Get(); }
  [[nodiscard]] uint64_t TotalDrops() const {
    uint64_t t = 0;
    for (const auto& d : drops) t += d.Get();
    return t;
  }
  void Reset() {
    packets.Reset();
    bytes.Reset();
    notifications.Reset();
    no_room.Reset();
    no_mbuf.Reset();
    for (auto& d : drops) d.Reset();
    zero_copy.Reset();
    for (auto& c : zero_copy_copied) c.Reset();
    zero_copy_returned_held.Reset();
  }
};

}  // namespace vswitch::vhost
