// ParseFrame (ethernet_frame.h) over an mbuf: the header bytes wherever its segments put
// them, and the tag the port stripped. Used by vswitch-switching for every frame and by
// vswitch-vhost to decide a direct guest-to-guest delivery (direct_route.h).
#pragma once

#include <rte_mbuf.h>

#include <algorithm>

#include "ethernet_frame.h"

namespace vswitch {

[[nodiscard]] inline FrameInfo ParseMbuf(const rte_mbuf* m) {
  uint8_t copy[kParseBytes];
  const uint32_t n = std::min<uint32_t>(kParseBytes, m->pkt_len);
  const auto* head = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, n, copy));
  const bool stripped = (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) != 0;
  return ParseFrame({head, head == nullptr ? 0 : n}, m->pkt_len, stripped, m->vlan_tci);
}

}  // namespace vswitch
