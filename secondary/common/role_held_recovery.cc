#include "role_held_recovery.h"

#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "log.h"
#include "names.h"

namespace vswitch {
namespace {
constexpr size_t kMaxChain = 128;  // bounds the walk over a chain a dying writer left
}  // namespace

bool RecoverHeldMbufs(Role role, SharedState& state, RoleHeldRecovery* out, std::string* error) {
  RoleHeld& held = state.held[static_cast<size_t>(role)];
  HeldJournal& j = held.journal;
  out->predecessor = j.pid.load(std::memory_order_acquire) != 0;
  if (out->predecessor) {
    rte_mempool* pool = rte_mempool_lookup(kMbufPool);
    if (pool == nullptr) {
      *error = "the primary's mbuf pool is missing (restart the group: deploy/vswitch down, then up)";
      return false;
    }
    uint32_t tail = 0;
    const auto op = static_cast<HeldOp>(j.op.load());
    if (op != HeldOp::kNone) {
      const uint32_t id = j.ring.load();
      const uint32_t d = id / 2;
      const std::string name = id % 2 == 0 ? ToVmRingName(d) : FromVmRingName(d);
      rte_ring* ring = rte_ring_lookup(name.c_str());
      if (ring == nullptr) {
        *error = "the primary has no ring " + name + " (restart the group: deploy/vswitch down, then up)";
        return false;
      }
      tail = op == HeldOp::kEnqueue ? ring->prod.tail : ring->cons.tail;
    }
    // The predecessor's pool cache: its lcore's, which is ours too (RoleLcoreId), untouched
    // since it died.
    std::span<rte_mbuf* const> cache;
    const int lcore = j.lcore.load();
    if (lcore >= 0 && lcore < RTE_MAX_LCORE) {
      rte_mempool_cache* c = rte_mempool_default_cache(pool, static_cast<unsigned>(lcore));
      if (c != nullptr) {
        cache = std::span<rte_mbuf* const>(reinterpret_cast<rte_mbuf* const*>(c->objs),
                                           std::min<uint32_t>(c->len, RTE_DIM(c->objs)));
      }
    }
    out->plan = PlanHeldRecovery(held, tail, cache);
    // A segment linked into a named chain is freed with its head (a chain being built:
    // vswitch-vhost's packet builder names a zero-copy chain's spares until the head is
    // named).
    std::vector<rte_mbuf*>& named = out->plan.to_free;
    std::sort(named.begin(), named.end());
    std::vector<rte_mbuf*> linked;
    for (rte_mbuf* m : named) {
      for (rte_mbuf* s = m->next; s != nullptr && linked.size() < named.size() * kMaxChain; s = s->next) {
        if (std::binary_search(named.begin(), named.end(), s)) linked.push_back(s);
      }
    }
    std::sort(linked.begin(), linked.end());
    std::erase_if(named, [&](rte_mbuf* m) { return std::binary_search(linked.begin(), linked.end(), m); });
    for (rte_mbuf* m : named) rte_pktmbuf_free(m);
    if (!out->plan.to_free.empty()) {
      j.recoveries.fetch_add(1);
      j.recovered.fetch_add(out->plan.to_free.size());
    }
  }
  // Empty for this instance.
  j.op.store(static_cast<uint32_t>(HeldOp::kNone));
  for (HeldList& l : held.lists) std::memset(static_cast<void*>(l.slots), 0, sizeof(l.slots));
  j.lcore.store(static_cast<int32_t>(rte_lcore_id()));
  j.pid.store(static_cast<int32_t>(getpid()), std::memory_order_release);
  return true;
}

}  // namespace vswitch
