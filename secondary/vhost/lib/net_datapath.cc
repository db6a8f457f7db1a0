#include "net_datapath.h"

#include <algorithm>
#include <cstring>

namespace vswitch::vhost {
namespace {

// Streams bytes into the writable segments of consecutive chains, counting what each
// chain received (its used length).
class ChainWriter {
 public:
  ChainWriter(const std::vector<Segment>& segments, const std::vector<Chain>& chains,
              uint32_t* written, DirtyLog* log)
      : segments_(segments), chains_(chains), written_(written), log_(log) {}

  // The caller has checked that the chains hold at least everything written.
  void Write(const uint8_t* src, uint32_t len) {
    while (len > 0) {
      const Chain& c = chains_[chain_];
      if (seg_ == c.num_segments) {
        ++chain_;
        seg_ = 0;
        offset_ = 0;
        continue;
      }
      const Segment& s = segments_[c.first_segment + seg_];
      const uint32_t room = s.len - offset_;
      if (room == 0) {
        ++seg_;
        offset_ = 0;
        continue;
      }
      const uint32_t n = std::min(room, len);
      std::memcpy(s.host + offset_, src, n);
      // vhost-user.rst "Migration": buffer writes are logged by guest address.
      if (log_ != nullptr) log_->Mark(s.gpa + offset_, n);
      offset_ += n;
      written_[chain_] += n;
      src += n;
      len -= n;
    }
  }

 private:
  const std::vector<Segment>& segments_;
  const std::vector<Chain>& chains_;
  uint32_t* written_;
  DirtyLog* log_;
  uint32_t chain_ = 0;
  uint32_t seg_ = 0;
  uint32_t offset_ = 0;
};

// Reads bytes out of a chain's readable segments in order.
class ChainReader {
 public:
  ChainReader(const std::vector<Segment>& segments, const Chain& chain)
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

  // Hands the rest of the chain to `sink` piece by piece.
  void Drain(PacketSink& sink) {
    while (seg_ < chain_.num_segments) {
      const Segment& s = segments_[chain_.first_segment + seg_];
      if (s.len > offset_) sink.Append(s.host + offset_, s.len - offset_);
      ++seg_;
      offset_ = 0;
    }
  }

 private:
  void Skip(uint32_t n) {
    offset_ += n;
    while (seg_ < chain_.num_segments && offset_ == segments_[chain_.first_segment + seg_].len) {
      ++seg_;
      offset_ = 0;
    }
  }

  const std::vector<Segment>& segments_;
  const Chain& chain_;
  uint32_t seg_ = 0;
  uint32_t offset_ = 0;
};

}  // namespace

EnqueueStatus EnqueuePacket(SplitRing& ring, const NetQueueConfig& config, PacketSource& packet,
                            uint16_t& available, QueueStats& stats, DatapathScratch& scratch) {
  auto& segments = scratch.segments;
  auto& chains = scratch.chains;
  segments.clear();
  chains.clear();
  const uint64_t need = uint64_t{config.header_size} + packet.length();
  uint64_t capacity = 0;
  std::optional<DropReason> bad;

  // Walk: gather chains until the packet fits (one chain without mergeable buffers).
  do {
    if (chains.size() == available) {
      stats.no_room.Add(1);
      return EnqueueStatus::kNoRoom;
    }
    Chain chain;
    const auto r = ring.ReadChain(static_cast<uint16_t>(chains.size()),
                                  Direction::kDeviceWritable, segments, chain);
    if (r) {
      stats.Drop(*r);
      if (ring.broken()) return EnqueueStatus::kNoRoom;
      bad = r;
      chains.push_back(chain);
      break;
    }
    chains.push_back(chain);
    capacity += chain.length;
    // 5.1.6.3.1: num_buffers is 16 bits; a guest with thousands of empty buffers cannot
    // make us gather more than the queue holds (bounded by `available`).
  } while (config.mergeable && capacity < need);
  if (!bad && capacity < need) {
    bad = DropReason::kRxBufferTooSmall;
    stats.Drop(*bad);
  }
  const auto used = static_cast<uint16_t>(chains.size());
  if (bad) {
    // The chains go back to the guest empty; the packet is consumed and counted.
    for (const Chain& c : chains) ring.PutUsed(c.head, 0);
    ring.Advance(used);
    available = static_cast<uint16_t>(available - used);
    return EnqueueStatus::kDropped;
  }

  // Copy: header (num_buffers = chains used, 5.1.6.4), then the packet.
  uint32_t written_small[64];
  std::vector<uint32_t> written_large;
  uint32_t* written = written_small;
  if (used > std::size(written_small)) {
    written_large.assign(used, 0);
    written = written_large.data();
  } else {
    std::fill_n(written_small, used, 0u);
  }
  ChainWriter writer(segments, chains, written, config.log);
  VirtioNetHdrMrgRxbuf hdr{};
  hdr.hdr = packet.header();
  hdr.num_buffers = used;
  writer.Write(reinterpret_cast<const uint8_t*>(&hdr), config.header_size);
  packet.Rewind();
  const uint8_t* data;
  uint32_t len;
  while (packet.NextPiece(data, len)) writer.Write(data, len);
  for (uint16_t i = 0; i < used; ++i) ring.PutUsed(chains[i].head, written[i]);
  ring.Advance(used);
  available = static_cast<uint16_t>(available - used);
  stats.packets.Add(1);
  stats.bytes.Add(packet.length());
  return EnqueueStatus::kDelivered;
}

uint32_t DequeuePackets(SplitRing& ring, const NetQueueConfig& config, PacketSink& sink,
                        uint32_t max_packets, QueueStats& stats, DatapathScratch& scratch) {
  uint16_t available = ring.Available(stats);
  uint32_t delivered = 0;
  uint32_t consumed = 0;
  uint64_t moved_bytes = 0;
  auto& segments = scratch.segments;
  if (available > 0) sink.Reserve(std::min<uint32_t>(available, max_packets));
  for (; consumed < max_packets && available > 0 && moved_bytes < kBurstByteWeight; ++consumed) {
    segments.clear();
    Chain chain;
    if (const auto r = ring.ReadChain(0, Direction::kDeviceReadable, segments, chain)) {
      stats.Drop(*r);
      if (ring.broken()) break;
      ring.PutUsed(chain.head, 0);
      ring.Advance(1);
      --available;
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
      // The header is read once, wherever the driver split it, into a local copy that
      // is validated and then used (CVE-2024-11614).
      uint8_t raw[sizeof(VirtioNetHdrMrgRxbuf)];
      reader.Read(raw, config.header_size);
      std::memcpy(&hdr, raw, sizeof(hdr));
      if (!NetHeaderValid(hdr, packet_len)) bad = DropReason::kBadNetHeader;
    }
    if (bad) {
      stats.Drop(*bad);
      ring.PutUsed(chain.head, 0);
      ring.Advance(1);
      --available;
      continue;
    }
    if (sink.TakeByReference(&segments[chain.first_segment], chain.num_segments,
                             config.header_size, packet_len, hdr, chain.head)) {
      ring.Advance(1);  // its used element is written when the sink is done with it
      --available;
      stats.packets.Add(1);
      stats.bytes.Add(packet_len);
      moved_bytes += packet_len;
      ++delivered;
      continue;
    }
    if (!sink.Begin(packet_len)) {
      stats.no_mbuf.Add(1);
      break;
    }
    reader.Drain(sink);
    const bool ok = sink.Finish(hdr);
    ring.PutUsed(chain.head, 0);
    ring.Advance(1);
    --available;
    if (!ok) {
      stats.Drop(DropReason::kBadNetHeader);
      continue;
    }
    stats.packets.Add(1);
    stats.bytes.Add(packet_len);
    moved_bytes += packet_len;
    ++delivered;
  }
  return delivered;
}

}  // namespace vswitch::vhost
