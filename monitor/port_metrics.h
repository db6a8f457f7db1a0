// The port's DPDK ethdev statistics as metric families. Pure: the DPDK reads happen in
// DpdkObjects; this turns their results into families, so unit tests feed it plain structs.
#pragma once

#include <prometheus/metric_family.h>
#include <rte_ethdev.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vswitch {

struct PortReading {
  std::string port;                                     // the `port` label
  std::optional<rte_eth_stats> stats;                   // nullopt: rte_eth_stats_get failed
  std::vector<std::pair<std::string, uint64_t>> xstats;  // name, value
  std::optional<bool> link_up;                          // nullopt: link state unknown
};

void AppendPortMetrics(const PortReading& reading, std::vector<prometheus::MetricFamily>& out);

}  // namespace vswitch
