// The RX-ring enqueue (host to guest) as a template over the packet source, so the
// library's mbuf source is called directly on the hot path while tests and fuzzers use
// the PacketSource interface (net_datapath.h: EnqueuePackets). Walk first (validate and
// plan every chain of the burst), copy second.
#pragma once

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <vector>

#include "copy_bytes.h"
#include "net_datapath.h"

namespace vswitch::vhost {
namespace enqueue_detail {

// VIRTIO 1.1 2.4: the header's fields are little-endian, as in memory here, so
// StoreHeader stores the host's representation as it is.
static_assert(std::endian::native == std::endian::little);

// Stores the header at the start of `s`, which holds it whole.
inline void StoreHeader(const Segment& s, const VirtioNetHdr& h, uint16_t num_buffers,
                        uint32_t header_size, DirtyLog* log) {
  // The header as its two words (bytes 0-7 and 8-9), loaded at the offsets and sizes it
  // was stored with, so even a spilled copy forwards from the store buffer.
  uint64_t lo;
  uint16_t csum_offset;
  std::memcpy(&lo, &h, sizeof(lo));
  std::memcpy(&csum_offset, reinterpret_cast<const uint8_t*>(&h) + sizeof(lo), sizeof(csum_offset));
  const uint32_t hi = uint32_t{csum_offset} | uint32_t{num_buffers} << 16;
  const uint32_t hi_size = header_size - sizeof(lo);  // 4, or 2 for the legacy header
  // A buffer the driver recycles usually holds the same header already (no offload,
  // num_buffers 1), and the driver has just read that line: it is shared between the
  // two cores, and a store would have to take it back from the driver's core. Store
  // only what differs. The guest racing its own buffer only garbles its own packet.
  // While migrating, every written byte is stored and logged as it is.
  // (Fixed-size copies for the two sizes: a variable-size memcpy is a libc call.)
  uint64_t old_lo = 0;
  uint32_t old_hi = 0;
  if (log == nullptr) {
    std::memcpy(&old_lo, s.host, sizeof(old_lo));
    if (hi_size == 4) {
      std::memcpy(&old_hi, s.host + sizeof(lo), 4);
    } else {
      uint16_t old16;
      std::memcpy(&old16, s.host + sizeof(lo), 2);
      old_hi = old16;
    }
  }
  if (log != nullptr || old_lo != lo) std::memcpy(s.host, &lo, sizeof(lo));
  if (log != nullptr || old_hi != (hi_size == 4 ? hi : (hi & 0xffff))) {
    if (hi_size == 4) {
      std::memcpy(s.host + sizeof(lo), &hi, 4);
    } else {
      const auto hi16 = static_cast<uint16_t>(hi);
      std::memcpy(s.host + sizeof(lo), &hi16, 2);
    }
  }
  if (log != nullptr) log->Mark(s.gpa, header_size);
}

// Streams bytes into the writable segments of consecutive chains, counting what each
// chain received (its used length). The count of the chain being written stays in a
// member (a register) and is stored once, when the writer moves on or finishes; a
// zeroed array updated in place made every packet re-read a value memset had just
// stored, a load the store buffer cannot forward.
class ChainWriter {
 public:
  ChainWriter(const SegmentList& segments, const Chain* chains, uint32_t* written,
              DirtyLog* log)
      : segments_(segments), chains_(chains), written_(written), log_(log) {}

  // Writes the virtio-net header (the first bytes of the first chain). Straight from
  // registers when the first segment holds it: building it on the stack and copying it
  // with memcpy makes the copy's loads span the smaller stores that built it, and a load
  // that cannot be forwarded from the store buffer waits for every older store to reach
  // the cache, here the previous packets' stores into guest lines the driver's core
  // owns. That wait serialised the burst (perf: half the enqueue time on one load).
  void WriteHeader(const VirtioNetHdr& h, uint16_t num_buffers, uint32_t header_size) {
    const Segment& s = segments_[chains_[0].first_segment];
    if (chains_[0].num_segments == 0 || s.len < header_size) {
      VirtioNetHdrMrgRxbuf full{h, num_buffers};
      uint8_t raw[sizeof(full)];
      std::memcpy(raw, &full, sizeof(full));
      Write(raw, header_size);
      return;
    }
    StoreHeader(s, h, num_buffers, header_size, log_);
    offset_ = header_size;
    cur_written_ += header_size;
  }


  // Stores the used lengths of all `num_chains` chains (0 for any not reached).
  void Finish(uint32_t num_chains) {
    for (uint32_t c = chain_; c < num_chains; ++c) {
      written_[c] = c == chain_ ? cur_written_ : 0;
    }
  }

  // The caller has checked that the chains hold at least everything written.
  void Write(const uint8_t* src, uint32_t len) {
    while (len > 0) {
      const Chain& c = chains_[chain_];
      if (seg_ == c.num_segments) {
        written_[chain_] = cur_written_;
        cur_written_ = 0;
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
      CopyBytes(s.host + offset_, src, n);
      // vhost-user.rst "Migration": buffer writes are logged by guest address.
      if (log_ != nullptr) log_->Mark(s.gpa + offset_, n);
      offset_ += n;
      cur_written_ += n;
      src += n;
      len -= n;
    }
  }

 private:
  const SegmentList& segments_;
  const Chain* chains_;
  uint32_t* written_;
  uint32_t cur_written_ = 0;
  DirtyLog* log_;
  uint32_t chain_ = 0;
  uint32_t seg_ = 0;
  uint32_t offset_ = 0;
};

// What the walk decided for one packet of a burst: its chains are
// chains[first_chain, first_chain + num_chains).
// All fields 32 bits: a 16-bit field stored and then re-read as part of a wider load
// cannot be forwarded from the store buffer, and that load waits behind the previous
// packets' stores into guest memory (perf saw the burst serialise on exactly that).
struct PlannedPacket {
  uint32_t first_chain;
  uint32_t num_chains;
  uint32_t drop;
};

// Copies one planned packet: header (num_buffers = chains used, 5.1.6.4), then the
// packet's bytes; the used lengths go to scratch.written.
template <class Source>
void CopyPlanned(const NetQueueConfig& config, Source& packet,
                 const PlannedPacket& plan, DatapathScratch& scratch) {
  uint32_t* written = scratch.written.data() + plan.first_chain;
  // Short path: one contiguous packet into one buffer (a one-segment chain holds
  // capacity >= header + packet, as planned), which is what small frames always are.
  const Chain& first = scratch.chains[plan.first_chain];
  const uint8_t* data;
  if (plan.num_chains == 1 && first.num_segments == 1 && packet.SinglePiece(data)) {
    const Segment& s = scratch.segments[first.first_segment];
    const uint32_t len = packet.length();
    StoreHeader(s, packet.header(), 1, config.header_size, config.log);
    CopyBytes(s.host + config.header_size, data, len);
    if (config.log != nullptr) config.log->Mark(s.gpa + config.header_size, len);
    written[0] = config.header_size + len;
    return;
  }
  ChainWriter writer(scratch.segments, scratch.chains.data() + plan.first_chain, written, config.log);
  writer.WriteHeader(packet.header(), static_cast<uint16_t>(plan.num_chains), config.header_size);
  packet.Rewind();
  uint32_t len;
  while (packet.NextPiece(data, len)) writer.Write(data, len);
  writer.Finish(plan.num_chains);
}

}  // namespace enqueue_detail

// EnqueuePackets (net_datapath.h) over any packet source type. With a final class
// (MbufSource) the per-packet header/length/piece calls are direct and inlined.
// `Ring` is SplitRing or PackedRing: the walk, the checks and the used write-back are the
// ring's; the plan and the copies here do not depend on the layout.
template <class Ring, class Source>
[[nodiscard]] uint32_t EnqueuePacketsOf(Ring& ring, const NetQueueConfig& config,
                                        Source* const* packets, uint32_t count, uint16_t& available,
                                        QueueStats& stats, DatapathScratch& scratch,
                                        EnqueueStatus* status) {
  using namespace enqueue_detail;
  auto& segments = scratch.segments;
  auto& chains = scratch.chains;
  segments.clear();
  chains.clear();
  PlannedPacket plans[kMaxBurst];
  count = std::min(count, kMaxBurst);

  // Walk: for each packet, gather chains until it fits (one chain without mergeable
  // buffers). Chains are read at increasing offsets from last_avail_idx; nothing is
  // consumed until the copies are made.
  // The chain count in a local: chains.size() is re-read from memory after every store
  // the walk makes (the compiler cannot tell the vector apart from what is stored).
  uint32_t nchains = 0;
  uint32_t planned = 0;
  bool no_room = false;
  for (; planned < count; ++planned) {
    const uint64_t need = uint64_t{config.header_size} + packets[planned]->length();
    const uint32_t first_chain = nchains;
    uint64_t capacity = 0;
    std::optional<DropReason> bad;
    do {
      if (nchains == available) {
        no_room = true;
        break;
      }
      // Read straight into the vector: a Chain built on the stack and then copied is
      // re-read with 16-byte loads spanning the ReadChain's narrower stores, which the
      // store buffer cannot forward (perf: 8% of guest RX time on that one load).
      Chain& chain = chains.emplace_back();
      const auto r = ring.ReadChain(static_cast<uint16_t>(nchains), Direction::kDeviceWritable,
                                    segments, chain);
      if (r) {
        stats.Drop(*r);
        if (ring.broken()) {
          chains.pop_back();
          break;
        }
        ++nchains;
        bad = r;
        break;
      }
      ++nchains;
      // The copy stores into this buffer soon: start taking its cache line now.
      if (chain.num_segments > 0) __builtin_prefetch(segments[chain.first_segment].host, 1);
      capacity += chain.length;
      // 5.1.6.3.1: num_buffers is 16 bits; a guest with thousands of empty buffers cannot
      // make us gather more than the queue holds (bounded by `available`).
    } while (config.mergeable && capacity < need);
    if (no_room || (ring.broken() && !bad)) {
      // Not consumed: the packet waits for the guest (or the queue stopped).
      chains.resize(first_chain);
      nchains = first_chain;
      break;
    }
    if (!bad && capacity < need) {
      bad = DropReason::kRxBufferTooSmall;
      stats.Drop(*bad);
    }
    plans[planned] = {first_chain, nchains - first_chain, bad.has_value() ? 1u : 0u};
  }
  if (no_room) stats.no_room.Add(1);

  // Copy, in avail order (VIRTIO_F_IN_ORDER holds: chains are used as they were read).
  scratch.written.resize(nchains);
  for (uint32_t i = 0; i < planned; ++i) {
    const PlannedPacket& plan = plans[i];
    if (plan.drop) {
      // The chains go back to the guest empty; the packet is consumed and counted.
      std::fill_n(scratch.written.data() + plan.first_chain, plan.num_chains, 0u);
      status[i] = EnqueueStatus::kDropped;
      continue;
    }
    CopyPlanned(config, *packets[i], plan, scratch);
    stats.packets.Add(1);
    stats.bytes.Add(packets[i]->length());
    status[i] = EnqueueStatus::kDelivered;
  }
  // The used elements, all together after the copies (as DPDK's shadow used ring
  // does): the used ring's lines are taken from the driver's core once per burst instead
  // of between every two packets' copies.
  const Chain* chain_list = chains.data();
  const uint32_t* written = scratch.written.data();
  for (uint32_t c = 0; c < nchains; ++c) ring.PutUsed(chain_list[c].head, written[c]);
  const auto used = static_cast<uint16_t>(nchains);
  ring.Advance(used);
  available = static_cast<uint16_t>(available - used);
  return planned;
}

}  // namespace vswitch::vhost
