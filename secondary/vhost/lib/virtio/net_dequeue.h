// The TX-ring dequeue (guest to host) as a template over the packet sink, so the
// library's mbuf sink is called directly on the hot path while tests and fuzzers use the
// PacketSink interface (net_datapath.h: DequeuePackets). Walk first (read and validate a
// burst of chains), then copy or take each packet by reference.
#pragma once

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "net_datapath.h"

namespace vswitch::vhost {
namespace dequeue_detail {

// Reads bytes out of a chain's readable segments in order.
class ChainReader {
 public:
  ChainReader(const SegmentList& segments, const Chain& chain)
      : segments_(segments), chain_(chain) {}

  // Copies `len` bytes to `dst`; the caller has checked the chain is long enough.
  void Read(uint8_t* dst, uint32_t len) {
    while (len > 0) {
      const Segment& s = segments_[chain_.first_segment + seg_];
      const uint32_t n = std::min(s.len - offset_, len);
      std::memcpy(dst, s.host + offset_, n);
      Skip(n);
      dst += n;
      len -= n;
    }
  }

  // Moves past `n` bytes; the caller has checked the chain is long enough.
  void Skip(uint32_t n) {
    offset_ += n;
    while (seg_ < chain_.num_segments && offset_ == segments_[chain_.first_segment + seg_].len) {
      ++seg_;
      offset_ = 0;
    }
  }

  // Hands the rest of the chain to `sink` piece by piece.
  template <class Sink>
  void Drain(Sink& sink) {
    while (seg_ < chain_.num_segments) {
      const Segment& s = segments_[chain_.first_segment + seg_];
      if (s.len > offset_) sink.Append(s.host + offset_, s.len - offset_);
      ++seg_;
      offset_ = 0;
    }
  }

 private:
  const SegmentList& segments_;
  const Chain& chain_;
  uint32_t seg_ = 0;
  uint32_t offset_ = 0;
};

// Reads a TX chain's virtio-net header once into `hdr` (CVE-2024-11614: the local copy
// is what gets validated and used). One copy straight into `hdr` when the first
// segment holds it, the common layout: copying through a byte buffer first makes the
// second copy's loads span the first one's stores, which cannot be forwarded and wait
// for every older store to drain.
inline void ReadHeader(ChainReader& reader, const Segment& first, uint32_t header_size, VirtioNetHdr& hdr) {
  if (first.len >= header_size) {
    std::memcpy(&hdr, first.host, sizeof(hdr));
    reader.Skip(header_size);
    return;
  }
  uint8_t raw[sizeof(VirtioNetHdrMrgRxbuf)];
  reader.Read(raw, header_size);
  std::memcpy(&hdr, raw, sizeof(hdr));
}

}  // namespace dequeue_detail

// DequeuePackets (net_datapath.h) over any sink type. With a final class (MbufSink) the
// per-packet Begin/Append/Finish calls are direct and inlined.
// `Ring` is SplitRing or PackedRing (see EnqueuePacketsOf).
template <class Ring, class Sink>
[[nodiscard]] uint32_t DequeuePacketsOf(Ring& ring, const NetQueueConfig& config, Sink& sink,
                                        uint32_t max_packets, QueueStats& stats,
                                        DatapathScratch& scratch) {
  using namespace dequeue_detail;
  uint16_t available = ring.Available(stats);
  uint32_t delivered = 0;
  uint32_t consumed = 0;
  uint64_t moved_bytes = 0;
  auto& segments = scratch.segments;
  auto& chains = scratch.chains;
  bool stop = false;
  while (!stop && consumed < max_packets && available > 0 && moved_bytes < kBurstByteWeight) {
    // Walk: read (and validate) up to kMaxBurst chains at increasing offsets, and start
    // fetching the lines of each packet's first buffer, which the driver's core has just
    // written; the copies below then find them arriving instead of missing one by one.
    const auto burst = static_cast<uint16_t>(
        std::min<uint32_t>({available, max_packets - consumed, kMaxBurst}));
    ring.Prefetch(burst);
    sink.Reserve(burst);
    segments.clear();
    chains.clear();
    std::optional<DropReason> walk_error[kMaxBurst];
    for (uint16_t i = 0; i < burst; ++i) {
      // In place, not copied in (see EnqueuePacketsOf: the copy's wide loads stall).
      Chain& chain = chains.emplace_back();
      walk_error[i] = ring.ReadChain(i, Direction::kDeviceReadable, segments, chain);
      if (walk_error[i] && ring.broken()) {
        chains.pop_back();
        stats.Drop(*walk_error[i]);  // nothing to return for this slot; the queue stops
        stop = true;
        break;
      }
      if (!walk_error[i] && chain.num_segments > 0) {
        const Segment& first = segments[chain.first_segment];
        __builtin_prefetch(first.host, 0);
        if (first.len > 64) __builtin_prefetch(first.host + 64, 0);
      }
    }

    // Process, in avail order (VIRTIO_F_IN_ORDER holds for everything but zero-copy,
    // which does not offer it).
    // The count and base in locals: the vector's fields would be re-read after every
    // byte stored below (char stores alias everything).
    const auto nchains = static_cast<uint32_t>(chains.size());
    const Chain* chain_list = chains.data();
    for (uint32_t i = 0; i < nchains; ++i) {
      if (moved_bytes >= kBurstByteWeight) {
        stop = true;
        break;
      }
      const Chain& chain = chain_list[i];
      if (walk_error[i]) {
        stats.Drop(*walk_error[i]);
        ring.PutUsed(chain.head, 0);
        ring.Advance(1);
        --available;
        ++consumed;
        continue;
      }
      std::optional<DropReason> bad;
      VirtioNetHdr hdr{};
      uint32_t packet_len = 0;
      // CVE-2022-2132: the chain must hold the whole header and at least one byte more.
      if (chain.length <= config.header_size) {
        bad = DropReason::kChainTooShort;
      } else if (chain.length - config.header_size > kMaxPacketLength) {
        bad = DropReason::kPacketTooLarge;
      }
      ChainReader reader(segments, chain);
      if (!bad) {
        packet_len = static_cast<uint32_t>(chain.length - config.header_size);
        ReadHeader(reader, segments[chain.first_segment], config.header_size, hdr);
        if (!NetHeaderValid(hdr, packet_len)) bad = DropReason::kBadNetHeader;
      }
      if (bad) {
        stats.Drop(*bad);
        ring.PutUsed(chain.head, 0);
        ring.Advance(1);
        --available;
        ++consumed;
        continue;
      }
      if (sink.TakeByReference(&segments[chain.first_segment], chain.num_segments,
                               config.header_size, packet_len, hdr, chain.head)) {
        ring.Advance(1);  // its used element is written when the sink is done with it
        --available;
        ++consumed;
        stats.packets.Add(1);
        stats.bytes.Add(packet_len);
        moved_bytes += packet_len;
        ++delivered;
        continue;
      }
      if (!sink.Begin(packet_len)) {
        stats.no_mbuf.Add(1);
        stop = true;
        break;
      }
      reader.Drain(sink);
      const bool ok = sink.Finish(hdr);
      ring.PutUsed(chain.head, 0);
      ring.Advance(1);
      --available;
      ++consumed;
      if (!ok) {
        stats.Drop(DropReason::kBadNetHeader);
        continue;
      }
      stats.packets.Add(1);
      stats.bytes.Add(packet_len);
      moved_bytes += packet_len;
      ++delivered;
    }
  }
  return delivered;
}

}  // namespace vswitch::vhost
