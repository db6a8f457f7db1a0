#include "held_recovery.h"

#include <algorithm>

namespace vswitch {

HeldRecoveryPlan PlanHeldRecovery(const RoleHeld& held, uint32_t tail_now, std::span<rte_mbuf* const> cache) {
  HeldRecoveryPlan plan;
  const HeldJournal& j = held.journal;
  const auto op = static_cast<HeldOp>(j.op.load(std::memory_order_acquire));
  const uint32_t jl = j.list.load();
  const uint32_t first = std::min(j.first.load(), kHeldListSlots);
  const uint32_t count = std::min(j.count.load(), kHeldListSlots - first);
  uint32_t moved = tail_now - j.tail_before.load();  // ring indexes wrap at 2^32
  if (op != HeldOp::kNone && moved > count) {
    plan.journal_clamped = true;
    moved = count;
  }
  const bool journaled = op != HeldOp::kNone && jl < kHeldLists;

  std::vector<rte_mbuf*> published;
  if (journaled && op == HeldOp::kEnqueue) {
    for (uint32_t i = first; i < first + moved; ++i) {
      if (held.lists[jl].slots[i] != nullptr) published.push_back(held.lists[jl].slots[i]);
    }
    std::sort(published.begin(), published.end());
  }
  std::vector<rte_mbuf*> named;
  for (uint32_t l = 0; l < kHeldLists; ++l) {
    for (uint32_t i = 0; i < kHeldListSlots; ++i) {
      rte_mbuf* m = held.lists[l].slots[i];
      if (m == nullptr) continue;
      if (journaled && op == HeldOp::kDequeue && l == jl && i >= first + moved) {
        ++plan.not_taken;
        continue;
      }
      if (std::binary_search(published.begin(), published.end(), m)) {
        ++plan.published;
        continue;
      }
      named.push_back(m);
    }
  }
  std::sort(named.begin(), named.end());
  const auto end = std::unique(named.begin(), named.end());
  plan.duplicates = static_cast<uint32_t>(named.end() - end);
  named.erase(end, named.end());
  std::vector<rte_mbuf*> cached(cache.begin(), cache.end());
  std::sort(cached.begin(), cached.end());
  for (rte_mbuf* m : named) {
    if (std::binary_search(cached.begin(), cached.end(), m)) {
      ++plan.freed_already;
    } else {
      plan.to_free.push_back(m);
    }
  }
  return plan;
}

}  // namespace vswitch
