// The monitor's prometheus::Collectable: on each scrape it reads the shared memzone and the
// primary's DPDK objects and builds the families afresh. It keeps no counter of its own,
// so a restarted monitor reports exactly what the datapath counted.
#pragma once

#include <prometheus/collectable.h>

#include <functional>
#include <mutex>
#include <vector>

#include "dpdk_objects.h"
#include "state_layout.h"
#include "state_metrics.h"

namespace vswitch {

class SharedStateCollector : public prometheus::Collectable {
 public:
  SharedStateCollector(const SharedState& state, DpdkObjects objects)
      : state_(state), objects_(std::move(objects)) {}

  // Called from the Exposer's HTTP threads.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const SharedState& state_;
  const DpdkObjects objects_;
  // Serialises this process's ethdev calls between concurrent scrapes. Process-local: no
  // datapath process ever takes it.
  mutable std::mutex dpdk_mutex_;
};

}  // namespace vswitch
