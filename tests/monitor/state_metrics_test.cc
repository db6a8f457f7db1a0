// The monitor's metric families built from a SharedState on the heap, and from ethdev
// readings given as plain structs: no DPDK runtime.
#include "state_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "drop_reason.h"
#include "metric_names.h"
#include "port_metrics.h"

namespace vswitch {
namespace {

using Families = std::vector<prometheus::MetricFamily>;
using LabelMap = std::map<std::string, std::string>;

constexpr uint64_t kNow = 1'000'000'000'000ull;

const prometheus::MetricFamily* Find(const Families& f, std::string_view name) {
  for (const auto& fam : f) {
    if (fam.name == name) return &fam;
  }
  return nullptr;
}

// The value of the one sample of `name` whose labels are exactly `labels`.
std::optional<double> Value(const Families& f, std::string_view name, const LabelMap& labels) {
  const auto* fam = Find(f, name);
  if (fam == nullptr) return std::nullopt;
  for (const auto& m : fam->metric) {
    LabelMap got;
    for (const auto& l : m.label) got[l.name] = l.value;
    if (got != labels) continue;
    return fam->type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
  }
  return std::nullopt;
}

std::set<std::string> LabelValues(const Families& f, std::string_view name, const std::string& label) {
  std::set<std::string> out;
  if (const auto* fam = Find(f, name)) {
    for (const auto& m : fam->metric) {
      for (const auto& l : m.label) {
        if (l.name == label) out.insert(l.value);
      }
    }
  }
  return out;
}

class StateMetricsTest : public testing::Test {
 protected:
  StateMetricsTest() : state_(new SharedState()) {
    state_->layout_version = kLayoutVersion;
    state_->config.max_devices = 4;
    std::snprintf(state_->config.port, sizeof(state_->config.port), "net_tap0,iface=vsw0");
  }
  Families Collect() {
    Families out;
    AppendStateMetrics(*state_, {kNow, 1'700'000'000'000'000'000ull}, out);
    return out;
  }
  void ConnectDevice(uint32_t i, const char* socket) {
    DeviceInfo& d = state_->devices[i];
    std::snprintf(d.socket_path, sizeof(d.socket_path), "%s", socket);
    d.state = static_cast<uint32_t>(DeviceState::kReady);
    d.queue_pairs = 1;
  }
  std::unique_ptr<SharedState> state_;
};

TEST_F(StateMetricsTest, EveryFamilyIsNamedDocumentedAndTyped) {
  ConnectDevice(0, "/run/vswitch/vm0.sock");
  state_->l2[0].learned = 1;
  state_->devices[0].features = 1ull << 15;
  state_->roles[1].pid = 1;
  Families f = Collect();
  PortReading port{"net_tap0", rte_eth_stats{}, {{"rx_good_packets", 1}}, true};
  AppendPortMetrics(port, f);
  ASSERT_FALSE(f.empty());
  std::set<std::string> seen;
  for (const auto& fam : f) {
    SCOPED_TRACE(fam.name);
    EXPECT_TRUE(seen.insert(fam.name).second) << "family emitted twice";
    EXPECT_NE(std::find(metrics::kAll.begin(), metrics::kAll.end(), fam.name), metrics::kAll.end())
        << "not listed in metric_names.h";
    EXPECT_EQ(fam.name.rfind("vswitch_", 0), 0u);
    EXPECT_GT(fam.help.size(), 30u) << "help must tell an operator what the value means";
    const bool total = fam.name.size() > 6 && fam.name.ends_with("_total");
    EXPECT_EQ(fam.type == prometheus::MetricType::Counter, total)
        << "counters, and only counters, end in _total";
    EXPECT_FALSE(fam.metric.empty());
  }
}

// No drop reason that cannot happen: vswitch-vhost holds frames for a guest without RX
// buffers (counted in rx_retries, stage="vhost") and never drops them for that, so
// guest_no_buffer would be a series that never moves (docs/metrics.md).
TEST_F(StateMetricsTest, NoGuestNoBufferDropReason) {
  ConnectDevice(0, "/run/vswitch/vm0.sock");
  const std::set<std::string> reasons = LabelValues(Collect(), metrics::kDeviceDrops, "reason");
  EXPECT_EQ(reasons.count("guest_no_buffer"), 0u);
  EXPECT_EQ(reasons.count("ring_full"), 1u);
}

TEST_F(StateMetricsTest, QueueCountersAndDropReasonsComeFromSharedMemory) {
  ConnectDevice(0, "/run/vswitch/vm0.sock");
  DeviceCounters& c = state_->counters[0];
  c.vhost_rx[0].packets = 5;
  c.vhost_rx[0].bytes = 320;
  c.vhost_rx[0].retries = 7;
  c.switch_rx.retries = 4;
  Bump(c.vhost_rx[0].drops[static_cast<size_t>(DropReason::kOversize)], 3);
  c.vhost_tx[0].packets = 11;
  Bump(c.switch_tx.drops[static_cast<size_t>(DropReason::kSpoofedSource)]);
  const Families f = Collect();

  const LabelMap vrx = {{"device", "0"}, {"stage", "vhost"}, {"direction", "rx"}, {"queue", "0"}};
  EXPECT_EQ(Value(f, metrics::kDevicePackets, vrx), 5);
  EXPECT_EQ(Value(f, metrics::kDeviceBytes, vrx), 320);
  EXPECT_EQ(Value(f, metrics::kDeviceRxRetries, {{"device", "0"}, {"queue", "0"}, {"stage", "vhost"}}), 7);
  // Switching's --rx-retry on a full to_vm ring.
  EXPECT_EQ(Value(f, metrics::kDeviceRxRetries, {{"device", "0"}, {"queue", "0"}, {"stage", "switching"}}), 4);
  LabelMap drop = vrx;
  drop["reason"] = "oversize";
  EXPECT_EQ(Value(f, metrics::kDeviceDrops, drop), 3);
  drop["reason"] = "ring_full";
  EXPECT_EQ(Value(f, metrics::kDeviceDrops, drop), 0) << "every reason is exported, zeros too";
  EXPECT_EQ(Value(f, metrics::kDevicePackets,
                  {{"device", "0"}, {"stage", "vhost"}, {"direction", "tx"}, {"queue", "0"}}), 11);
  EXPECT_EQ(Value(f, metrics::kDeviceDrops,
                  {{"device", "0"}, {"stage", "switching"}, {"direction", "tx"}, {"queue", "0"},
                   {"reason", "spoofed_source"}}), 1);
  // All reasons, by their drop_reason.h names.
  const auto reasons = LabelValues(f, metrics::kDeviceDrops, "reason");
  EXPECT_EQ(reasons.size(), kDropReasonCount);
  for (const auto& r : kDropReasons) EXPECT_TRUE(reasons.count(std::string(r.name))) << r.name;
}

TEST_F(StateMetricsTest, ZeroCopyPacketsAndCopyReasonsPerQueue) {
  ConnectDevice(0, "/run/vswitch/vm0.sock");
  ZeroCopyCounters& z = state_->counters[0].vhost_zero_copy[0];
  Bump(z.by_reference, 40);
  Bump(z.copied[static_cast<size_t>(ZeroCopyCopyReason::kBelowThreshold)], 6);
  Bump(z.copied[static_cast<size_t>(ZeroCopyCopyReason::kRegionNotShared)], 2);
  state_->mapping_ack.mapped = 3;
  Bump(state_->mapping_ack.refusals);
  const Families f = Collect();
  EXPECT_EQ(Value(f, metrics::kZeroCopyPackets, {{"device", "0"}, {"queue", "0"}}), 40);
  EXPECT_EQ(Value(f, metrics::kZeroCopyCopied, {{"device", "0"}, {"queue", "0"}, {"reason", "below_threshold"}}), 6);
  EXPECT_EQ(Value(f, metrics::kZeroCopyCopied,
                  {{"device", "0"}, {"queue", "0"}, {"reason", "region_not_acknowledged"}}), 2);
  EXPECT_EQ(Value(f, metrics::kZeroCopyCopied, {{"device", "0"}, {"queue", "0"}, {"reason", "cap_reached"}}), 0);
  EXPECT_EQ(LabelValues(f, metrics::kZeroCopyCopied, "reason").size(), kZeroCopyCopyReasonCount);
  EXPECT_EQ(Value(f, metrics::kZeroCopyMappings, {}), 3);
  EXPECT_EQ(Value(f, metrics::kZeroCopyMappingRefusals, {}), 1);
}

TEST_F(StateMetricsTest, ReportsConfiguredDevicesAndAnyThatCounted) {
  ConnectDevice(0, "/s0");
  ConnectDevice(1, "/s1");
  state_->devices[1].state = static_cast<uint32_t>(DeviceState::kWaiting);
  state_->devices[1].client_mode = 1;
  // Slot 3: unused, never counted -> absent. Slot 9: beyond max_devices but counted -> kept
  // (a series must not vanish while its counter means something).
  state_->counters[9].switch_rx.packets = 2;
  const Families f = Collect();
  EXPECT_EQ(LabelValues(f, metrics::kDevicePackets, "device"), (std::set<std::string>{"0", "1", "9"}));
  EXPECT_EQ(Value(f, metrics::kDeviceInfo, {{"device", "0"}, {"socket", "/s0"}, {"mode", "server"}}), 1);
  EXPECT_EQ(Value(f, metrics::kDeviceInfo, {{"device", "1"}, {"socket", "/s1"}, {"mode", "client"}}), 1);
  EXPECT_EQ(Value(f, metrics::kDeviceConnected, {{"device", "0"}}), 1);
  EXPECT_EQ(Value(f, metrics::kDeviceConnected, {{"device", "1"}}), 0);
  EXPECT_EQ(Value(f, metrics::kDeviceReady, {{"device", "0"}}), 1);
  EXPECT_EQ(Value(f, metrics::kDevicePackets,
                  {{"device", "9"}, {"stage", "switching"}, {"direction", "rx"}, {"queue", "0"}}), 2);
  EXPECT_FALSE(Value(f, metrics::kDeviceInfo, {{"device", "9"}, {"socket", ""}, {"mode", "server"}}));
}

TEST_F(StateMetricsTest, QueuePairsBeyondTheFirstWhileEnabledOrCounted) {
  ConnectDevice(0, "/s0");
  state_->devices[0].queue_pairs = 2;
  state_->counters[0].vhost_tx[5].packets = 1;  // a queue the guest has since disabled
  const Families f = Collect();
  EXPECT_EQ(LabelValues(f, metrics::kDevicePackets, "queue"), (std::set<std::string>{"0", "1", "5"}));
  EXPECT_EQ(Value(f, metrics::kDeviceQueuePairs, {{"device", "0"}}), 2);
}

TEST_F(StateMetricsTest, NegotiatedFeaturesAsLabelAndPerFeature) {
  ConnectDevice(0, "/s0");
  state_->devices[0].features = (1ull << 15) | (1ull << 32);
  const Families f = Collect();
  EXPECT_EQ(Value(f, metrics::kDeviceFeaturesInfo, {{"device", "0"}, {"features", "0x100008000"}}), 1);
  EXPECT_EQ(Value(f, metrics::kDeviceFeatureNegotiated, {{"device", "0"}, {"feature", "mrg_rxbuf"}}), 1);
  EXPECT_EQ(Value(f, metrics::kDeviceFeatureNegotiated, {{"device", "0"}, {"feature", "version_1"}}), 1);
  EXPECT_EQ(Value(f, metrics::kDeviceFeatureNegotiated, {{"device", "0"}, {"feature", "host_tso4"}}), 0);
}

TEST_F(StateMetricsTest, LearnedMacAndVlan) {
  ConnectDevice(2, "/s2");
  state_->l2[2].mac = 0x140000005452ull;  // 52:54:00:00:00:14
  state_->l2[2].vlan = 1002;
  state_->l2[2].learned = 1;
  const Families f = Collect();
  EXPECT_EQ(Value(f, metrics::kDeviceMacInfo,
                  {{"device", "2"}, {"mac", "52:54:00:00:00:14"}, {"vlan", "1002"}}), 1);
}

TEST_F(StateMetricsTest, RolesUpRestartsAndHeartbeatAge) {
  RoleSlot& vhost = state_->roles[static_cast<size_t>(Role::kVhost)];
  vhost.pid = 4242;
  vhost.state = static_cast<uint32_t>(RoleState::kUp);
  vhost.instances = 3;
  vhost.deaths = 1;
  vhost.heartbeat_ns = kNow - 1'500'000'000ull;
  vhost.start_ns = 1'700'000'000'500'000'000ull;
  RoleSlot& sw = state_->roles[static_cast<size_t>(Role::kSwitching)];
  sw.pid = 0;  // down and deregistered
  sw.instances = 1;
  sw.state = static_cast<uint32_t>(RoleState::kDown);
  RoleSlot& mon = state_->roles[static_cast<size_t>(Role::kMonitor)];
  mon.pid = 77;
  mon.state = static_cast<uint32_t>(RoleState::kStarting);
  const Families f = Collect();
  EXPECT_EQ(Value(f, metrics::kRoleUp, {{"role", "vhost"}}), 1);
  EXPECT_EQ(Value(f, metrics::kRoleUp, {{"role", "switching"}}), 0);
  EXPECT_EQ(Value(f, metrics::kRoleUp, {{"role", "monitor"}}), 0) << "starting is not up";
  EXPECT_EQ(Value(f, metrics::kRoleRestarts, {{"role", "vhost"}}), 2);
  EXPECT_EQ(Value(f, metrics::kRoleRestarts, {{"role", "switching"}}), 0);
  EXPECT_EQ(Value(f, metrics::kRoleRestarts, {{"role", "primary"}}), 0) << "never started: 0, not -1";
  EXPECT_EQ(Value(f, metrics::kRoleDeaths, {{"role", "vhost"}}), 1);
  EXPECT_DOUBLE_EQ(*Value(f, metrics::kRoleHeartbeatAge, {{"role", "vhost"}}), 1.5);
  EXPECT_DOUBLE_EQ(*Value(f, metrics::kRoleStartTime, {{"role", "vhost"}}), 1'700'000'000.5);
  EXPECT_FALSE(Value(f, metrics::kRoleHeartbeatAge, {{"role", "switching"}}))
      << "no process, no heartbeat age";
  EXPECT_EQ(Value(f, metrics::kBuildInfo, {{"version", VSWITCH_VERSION},
                                           {"layout_version", std::to_string(kLayoutVersion)}}), 1);
}

TEST_F(StateMetricsTest, RingRepairsOfTheRolesThatOwnRingEnds) {
  RoleSlot& sw = state_->roles[static_cast<size_t>(Role::kSwitching)];
  sw.ring_repairs = 2;
  sw.ring_slots_dropped = 17;
  sw.ring_slots_redelivered = 5;
  state_->roles[static_cast<size_t>(Role::kVhost)].ring_slots_redelivered = 32;
  const Families f = Collect();
  EXPECT_EQ(Value(f, metrics::kRoleRingRepairs, {{"role", "switching"}}), 2);
  EXPECT_EQ(Value(f, metrics::kRoleRingRepairs, {{"role", "vhost"}}), 0);
  EXPECT_EQ(Value(f, metrics::kRoleRingRepairSlots, {{"role", "switching"}, {"outcome", "dropped"}}), 17);
  EXPECT_EQ(Value(f, metrics::kRoleRingRepairSlots, {{"role", "switching"}, {"outcome", "redelivered"}}), 5);
  EXPECT_EQ(Value(f, metrics::kRoleRingRepairSlots, {{"role", "vhost"}, {"outcome", "redelivered"}}), 32);
  EXPECT_EQ(LabelValues(f, metrics::kRoleRingRepairs, "role"), (std::set<std::string>{"switching", "vhost"}))
      << "the primary and the monitor own no ring end";
}

TEST_F(StateMetricsTest, PortCountersOfTheSwitchingSecondary) {
  state_->port.rx_packets = 10;
  state_->port.tx_bytes = 640;
  state_->port.drops[static_cast<size_t>(DropReason::kUnknownDestination)] = 4;
  const Families f = Collect();
  EXPECT_EQ(Value(f, metrics::kPortSwitchedPackets, {{"port", "net_tap0"}, {"direction", "rx"}}), 10);
  EXPECT_EQ(Value(f, metrics::kPortSwitchedBytes, {{"port", "net_tap0"}, {"direction", "tx"}}), 640);
  EXPECT_EQ(Value(f, metrics::kPortDrops, {{"port", "net_tap0"}, {"reason", "unknown_destination"}}), 4);
  EXPECT_EQ(PortLabel(*state_), "net_tap0");
}

TEST(PortMetricsTest, EthdevStatsAndXstats) {
  rte_eth_stats s{};
  s.ipackets = 100;
  s.ibytes = 10000;
  s.opackets = 3;
  s.imissed = 2;
  s.rx_nombuf = 1;
  Families f;
  AppendPortMetrics({"0000:01:00.0", s, {{"rx_crc_errors", 9}, {"rx_good_packets", 100}}, false}, f);
  const LabelMap port = {{"port", "0000:01:00.0"}};
  EXPECT_EQ(Value(f, metrics::kPortRxPackets, port), 100);
  EXPECT_EQ(Value(f, metrics::kPortRxBytes, port), 10000);
  EXPECT_EQ(Value(f, metrics::kPortTxPackets, port), 3);
  EXPECT_EQ(Value(f, metrics::kPortRxMissed, port), 2);
  EXPECT_EQ(Value(f, metrics::kPortRxNoMbuf, port), 1);
  EXPECT_EQ(Value(f, metrics::kPortXstats, {{"port", "0000:01:00.0"}, {"xstat", "rx_crc_errors"}}), 9);
  EXPECT_EQ(Value(f, metrics::kPortLinkUp, port), 0);
}

TEST(PortMetricsTest, FailedReadsLeaveFamiliesOutRatherThanReportZeros) {
  Families f;
  AppendPortMetrics({"net_tap0", std::nullopt, {}, std::nullopt}, f);
  EXPECT_TRUE(f.empty()) << "a zero would look like a counter reset to Prometheus";
}

// Large counters survive the double conversion exactly up to 2^53 (the text format's
// precision): a 10 Gb/s port takes years to get there in bytes.
TEST_F(StateMetricsTest, TextExpositionHasExactLargeValues) {
  ConnectDevice(0, "/s0");
  state_->counters[0].vhost_tx[0].bytes = (1ull << 53) - 1;
  const Families f = Collect();
  const std::string text = prometheus::TextSerializer().Serialize(f);
  EXPECT_NE(text.find("vswitch_device_bytes_total{device=\"0\",direction=\"tx\",queue=\"0\","
                      "stage=\"vhost\"} 9007199254740991\n"),
            std::string::npos)
      << text.substr(0, 2000);
  EXPECT_NE(text.find("# TYPE vswitch_device_drops_total counter\n"), std::string::npos);
}

}  // namespace
}  // namespace vswitch
