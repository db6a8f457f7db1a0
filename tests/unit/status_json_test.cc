#include "status_json.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>

namespace vswitch {
namespace {

TEST(StatusJsonTest, RolesDevicesAndCounters) {
  auto s = std::make_unique<SharedState>();
  s->layout_version = kLayoutVersion;
  std::strcpy(s->config.port, "net_tap0,iface=\"q\"");
  s->config.max_devices = 4;
  s->config.port_mtu = 9000;
  RoleSlot& vhost = s->roles[static_cast<size_t>(Role::kVhost)];
  vhost.pid = 42;
  vhost.state = static_cast<uint32_t>(RoleState::kUp);
  vhost.start_ns = 1'000'000'000;
  vhost.heartbeat_ns = 5'000'000'000;
  vhost.instances = 3;
  RoleSlot& sw = s->roles[static_cast<size_t>(Role::kSwitching)];
  sw.pid = 43;
  sw.state = static_cast<uint32_t>(RoleState::kStarting);
  sw.instances = 2;
  DeviceInfo& d = s->devices[1];
  std::strcpy(d.socket_path, "/run/vswitch/vm1.sock");
  d.state = static_cast<uint32_t>(DeviceState::kReady);
  d.vid = 7;
  s->l2[1].learned = 1;
  s->l2[1].mac = 0x140000545452ull;  // 52:54:54:00:00:14
  s->l2[1].vlan = 1001;
  s->counters[1].vhost_rx[0].packets = 10;
  s->counters[1].vhost_rx[1].packets = 5;
  s->counters[1].vhost_tx[0].bytes = 640;
  s->counters[1].vhost_tx[0].drops[static_cast<size_t>(DropReason::kRingFull)] = 2;
  s->counters[1].switch_rx.drops[static_cast<size_t>(DropReason::kOversize)] = 1;

  const std::string j = RenderStatusJson(*s, {6'000'000'000, 11'000'000'000});
  EXPECT_NE(j.find("\"port\":\"net_tap0,iface=\\\"q\\\"\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"port_mtu\":9000,"), std::string::npos) << j;
  EXPECT_NE(j.find("\"vhost\":{\"pid\":42,\"state\":\"up\",\"uptime_s\":10.0,\"heartbeat_age_ms\":1000,"
                   "\"restarts\":2"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find("\"switching\":{\"pid\":43,\"state\":\"restarting\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"monitor\":{\"pid\":0,\"state\":\"down\",\"uptime_s\":null"), std::string::npos) << j;
  EXPECT_EQ(j.find("\"id\":0"), std::string::npos) << "unused slots are not devices";
  EXPECT_NE(j.find("{\"id\":1,\"socket\":\"/run/vswitch/vm1.sock\",\"vid\":7,\"connected\":true,"
                   "\"ready\":true"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find("\"mac\":\"52:54:54:00:00:14\",\"vlan\":1001"), std::string::npos) << j;
  EXPECT_NE(j.find("\"rx_packets\":15,"), std::string::npos) << j;
  EXPECT_NE(j.find("\"rx_dropped\":1,"), std::string::npos) << j;
  EXPECT_NE(j.find("\"tx_bytes\":640,"), std::string::npos) << j;
  EXPECT_NE(j.find("\"tx_dropped\":2}"), std::string::npos) << j;
}

TEST(StatusJsonTest, PortCountersFollowTheDevices) {
  auto s = std::make_unique<SharedState>();
  s->layout_version = kLayoutVersion;
  std::strcpy(s->config.port, "net_tap0");
  s->config.max_devices = 1;
  s->devices[0].state = static_cast<uint32_t>(DeviceState::kWaiting);
  s->port.rx_packets = 11;
  s->port.rx_bytes = 704;
  s->port.tx_packets = 9;
  s->port.tx_bytes = 1518;
  s->port.drops[static_cast<size_t>(DropReason::kUnknownDestination)] = 3;
  s->port.drops[static_cast<size_t>(DropReason::kPortTx)] = 1;
  const std::string j = RenderStatusJson(*s, {1, 1});
  // `port` keeps its name string; the counters are a new field after `devices`.
  EXPECT_NE(j.find("\"port\":\"net_tap0\""), std::string::npos) << j;
  EXPECT_NE(j.find("],\"port_counters\":{\"rx_packets\":11,\"rx_bytes\":704,\"tx_packets\":9,"
                   "\"tx_bytes\":1518,\"dropped\":4}}\n"),
            std::string::npos)
      << j;
}

}  // namespace
}  // namespace vswitch
