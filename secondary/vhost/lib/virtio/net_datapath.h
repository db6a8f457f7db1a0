// virtio-net over split rings, without mbufs: host-to-guest copy into the RX virtqueue
// (with mergeable buffers) and guest-to-host copy out of the TX virtqueue. Walk first
// (validate every chain a packet needs), copy second. Packets come from a PacketSource
// and go to a PacketSink, so tests use byte vectors and the library uses mbufs.
#pragma once

#include <cstdint>
#include <vector>

#include "net_header.h"
#include "queue_stats.h"
#include "packed_ring.h"
#include "split_ring.h"

namespace vswitch::vhost {

// Largest packet accepted from a guest (a 64 KiB TSO frame plus link headers).
inline constexpr uint32_t kMaxPacketLength = 65536 + 64;

// Per-call work limits (Linux vhost's fix for CVE-2019-3900: a per-round weight). One
// DequeuePackets call consumes at most `max_packets` chains, counting the ones it drops,
// and stops once it has moved this many payload bytes, so a guest that keeps its TX queue
// full of (good or bad) chains gets one bounded slice per polling round and the thread
// moves on to the other queues and devices.
inline constexpr uint64_t kBurstByteWeight = 512 * 1024;

// Chains walked (read and validated) ahead of the copies in one step of a burst.
inline constexpr uint32_t kMaxBurst = 64;

struct NetQueueConfig {
  uint32_t header_size = sizeof(VirtioNetHdrMrgRxbuf);  // NetHeaderSize(features)
  bool mergeable = false;                                // VIRTIO_NET_F_MRG_RXBUF
  DirtyLog* log = nullptr;                               // non-null with VHOST_F_LOG_ALL
};

// The bytes of one host packet, read in pieces.
class PacketSource {
 public:
  virtual ~PacketSource() = default;
  [[nodiscard]] virtual uint32_t length() const = 0;
  [[nodiscard]] virtual VirtioNetHdr header() const = 0;
  // Restarts at the first byte.
  virtual void Rewind() = 0;
  // The next piece; false after the last one.
  [[nodiscard]] virtual bool NextPiece(const uint8_t*& data, uint32_t& len) = 0;
  // The whole packet when it is one contiguous piece (the enqueue's short path);
  // false otherwise, and the caller goes piece by piece.
  [[nodiscard]] virtual bool SinglePiece(const uint8_t*& /*data*/) const { return false; }
};

// Receives one guest packet.
class PacketSink {
 public:
  virtual ~PacketSink() = default;
  // Prepares room for `length` bytes; false when out of buffers (the chain stays in the
  // ring and the burst ends).
  [[nodiscard]] virtual bool Begin(uint32_t length) = 0;
  virtual void Append(const uint8_t* data, uint32_t len) = 0;
  // Completes the packet with its (validated) header; false drops it (counted as
  // kBadNetHeader).
  [[nodiscard]] virtual bool Finish(const VirtioNetHdr& header) = 0;
  // A hint before a burst: about `packets` single-segment packets follow (so a sink can
  // allocate its buffers in one bulk call).
  virtual void Reserve(uint32_t /*packets*/) {}
  // Dequeue zero-copy: takes the packet by reference instead of Begin/Append/Finish.
  // The packet is `length` bytes starting `offset` bytes into `segments` (the chain's
  // pieces); `header` is validated. True: the sink holds descriptor chain `head` and
  // will have it returned to the guest when it is done with it, so the caller must not
  // write its used element now. False: the caller copies the packet as usual.
  [[nodiscard]] virtual bool TakeByReference(const Segment* /*segments*/, uint32_t /*count*/,
                                             uint32_t /*offset*/, uint32_t /*length*/,
                                             const VirtioNetHdr& /*header*/, uint16_t /*head*/) {
    return false;
  }
};

// Scratch space reused across bursts so the datapath does not allocate once warm.
struct DatapathScratch {
  SegmentList segments;
  std::vector<Chain> chains;
  std::vector<uint32_t> written;  // per chain: bytes written (its used length)
};

// Result of offering one packet to the guest's RX ring.
enum class EnqueueStatus {
  kDelivered,  // copied into the guest
  kDropped,    // consumed but dropped (a counted guest-side error)
  kNoRoom,     // the guest has not made enough buffers available; nothing consumed
};

// Writes one packet into the RX ring. `available` is what Available() returned for
// this burst, decremented by the chains this call consumed.
[[nodiscard]] EnqueueStatus EnqueuePacket(SplitRing& ring, const NetQueueConfig& config,
                                          PacketSource& packet, uint16_t& available,
                                          QueueStats& stats, DatapathScratch& scratch);

// Writes up to `count` packets into the RX ring, in order. Every chain the burst needs is
// walked and validated first and the copies are made second (as in EnqueuePacket, per
// burst instead of per packet): the descriptor reads then overlap instead of each waiting
// behind the previous packet's stores into guest memory. Stops at the first packet the
// guest has no room for; `status[i]` is set for each packet consumed. Returns how many
// were consumed (delivered or dropped). The used elements are written, not published.
[[nodiscard]] uint32_t EnqueuePackets(SplitRing& ring, const NetQueueConfig& config,
                                      PacketSource* const* packets, uint32_t count,
                                      uint16_t& available, QueueStats& stats,
                                      DatapathScratch& scratch, EnqueueStatus* status);

// Moves up to `max_packets` packets out of the TX ring into `sink`. Bad chains are
// returned to the guest with length 0 and counted, and count against `max_packets`
// (see kBurstByteWeight). Returns the packets delivered.
[[nodiscard]] uint32_t DequeuePackets(SplitRing& ring, const NetQueueConfig& config,
                                      PacketSink& sink, uint32_t max_packets, QueueStats& stats,
                                      DatapathScratch& scratch);

// The same three over a packed ring (VIRTIO 1.2 2.8): same checks, drops and counters.
[[nodiscard]] EnqueueStatus EnqueuePacket(PackedRing& ring, const NetQueueConfig& config,
                                          PacketSource& packet, uint16_t& available,
                                          QueueStats& stats, DatapathScratch& scratch);
[[nodiscard]] uint32_t EnqueuePackets(PackedRing& ring, const NetQueueConfig& config,
                                      PacketSource* const* packets, uint32_t count,
                                      uint16_t& available, QueueStats& stats,
                                      DatapathScratch& scratch, EnqueueStatus* status);
[[nodiscard]] uint32_t DequeuePackets(PackedRing& ring, const NetQueueConfig& config,
                                      PacketSink& sink, uint32_t max_packets, QueueStats& stats,
                                      DatapathScratch& scratch);

}  // namespace vswitch::vhost
