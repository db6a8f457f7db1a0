// Frames bound for one device's to_vm ring, batched (as vhost-switch batches guest-to-
// guest frames): flushed when 32 are waiting or the oldest has waited 100 us. A full ring
// is retried --rx-retry-num times --rx-retry-delay apart before the rest is dropped.
// Pure templates: the engine plugs in the ring, the clock and the delay.
#pragma once

#include <array>
#include <cstdint>

namespace vswitch {

inline constexpr uint16_t kToVmBatch = 32;
inline constexpr uint64_t kToVmFlushNs = 100'000;

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

template <typename T>
class ToVmBatch {
 public:
  [[nodiscard]] bool empty() const { return count_ == 0; }
  [[nodiscard]] uint16_t size() const { return count_; }
  [[nodiscard]] bool full() const { return count_ == kToVmBatch; }
  // Adds one item (the batch must not be full); `now_ns` starts the clock of a new batch.
  void Add(T item, uint64_t now_ns) {
    if (count_ == 0) first_ns_ = now_ns;
    items_[count_++] = item;
  }
  [[nodiscard]] bool Due(uint64_t now_ns) const {
    return count_ == kToVmBatch || (count_ > 0 && now_ns - first_ns_ >= kToVmFlushNs);
  }
  [[nodiscard]] T* data() { return items_.data(); }
  void Clear() { count_ = 0; }

 private:
  std::array<T, kToVmBatch> items_{};
  uint16_t count_ = 0;
  uint64_t first_ns_ = 0;
};

}  // namespace vswitch
