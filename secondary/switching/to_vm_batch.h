// Frames bound for one device's to_vm ring, batched: flushed when 32 are waiting and at the
// end of every poll round that added any (as OVS-DPDK flushes its output batches at the end
// of each PMD iteration). vhost-switch waited up to 100 us for company (BURST_TX_DRAIN_US);
// under load a round fills the batch anyway, and when idle the wait was the whole of a
// single frame's latency. A full ring is retried --rx-retry-num times --rx-retry-delay apart
// before the rest is dropped. Pure templates: the engine plugs in the ring and the delay.
#pragma once

#include <cstdint>

namespace vswitch {

inline constexpr uint16_t kToVmBatch = 32;

struct RetryPolicy {
  bool enabled = true;
  unsigned num = 4;
  unsigned delay_us = 15;
};

struct EnqueueResult {
  unsigned sent = 0;
  unsigned retries = 0;  // delays waited
};

// `try_enqueue(first, count)` puts up to `count` items starting at index `first` and
// returns how many it took; `delay(us)` waits.
template <typename TryEnqueue, typename Delay>
EnqueueResult EnqueueWithRetry(unsigned count, const RetryPolicy& policy, TryEnqueue&& try_enqueue,
                               Delay&& delay) {
  EnqueueResult r;
  r.sent = try_enqueue(0u, count);
  if (!policy.enabled) return r;
  while (r.sent < count && r.retries < policy.num) {
    delay(policy.delay_us);
    ++r.retries;
    r.sent += try_enqueue(r.sent, count - r.sent);
  }
  return r;
}

// Up to kToVmBatch items in storage the caller owns (vswitch-switching's is in shared
// memory, held_mbufs.h). Slots past size() are left as they are.
template <typename T>
class ToVmBatch {
 public:
  ToVmBatch() = default;
  explicit ToVmBatch(T* items) : items_(items) {}
  [[nodiscard]] bool empty() const { return count_ == 0; }
  [[nodiscard]] uint16_t size() const { return count_; }
  [[nodiscard]] bool full() const { return count_ == kToVmBatch; }
  // Adds one item (the batch must not be full).
  void Add(T item) { items_[count_++] = item; }
  [[nodiscard]] T* data() { return items_; }
  void Clear() { count_ = 0; }

 private:
  T* items_ = nullptr;
  uint16_t count_ = 0;
};

}  // namespace vswitch
