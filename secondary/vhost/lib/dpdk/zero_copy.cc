#include "zero_copy.h"

#include <rte_malloc.h>

#include <algorithm>
#include <random>

#include "vhost_log.h"

namespace vswitch::vhost {

uint64_t ZeroCopyInstance() {
  static const uint64_t instance = [] {
    std::random_device rd;
    uint64_t v = (uint64_t{rd()} << 32) ^ rd();
    return v == 0 ? 1 : v;
  }();
  return instance;
}

namespace {
std::atomic<uint64_t> g_revocations{0};
}  // namespace

uint64_t ZeroCopyRevocations() { return g_revocations.load(std::memory_order_acquire); }

void CountZeroCopyRevocation() { g_revocations.fetch_add(1, std::memory_order_release); }

bool ExternalBuffersAreOurs(const rte_mbuf* m) {
  const uint64_t self = ZeroCopyInstance();
  for (const rte_mbuf* seg = m; seg != nullptr; seg = seg->next) {
    if (!RTE_MBUF_HAS_EXTBUF(seg)) continue;
    const auto* shared = reinterpret_cast<const ZeroCopyShared*>(seg->shinfo);
    // Atomic, relaxed (a plain load): a stopping ring may revoke it meanwhile.
    if (shared == nullptr || __atomic_load_n(&shared->owner, __ATOMIC_RELAXED) != self) return false;
  }
  return true;
}

ZeroCopyQueue::Table::Table(uint32_t n) : size(n) {
  shared = static_cast<ZeroCopyShared*>(
      rte_zmalloc("vsw_zero_copy", sizeof(ZeroCopyShared) * n, alignof(ZeroCopyShared)));
  if (shared == nullptr) return;
  slots = std::make_unique<ZeroCopySlot[]>(n);
  for (uint32_t i = 0; i < n; ++i) {
    ZeroCopyShared& s = shared[i];
    s.shinfo.free_cb = &ZeroCopyQueue::UnexpectedFree;
    s.shinfo.fcb_opaque = &s;
    rte_mbuf_ext_refcnt_set(&s.shinfo, 1);  // ours, for as long as the table lives
    s.owner = ZeroCopyInstance();
    slots[i].shared = &s;
  }
}

ZeroCopyQueue::Table::~Table() {
  if (shared == nullptr) return;
  uint32_t held = 0;
  for (uint32_t i = 0; i < size; ++i) held += rte_mbuf_ext_refcnt_read(&shared[i].shinfo) != 1;
  if (held > 0) {
    // Another process still holds mbufs pointing at these shared infos and will
    // decrement them when it frees them: the memory must never be reused.
    Log(LogLevel::kWarning, "VHOST_DATA: %u zero-copy buffer(s) still held elsewhere; "
        "their %zu bytes of shared info stay allocated", held, sizeof(ZeroCopyShared) * size);
    return;
  }
  rte_free(shared);
}

ZeroCopyQueue::~ZeroCopyQueue() {
  // Whatever is still in flight or orphaned keeps its table (see Table::~Table); the
  // mappings go (this process no longer reads them; the other process has its own).
  for (uint16_t h : in_flight_) Release(current_->slots[h]);
  for (Orphan& o : orphans_) Release(*o.slot);
}

bool ZeroCopyQueue::Enable(uint32_t queue_size, uint32_t cap, uint32_t threshold) {
  auto table = std::make_unique<Table>(queue_size);
  if (table->shared == nullptr) return false;
  current_ = std::move(table);
  threshold_ = threshold;
  // The cap is the head list's capacity (HasRoom: not full).
  in_flight_.Reset(cap == 0 ? std::max<uint32_t>(1, queue_size / 2) : std::min(cap, queue_size));
  return true;
}

void ZeroCopyQueue::Retire() {
  for (uint16_t h : in_flight_) orphans_.push_back({current_.get(), &current_->slots[h]});
  current_->outstanding = in_flight_.size();
  in_flight_.clear();
  if (current_->outstanding > 0) {
    retired_.push_back(std::move(current_));
  } else {
    current_.reset();
  }
}

void ZeroCopyQueue::Cancel(ZeroCopySlot* slot) {
  rte_mbuf_ext_refcnt_set(&slot->shared->shinfo, 1);
  Release(*slot);
  // Usually the last one acquired; order kept either way (see Reap).
  in_flight_.Erase(slot->head);
}

bool ZeroCopyQueue::KeepSlow(ZeroCopySlot* slot, const std::shared_ptr<GuestMapping>& mapping) {
  const GuestMapping* m = mapping.get();
  for (const int8_t h : slot->hold) {
    if (h >= 0 && holds_[static_cast<size_t>(h)].mapping.get() == m) return true;
  }
  int8_t* free_hold = slot->hold[0] < 0 ? &slot->hold[0] : (slot->hold[1] < 0 ? &slot->hold[1] : nullptr);
  if (free_hold == nullptr) return false;
  size_t i = 0;
  size_t empty = holds_.size();
  for (; i < holds_.size(); ++i) {
    if (holds_[i].mapping.get() == m) break;
    if (holds_[i].mapping == nullptr && empty == holds_.size()) empty = i;
  }
  if (i == holds_.size()) {
    if (empty < holds_.size()) {
      i = empty;
      holds_[i].mapping = mapping;
    } else {
      if (holds_.size() >= INT8_MAX) return false;
      holds_.push_back({mapping, 0});
    }
  }
  ++holds_[i].slots;
  *free_hold = static_cast<int8_t>(i);
  last_hold_ = i;
  return true;
}

uint32_t ZeroCopyQueue::ReapOrphans() {
  uint32_t n = 0;
  for (size_t i = 0; i < orphans_.size();) {
    Orphan& o = orphans_[i];
    if (!Done(*o.slot)) {
      ++i;
      continue;
    }
    Release(*o.slot);
    --o.table->outstanding;
    orphans_[i] = orphans_.back();
    orphans_.pop_back();
    ++n;
  }
  if (n > 0) {
    std::erase_if(retired_, [](const std::unique_ptr<Table>& t) { return t->outstanding == 0; });
  }
  return n;
}

void ZeroCopyQueue::UnexpectedFree(void*, void*) {
  // Unreachable: the queue's own reference keeps refcnt above 0. Reaching it means a
  // reference was dropped twice.
  Log(LogLevel::kError, "VHOST_DATA: a zero-copy shared info reached refcnt 0");
}

}  // namespace vswitch::vhost
