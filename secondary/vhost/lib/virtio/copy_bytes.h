// The datapath's byte copy for packet data.
#pragma once

#include <cstdint>
#include <cstring>

namespace vswitch::vhost {

// Small copies in 16-byte SSE moves (the last one overlapping), larger ones by memcpy.
// glibc picks its AVX-512 memmove on this machine's Xeons; 512-bit stores can lower the
// core's clock for everything that follows, a poor trade for a 64-byte frame (paired
// runs at 64 B guest RX: a small gain within the machine's noise). rte_memcpy does the
// same, but the virtqueue engine stays free of DPDK headers (tests and fuzzers build it
// over heap memory).
inline void CopyBytes(uint8_t* dst, const uint8_t* src, uint32_t n) {
  if (n > 256 || n < 16) {
    std::memcpy(dst, src, n);
    return;
  }
  uint32_t i = 0;
  for (; i + 16 <= n; i += 16) __builtin_memcpy(dst + i, src + i, 16);
  if (i < n) __builtin_memcpy(dst + n - 16, src + n - 16, 16);
}

}  // namespace vswitch::vhost
