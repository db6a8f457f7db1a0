#include "status_json.h"

#include <cinttypes>
#include <cstdio>

#include "json_string.h"
#include "mac_table.h"

namespace vswitch {
namespace {

void Field(std::string& out, const char* key, uint64_t v, bool comma = true) {
  out += '"';
  out += key;
  out += "\":";
  out += std::to_string(v);
  if (comma) out += ',';
}

uint64_t Load(const Counter& c) { return c.load(std::memory_order_relaxed); }

uint64_t Drops(const QueueCounters& q) {
  uint64_t sum = 0;
  for (const auto& d : q.drops) sum += Load(d);
  return sum;
}

}  // namespace

const char* RoleStateName(const RoleSlot& slot) {
  if (slot.pid.load() == 0) return "down";
  switch (static_cast<RoleState>(slot.state.load())) {
    case RoleState::kUp: return "up";
    case RoleState::kStarting: return slot.instances.load() > 1 ? "restarting" : "starting";
    case RoleState::kDown: break;
  }
  return "down";
}

std::string RenderStatusJson(const SharedState& state, const StatusClock& now) {
  std::string out;
  out.reserve(4096);
  out += "{\"layout_version\":" + std::to_string(state.layout_version) + ",";
  out += "\"generated_at_ms\":" + std::to_string(now.realtime_ns / 1000000) + ",";
  out += "\"port\":";
  AppendJsonString(out, state.config.port);
  // The MTU the primary set on the port ([primary] mtu); 0 until it has.
  out += ",\"port_mtu\":" + std::to_string(state.config.port_mtu);
  out += ",\"roles\":{";
  for (Role r : kAllRoles) {
    const RoleSlot& slot = state.roles[static_cast<size_t>(r)];
    const int32_t pid = slot.pid.load();
    if (r != Role::kPrimary) out += ',';
    out += '"';
    out += RoleName(r);
    out += "\":{";
    Field(out, "pid", static_cast<uint64_t>(pid > 0 ? pid : 0));
    out += "\"state\":\"";
    out += RoleStateName(slot);
    out += "\",";
    if (pid > 0) {
      const uint64_t start = slot.start_ns.load();
      const uint64_t hb = slot.heartbeat_ns.load();
      char buf[64];
      std::snprintf(buf, sizeof(buf), "\"uptime_s\":%.1f,",
                    now.realtime_ns > start ? static_cast<double>(now.realtime_ns - start) / 1e9 : 0.0);
      out += buf;
      Field(out, "heartbeat_age_ms", now.monotonic_ns > hb ? (now.monotonic_ns - hb) / 1000000 : 0);
    } else {
      out += "\"uptime_s\":null,\"heartbeat_age_ms\":null,";
    }
    const uint64_t instances = slot.instances.load();
    Field(out, "restarts", instances > 0 ? instances - 1 : 0);
    Field(out, "deaths", slot.deaths.load(), false);
    out += '}';
  }
  out += "},\"devices\":[";
  bool first = true;
  for (uint32_t i = 0; i < state.config.max_devices && i < kMaxDevices; ++i) {
    const DeviceInfo& dev = state.devices[i];
    const auto dstate = static_cast<DeviceState>(dev.state.load());
    if (dstate == DeviceState::kUnused) continue;
    if (!first) out += ',';
    first = false;
    out += "{\"id\":" + std::to_string(i) + ",\"socket\":";
    AppendJsonString(out, dev.socket_path);
    out += ",\"vid\":" + std::to_string(dev.vid.load());
    out += ",\"connected\":";
    out += dstate >= DeviceState::kConnected ? "true" : "false";
    out += ",\"ready\":";
    out += dstate == DeviceState::kReady ? "true" : "false";
    out += ",\"client\":";
    out += dev.client_mode.load() ? "true" : "false";
    const DeviceL2& l2 = state.l2[i];
    if (l2.learned.load()) {
      out += ",\"mac\":\"" + MacToString(l2.mac.load()) + "\",\"vlan\":" + std::to_string(l2.vlan.load());
    } else {
      out += ",\"mac\":null,\"vlan\":null";
    }
    out += ',';
    const DeviceCounters& c = state.counters[i];
    uint64_t rx_p = 0, rx_b = 0, rx_d = Drops(c.switch_rx), tx_p = 0, tx_b = 0, tx_d = Drops(c.switch_tx);
    for (uint32_t q = 0; q < kMaxQueuePairs; ++q) {
      rx_p += Load(c.vhost_rx[q].packets);
      rx_b += Load(c.vhost_rx[q].bytes);
      rx_d += Drops(c.vhost_rx[q]);
      tx_p += Load(c.vhost_tx[q].packets);
      tx_b += Load(c.vhost_tx[q].bytes);
      tx_d += Drops(c.vhost_tx[q]);
    }
    Field(out, "features", dev.features.load());
    Field(out, "queue_pairs", dev.queue_pairs.load());
    Field(out, "rx_packets", rx_p);
    Field(out, "rx_bytes", rx_b);
    Field(out, "rx_dropped", rx_d);
    Field(out, "tx_packets", tx_p);
    Field(out, "tx_bytes", tx_b);
    Field(out, "tx_dropped", tx_d, false);
    out += '}';
  }
  // Added after `devices` (fields are only ever added). What the switching secondary took
  // from (rx) and handed to (tx) the port; drops on the port's path, every reason.
  const PortCounters& pc = state.port;
  uint64_t port_drops = 0;
  for (const auto& d : pc.drops) port_drops += Load(d);
  out += "],\"port_counters\":{";
  Field(out, "rx_packets", Load(pc.rx_packets));
  Field(out, "rx_bytes", Load(pc.rx_bytes));
  Field(out, "tx_packets", Load(pc.tx_packets));
  Field(out, "tx_bytes", Load(pc.tx_bytes));
  Field(out, "dropped", port_drops, false);
  out += "}}\n";
  return out;
}

}  // namespace vswitch
