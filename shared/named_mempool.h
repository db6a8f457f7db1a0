// Mbufs taken from and given back to this lcore's mempool cache in the order a ledger
// (held_mbufs.h) needs when its process can be killed at any instruction.
//
// DPDK 22.11's cache get lowers the cache's length and then copies the objects out; its
// put raises the length and then copies them in. A kill between the two loses the
// objects (get) or leaves stale pointers in the cache that the next get hands out while
// they are in use (put). Here the copy comes first and the length moves after, so at every
// instant an mbuf is in the cache's counted part, or named by the caller's slots, or
// both; and held_recovery.h frees an mbuf that is named and not in the counted part, and
// leaves one that is in it. What needs the pool's shared ring (refilling an empty cache,
// flushing a full one) is DPDK's own code, with its own windows: once per cache size of
// mbufs at most (docs/architecture.md, "Mbufs a killed role held").
#pragma once

#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <atomic>

namespace vswitch {

// rte_pktmbuf_alloc_bulk into `slots`; on failure every slot is null.
[[nodiscard]] inline int AllocNamed(rte_mempool* mp, rte_mbuf** slots, unsigned n) {
  rte_mempool_cache* c = rte_mempool_default_cache(mp, rte_lcore_id());
  unsigned k = 0;
  if (c != nullptr) {
    k = std::min<unsigned>(n, c->len);
    // The cache is a stack: take from the top, as DPDK does.
    for (unsigned i = 0; i < k; ++i) slots[i] = static_cast<rte_mbuf*>(c->objs[c->len - 1 - i]);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    c->len -= k;
  }
  if (k < n && rte_mempool_get_bulk(mp, reinterpret_cast<void**>(slots + k), n - k) != 0) {
    rte_mempool_put_bulk(mp, reinterpret_cast<void* const*>(slots), k);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    std::fill_n(slots, n, nullptr);
    return -ENOENT;
  }
  for (unsigned i = 0; i < n; ++i) rte_pktmbuf_reset(slots[i]);
  return 0;
}

// Frees `n` mbufs named by `slots` and clears the slots.
inline void FreeNamed(rte_mbuf** slots, unsigned n) {
  if (n == 0) return;
  rte_mempool* mp = slots[0]->pool;
  rte_mempool_cache* c = rte_mempool_default_cache(mp, rte_lcore_id());
  // Plain mbufs (one segment, this reference the last, this pool) go into the cache
  // here; any other (a chain, an external or shared buffer), and a cache that would
  // pass its flush threshold, go DPDK's way.
  bool plain = c != nullptr && c->len + n <= c->flushthresh;
  for (unsigned i = 0; plain && i < n; ++i) {
    const rte_mbuf* m = slots[i];
    plain = m->pool == mp && m->nb_segs == 1 && m->next == nullptr && RTE_MBUF_DIRECT(m) &&
            rte_mbuf_refcnt_read(m) == 1;
  }
  if (!plain) {
    rte_pktmbuf_free_bulk(slots, n);
  } else {
    for (unsigned i = 0; i < n; ++i) c->objs[c->len + i] = slots[i];
    std::atomic_signal_fence(std::memory_order_seq_cst);
    c->len += n;
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  for (unsigned i = 0; i < n; ++i) slots[i] = nullptr;
}

}  // namespace vswitch
