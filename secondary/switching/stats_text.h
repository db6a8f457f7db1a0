// The --stats report, like DPDK's vhost-switch: per device, TX (from the guest) total /
// dropped / successful and RX (toward the guest) total / dropped / successful, as the
// switching secondary counted them. Pure.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "state_layout.h"

namespace vswitch {

struct DeviceStatsRow {
  uint32_t device = 0;
  int vid = -1;
  uint64_t tx_total = 0;
  uint64_t tx_dropped = 0;
  uint64_t rx_total = 0;
  uint64_t rx_dropped = 0;
};

// TX: taken from from_vm (routed + dropped); RX: offered to to_vm (queued + dropped).
[[nodiscard]] DeviceStatsRow StatsRowFor(uint32_t device, int vid, const DeviceCounters& c);

// One line per element.
[[nodiscard]] std::vector<std::string> FormatDeviceStats(std::span<const DeviceStatsRow> rows);

}  // namespace vswitch
