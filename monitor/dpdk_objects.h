// The primary's DPDK objects the monitor reads on each scrape: the port, the per-device
// rings, the mbuf pool and the MAC table. Looked up once at start (a lookup takes DPDK's
// shared tailq lock; a scrape must not); they live as long as the primary, which the
// monitor never outlives.
#pragma once

#include <prometheus/metric_family.h>
#include <rte_hash.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <cstdint>
#include <string>
#include <vector>

#include "state_layout.h"

namespace vswitch {

class DpdkObjects {
 public:
  // Finds what exists; missing objects are reported as absent, not as errors.
  [[nodiscard]] static DpdkObjects Lookup(const SharedState& state);

  // Reads the objects and appends their families. Not thread-safe (ethdev calls): the
  // collector serialises scrapes.
  void AppendMetrics(const SharedState& state, std::vector<prometheus::MetricFamily>& out) const;

 private:
  struct DeviceRings {
    uint32_t device;
    const rte_ring* to_vm;
    const rte_ring* from_vm;
  };
  uint16_t port_id_ = 0;
  bool port_valid_ = false;
  std::vector<DeviceRings> rings_;
  const rte_mempool* pool_ = nullptr;
  const rte_hash* mac_table_ = nullptr;
};

}  // namespace vswitch
