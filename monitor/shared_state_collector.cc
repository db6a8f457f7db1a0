#include "shared_state_collector.h"

#include "clock.h"

namespace vswitch {

std::vector<prometheus::MetricFamily> SharedStateCollector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  out.reserve(64);
  AppendStateMetrics(state_, {MonotonicNs(), RealtimeNs()}, out);
  // ready drops to 0 when the primary stops the group: its objects may be freed once this
  // process detaches, so stop reading them now.
  if (state_.ready.load(std::memory_order_acquire) != 0) {
    std::lock_guard<std::mutex> lock(dpdk_mutex_);
    objects_.AppendMetrics(state_, out);
  }
  return out;
}

}  // namespace vswitch
