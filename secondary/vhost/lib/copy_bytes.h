// The datapath's byte copy for packet data.
#pragma once

#include <emmintrin.h>

#include <cstdint>
#include <cstring>
#include <utility>

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

// A copy of a size known at compile time, in 16-byte SSE moves. GCC's generic tuning
// expands a fixed 128-byte memcpy (or a loop of 16-byte moves through a local array)
// into `rep movsl`, whose start-up cost was a quarter of the zero-copy path's own
// function (perf, 1518 B guest TX on AMD EPYC); one load/store pair per 16 bytes,
// unrolled by the pack expansion, keeps it out.
template <size_t... I>
inline void CopyFixedMoves(uint8_t* dst, const uint8_t* src, std::index_sequence<I...>) {
  (_mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16 * I),
                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 16 * I))),
   ...);
}
template <uint32_t N>
inline void CopyFixed(uint8_t* dst, const uint8_t* src) {
  static_assert(N > 0 && N % 16 == 0, "whole 16-byte moves");
  CopyFixedMoves(dst, src, std::make_index_sequence<N / 16>{});
}

}  // namespace vswitch::vhost
