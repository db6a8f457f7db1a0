#include "mbuf_packet.h"

#include <rte_ip.h>
#include <rte_memcpy.h>
#include <rte_net.h>

#include <algorithm>
#include <cstring>

#include "feature_bits.h"
#include "named_mempool.h"

namespace vswitch::vhost {
namespace {

constexpr uint16_t kTcpCsumOffset = 16;   // offsetof(struct rte_tcp_hdr, cksum)
constexpr uint16_t kUdpCsumOffset = 6;    // offsetof(struct rte_udp_hdr, dgram_cksum)
constexpr uint16_t kSctpCsumOffset = 8;   // offsetof(struct rte_sctp_hdr, cksum)
constexpr uint32_t kMaxSegments = 64;

// Writes a 16-bit value at byte `offset` of the packet, across segment boundaries.
bool WriteU16(rte_mbuf* m, uint32_t offset, uint16_t value) {
  uint8_t bytes[2];
  std::memcpy(bytes, &value, 2);
  for (int i = 0; i < 2; ++i) {
    uint32_t off = offset + i;
    rte_mbuf* seg = m;
    while (seg != nullptr && off >= seg->data_len) {
      off -= seg->data_len;
      seg = seg->next;
    }
    if (seg == nullptr) return false;
    *rte_pktmbuf_mtod_offset(seg, uint8_t*, off) = bytes[i];
  }
  return true;
}

}  // namespace

bool HeaderFromMbufOffloads(const rte_mbuf* m, uint64_t features, VirtioNetHdr& hdr) {
  hdr = VirtioNetHdr{};
  const uint64_t ol = m->ol_flags;
  const uint16_t l4_start = static_cast<uint16_t>(m->l2_len + m->l3_len);
  if ((ol & RTE_MBUF_F_TX_TCP_SEG) != 0) {
    const bool v6 = (ol & RTE_MBUF_F_TX_IPV6) != 0;
    if (!Has(features, v6 ? feature::kNetGuestTso6 : feature::kNetGuestTso4)) return false;
    hdr.gso_type = v6 ? kNetHdrGsoTcpv6 : kNetHdrGsoTcpv4;
    hdr.gso_size = m->tso_segsz;
    hdr.hdr_len = static_cast<uint16_t>(l4_start + m->l4_len);
    hdr.flags = kNetHdrFlagNeedsCsum;
    hdr.csum_start = l4_start;
    hdr.csum_offset = kTcpCsumOffset;
    return true;
  }
  if ((ol & RTE_MBUF_F_TX_UDP_SEG) != 0) return false;  // GUEST_UFO is not offered
  uint16_t csum_offset = 0;
  switch (ol & RTE_MBUF_F_TX_L4_MASK) {
    case RTE_MBUF_F_TX_TCP_CKSUM: csum_offset = kTcpCsumOffset; break;
    case RTE_MBUF_F_TX_UDP_CKSUM: csum_offset = kUdpCsumOffset; break;
    case RTE_MBUF_F_TX_SCTP_CKSUM: csum_offset = kSctpCsumOffset; break;
    default: break;
  }
  if (csum_offset != 0) {
    if (!Has(features, feature::kNetGuestCsum)) return false;
    hdr.flags = kNetHdrFlagNeedsCsum;
    hdr.csum_start = l4_start;
    hdr.csum_offset = csum_offset;
  } else if ((ol & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD &&
             Has(features, feature::kNetGuestCsum)) {
    hdr.flags = kNetHdrFlagDataValid;
  }
  return true;
}

bool ApplyHeaderToMbuf(const VirtioNetHdr& hdr, rte_mbuf* m) {
  if (!HeaderAsksOffload(hdr)) return true;
  const uint8_t gso = hdr.gso_type & ~kNetHdrGsoEcn;
  rte_net_hdr_lens lens{};
  const uint32_t ptype =
      rte_net_get_ptype(m, &lens, RTE_PTYPE_L2_MASK | RTE_PTYPE_L3_MASK | RTE_PTYPE_L4_MASK);
  m->packet_type = ptype;
  m->l2_len = lens.l2_len;
  m->l3_len = lens.l3_len;
  m->l4_len = lens.l4_len;
  uint64_t ol = 0;
  if (RTE_ETH_IS_IPV4_HDR(ptype)) ol |= RTE_MBUF_F_TX_IPV4;
  if (RTE_ETH_IS_IPV6_HDR(ptype)) ol |= RTE_MBUF_F_TX_IPV6;
  const uint32_t l4 = ptype & RTE_PTYPE_L4_MASK;
  const bool at_l4 = hdr.csum_start == lens.l2_len + lens.l3_len;
  if ((hdr.flags & kNetHdrFlagNeedsCsum) != 0) {
    if (at_l4 && l4 == RTE_PTYPE_L4_TCP && hdr.csum_offset == kTcpCsumOffset) {
      ol |= RTE_MBUF_F_TX_TCP_CKSUM;
    } else if (at_l4 && l4 == RTE_PTYPE_L4_UDP && hdr.csum_offset == kUdpCsumOffset) {
      ol |= RTE_MBUF_F_TX_UDP_CKSUM;
    } else {
      // 5.1.6.2: "the checksum ... from csum_start to the end of the packet, stored at
      // csum_start + csum_offset"; no offload flag fits, so finish it here. The bounds
      // were checked against the packet length (NetHeaderValid).
      uint16_t sum = 0;
      if (rte_raw_cksum_mbuf(m, hdr.csum_start, m->pkt_len - hdr.csum_start, &sum) != 0) {
        return false;
      }
      uint16_t csum = static_cast<uint16_t>(~sum);
      if (csum == 0 && l4 == RTE_PTYPE_L4_UDP) csum = 0xffff;
      if (!WriteU16(m, uint32_t{hdr.csum_start} + hdr.csum_offset, csum)) return false;
    }
  }
  switch (gso) {
    case kNetHdrGsoNone:
      break;
    case kNetHdrGsoTcpv4:
    case kNetHdrGsoTcpv6:
      if (l4 != RTE_PTYPE_L4_TCP) return false;
      ol |= RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM;
      m->tso_segsz = hdr.gso_size;
      break;
    case kNetHdrGsoUdp:
      if (l4 != RTE_PTYPE_L4_UDP) return false;
      ol |= RTE_MBUF_F_TX_UDP_SEG;
      m->tso_segsz = hdr.gso_size;
      break;
    default:
      return false;
  }
  m->ol_flags |= ol;
  return true;
}

MbufSink::~MbufSink() {
  if (head_ != nullptr) {
    rte_pktmbuf_free(head_);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    out_[count_] = nullptr;
  }
  // Freed and cleared in the order named_mempool.h argues.
  if (spare_pos_ < spare_end_) FreeNamed(spare_ + spare_pos_, spare_end_ - spare_pos_);
  if (zc_ != nullptr && count_ > 0) zc_->set_last_burst_by_reference(by_reference_);
}

void MbufSink::Reserve(uint32_t packets) {
  // A zero-copy packet takes two mbufs (the copied head and one external buffer), a
  // copied one takes one: reserve for as many zero-copy packets as the last call had,
  // so a queue of small frames does not allocate twice what it uses.
  const uint32_t want = std::min(packets, capacity_ - count_);
  const uint32_t extra = zc_ != nullptr ? std::min(want, zc_->last_burst_by_reference()) : 0;
  const uint32_t n = std::min(want + extra, kSpare);
  if (spare_pos_ < spare_end_ || n == 0) return;
  // One bulk allocation for the burst instead of one per packet; when the pool cannot
  // give them all, Begin falls back to allocating per packet.
  if (AllocNamed(pool_, spare_, n) == 0) {
    spare_pos_ = 0;
    spare_end_ = n;
  }
}

bool MbufSink::BeginChain(uint32_t length) {
  if (room_ == 0) return false;
  const uint32_t nsegs = std::max<uint32_t>(1, (length + room_ - 1) / room_);
  if (nsegs > kMaxSegments) return false;
  rte_mbuf* segs[kMaxSegments];
  if (rte_pktmbuf_alloc_bulk(pool_, segs, nsegs) != 0) return false;
  for (uint32_t i = 0; i + 1 < nsegs; ++i) segs[i]->next = segs[i + 1];
  head_ = segs[0];
  out_[count_] = head_;
  head_->nb_segs = static_cast<uint16_t>(nsegs);
  head_->pkt_len = length;
  cur_ = head_;
  return true;
}

void MbufSink::AppendChain(const uint8_t* data, uint32_t len) {
  while (len > 0 && cur_ != nullptr) {
    const uint32_t room = rte_pktmbuf_tailroom(cur_);
    if (room == 0) {
      cur_ = cur_->next;
      continue;
    }
    const uint32_t n = std::min(room, len);
    std::memcpy(rte_pktmbuf_mtod_offset(cur_, uint8_t*, cur_->data_len), data, n);
    cur_->data_len = static_cast<uint16_t>(cur_->data_len + n);
    data += n;
    len -= n;
  }
}

void MbufSink::LookUpRegion(uint64_t gpa) {
  region_base_ = 0;
  region_size_ = 0;
  uint64_t base = 0, size = 0;
  const std::shared_ptr<GuestMapping>* found = table_ != nullptr ? table_->MappingAt(gpa, base, size) : nullptr;
  const std::shared_ptr<GuestMapping>* keep = (found != nullptr && *found != nullptr) ? found : nullptr;
  // With a sharer, each mapping must be one the transmitting process has mapped at the
  // same address.
  const MappingSharer* sharer = table_ != nullptr ? table_->sharer() : nullptr;
  region_shared_ = sharer == nullptr || (keep != nullptr && sharer->Shared(**keep));
  region_keep_ = keep;
  if (found != nullptr) {
    region_base_ = base;
    region_size_ = size;
  }
}

bool MbufSink::TakeByReferenceSlow(const Segment* segments, uint32_t count, uint32_t offset,
                                   uint32_t length, const VirtioNetHdr& header, uint16_t head) {
  if (!zc_->enabled()) return false;
  if (length < zc_->threshold() || length <= kCopiedHead) {
    return Copy(ZeroCopyCopyReason::kBelowThreshold);
  }
  if (count_ >= capacity_) return false;  // the burst is full: the chain stays in the ring
  if (!zc_->HasRoom()) return Copy(ZeroCopyCopyReason::kCapReached);
  // The pieces of the packet after its first kCopiedHead bytes.
  struct Piece {
    uint8_t* host;
    uint32_t len;
    uint64_t gpa;
  };
  Piece pieces[kMaxSegments];
  uint32_t npieces = 0;
  uint32_t skip = offset + kCopiedHead;
  for (uint32_t i = 0; i < count; ++i) {
    const Segment& s = segments[i];
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    // An external buffer's length is 16 bits; more pieces than an mbuf chain holds, or
    // a piece too long: copy instead.
    if (npieces + 1 >= kMaxSegments || s.len - skip > UINT16_MAX) return Copy(ZeroCopyCopyReason::kOther);
    pieces[npieces++] = {s.host + skip, s.len - skip, s.gpa + skip};
    skip = 0;
  }
  if (npieces == 0) return Copy(ZeroCopyCopyReason::kOther);
  ZeroCopySlot* slot = zc_->Acquire(head);
  if (slot == nullptr) return Copy(ZeroCopyCopyReason::kOther);  // head already in flight
  // Keep the mappings (at most two regions) until the buffers are freed.
  for (uint32_t i = 0; i < npieces; ++i) {
    // A piece lies in one region (the walk splits at region boundaries), found by its
    // start; the burst's packets are nearly always in the region of the one before.
    if (pieces[i].gpa - region_base_ >= region_size_) LookUpRegion(pieces[i].gpa);
    if (!region_shared_) {
      zc_->Cancel(slot);
      return Copy(ZeroCopyCopyReason::kRegionNotShared);
    }
    const std::shared_ptr<GuestMapping>* keep = region_keep_;
    if (keep == nullptr) continue;
    if (!zc_->Keep(slot, *keep)) {
      zc_->Cancel(slot);
      return Copy(ZeroCopyCopyReason::kOther);
    }
  }
  rte_mbuf* segs[kMaxSegments];
  // Spares stay named in their slots until the chain is named in out_ (a recovery frees
  // a chain from its head and skips the segments it reaches).
  uint32_t spares_taken = 0;
  if (spare_end_ - spare_pos_ >= npieces + 1) {
    // From the burst's bulk allocation (Reserve), like the copied packets.
    for (uint32_t i = 0; i <= npieces; ++i) segs[i] = spare_[spare_pos_ + i];
    spares_taken = npieces + 1;
  } else if (rte_pktmbuf_alloc_bulk(pool_, segs, npieces + 1) != 0) {
    zc_->Cancel(slot);
    return Copy(ZeroCopyCopyReason::kOther);
  }
  // First segment: a copy of the headers (safe from the guest rewriting them).
  rte_mbuf* m = segs[0];
  uint8_t* dst = rte_pktmbuf_mtod(m, uint8_t*);
  uint32_t want = kCopiedHead;
  skip = offset;
  if (segments[0].len >= offset + kCopiedHead) {
    // The usual layout, header and headers in the first buffer: a fixed-size copy in
    // vector moves. (GCC's generic tuning expands a fixed 128-byte memcpy into `rep
    // movsl`, whose start-up cost was a quarter of this function's samples under perf.)
    static_assert(kCopiedHead == 128);
    rte_mov128(dst, segments[0].host + offset);
    want = 0;
  }
  for (uint32_t i = 0; i < count && want > 0; ++i) {
    const Segment& s = segments[i];
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const uint32_t n = std::min(s.len - skip, want);
    std::memcpy(dst, s.host + skip, n);
    dst += n;
    want -= n;
    skip = 0;
  }
  m->data_len = static_cast<uint16_t>(kCopiedHead);
  m->pkt_len = length;
  m->nb_segs = static_cast<uint16_t>(npieces + 1);
  static const bool iova_va = rte_eal_iova_mode() == RTE_IOVA_VA;
  ZeroCopyQueue::Arm(slot, static_cast<uint16_t>(npieces));
  rte_mbuf* prev = m;
  for (uint32_t i = 0; i < npieces; ++i) {
    rte_mbuf* e = segs[i + 1];
    const rte_iova_t iova =
        iova_va ? static_cast<rte_iova_t>(reinterpret_cast<uintptr_t>(pieces[i].host)) : RTE_BAD_IOVA;
    rte_pktmbuf_attach_extbuf(e, pieces[i].host, iova, static_cast<uint16_t>(pieces[i].len),
                              &slot->shared->shinfo);
    e->data_off = 0;
    e->data_len = static_cast<uint16_t>(pieces[i].len);
    prev->next = e;
    prev = e;
  }
  if (HeaderAsksOffload(header) && !ApplyHeaderToMbuf(header, m)) {
    rte_pktmbuf_free(m);  // drops every piece's reference: refcnt is back to ours
    std::atomic_signal_fence(std::memory_order_seq_cst);
    for (uint32_t i = 0; i < spares_taken; ++i) spare_[spare_pos_++] = nullptr;
    zc_->Cancel(slot);
    (void)Copy(ZeroCopyCopyReason::kOther);
    return false;  // the copy path drops and counts it
  }
  if (stats_ != nullptr) stats_->zero_copy.Add(1);
  ++by_reference_;
  out_[count_] = m;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  for (uint32_t i = 0; i < spares_taken; ++i) spare_[spare_pos_++] = nullptr;
  ++count_;
  return true;
}

}  // namespace vswitch::vhost
