// The metrics that come from the `vswitch_state` memzone alone: roles, devices, per-queue
// counters and drop reasons, the switching secondary's port counters. Pure: no DPDK call,
// so unit tests run it over a SharedState on the heap.
#pragma once

#include <prometheus/metric_family.h>

#include <cstdint>
#include <string>
#include <vector>

#include "state_layout.h"

namespace vswitch {

struct MetricsClock {
  uint64_t monotonic_ns;  // CLOCK_MONOTONIC: heartbeats are stamped with it
  uint64_t realtime_ns;   // CLOCK_REALTIME: role start times
};

// Reads `state` with relaxed loads (every counter has one writer; a scrape needs no
// ordering between counters) and appends the families to `out`.
void AppendStateMetrics(const SharedState& state, const MetricsClock& now,
                        std::vector<prometheus::MetricFamily>& out);

// The `port` label of every port metric: the DPDK device name of the configured port
// ("net_tap0", "0000:01:00.0").
[[nodiscard]] std::string PortLabel(const SharedState& state);

// The virtio feature bits reported one by one in vswitch_device_feature_negotiated.
struct FeatureBit {
  const char* name;
  unsigned bit;
};
inline constexpr FeatureBit kReportedFeatures[] = {
    {"csum", 0},           {"guest_csum", 1},      {"guest_tso4", 7},   {"guest_tso6", 8},
    {"host_tso4", 11},     {"host_tso6", 12},      {"mrg_rxbuf", 15},   {"ctrl_vq", 17},
    {"mq", 22},            {"indirect_desc", 28},  {"event_idx", 29},   {"protocol_features", 30},
    {"version_1", 32},     {"ring_packed", 34},
};

}  // namespace vswitch
