#include "mbuf_packet.h"

#include <rte_ip.h>
#include <rte_net.h>

#include <algorithm>
#include <cstring>

#include "feature_bits.h"

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

bool HeaderFromMbuf(const rte_mbuf* m, uint64_t features, VirtioNetHdr& hdr) {
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
  const uint8_t gso = hdr.gso_type & ~kNetHdrGsoEcn;
  if ((hdr.flags & kNetHdrFlagNeedsCsum) == 0 && gso == kNetHdrGsoNone) return true;
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

bool MbufSource::NextPiece(const uint8_t*& data, uint32_t& len) {
  while (cur_ != nullptr && cur_->data_len == 0) cur_ = cur_->next;
  if (cur_ == nullptr) return false;
  data = rte_pktmbuf_mtod(cur_, const uint8_t*);
  len = cur_->data_len;
  cur_ = cur_->next;
  return true;
}

MbufSink::~MbufSink() {
  if (head_ != nullptr) rte_pktmbuf_free(head_);
}

bool MbufSink::Begin(uint32_t length) {
  if (count_ >= capacity_) return false;
  const uint32_t room = rte_pktmbuf_data_room_size(pool_) - RTE_PKTMBUF_HEADROOM;
  if (room == 0) return false;
  const uint32_t nsegs = std::max<uint32_t>(1, (length + room - 1) / room);
  if (nsegs > kMaxSegments) return false;
  rte_mbuf* segs[kMaxSegments];
  if (rte_pktmbuf_alloc_bulk(pool_, segs, nsegs) != 0) return false;
  for (uint32_t i = 0; i + 1 < nsegs; ++i) segs[i]->next = segs[i + 1];
  head_ = segs[0];
  head_->nb_segs = static_cast<uint16_t>(nsegs);
  head_->pkt_len = length;
  cur_ = head_;
  return true;
}

void MbufSink::Append(const uint8_t* data, uint32_t len) {
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

bool MbufSink::Finish(const VirtioNetHdr& header) {
  rte_mbuf* m = head_;
  head_ = nullptr;
  cur_ = nullptr;
  if (!ApplyHeaderToMbuf(header, m)) {
    rte_pktmbuf_free(m);
    return false;
  }
  out_[count_++] = m;
  return true;
}

}  // namespace vswitch::vhost
