#include "zero_copy.h"

namespace vswitch::vhost {

void ZeroCopyQueue::Enable(uint32_t queue_size, uint32_t cap, uint32_t threshold) {
  slots_ = std::make_unique<ZeroCopySlot[]>(queue_size);
  for (uint32_t i = 0; i < queue_size; ++i) {
    slots_[i].shinfo.free_cb = &ZeroCopyQueue::FreeCallback;
    slots_[i].shinfo.fcb_opaque = &slots_[i];
  }
  cap_ = cap == 0 ? std::max<uint32_t>(1, queue_size / 2) : std::min(cap, queue_size);
  threshold_ = threshold;
  in_flight_.clear();
  in_flight_.reserve(cap_);
}

ZeroCopySlot* ZeroCopyQueue::Acquire(uint16_t head) {
  if (!HasRoom()) return nullptr;
  ZeroCopySlot& s = slots_[head];
  // A head is in flight at most once: the guest cannot make it available again before
  // we return it (2.6.8); a guest that does anyway gets the copy path.
  if (s.state.load(std::memory_order_relaxed) != ZeroCopySlot::kFree) return nullptr;
  s.state.store(ZeroCopySlot::kInFlight, std::memory_order_relaxed);
  s.head = head;
  in_flight_.push_back(head);
  return &s;
}

void ZeroCopyQueue::Cancel(ZeroCopySlot* slot) {
  Release(*slot);
  for (size_t i = 0; i < in_flight_.size(); ++i) {
    if (in_flight_[i] == slot->head) {
      in_flight_[i] = in_flight_.back();
      in_flight_.pop_back();
      break;
    }
  }
}

void ZeroCopyQueue::Release(ZeroCopySlot& s) {
  s.keep[0].reset();
  s.keep[1].reset();
  s.state.store(ZeroCopySlot::kFree, std::memory_order_relaxed);
}

void ZeroCopyQueue::FreeCallback(void*, void* opaque) {
  auto* s = static_cast<ZeroCopySlot*>(opaque);
  uint8_t expected = ZeroCopySlot::kInFlight;
  if (s->state.compare_exchange_strong(expected, ZeroCopySlot::kDone, std::memory_order_acq_rel)) {
    return;  // the datapath writes the used element at its next burst
  }
  // Orphaned (the ring stopped): nobody will reap it; drop the mappings here.
  s->keep[0].reset();
  s->keep[1].reset();
  s->state.store(ZeroCopySlot::kFree, std::memory_order_release);
}

}  // namespace vswitch::vhost
