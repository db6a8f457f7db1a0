#include "state_metrics.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "drop_reason.h"
#include "eal_args.h"
#include "family_builder.h"
#include "mac_table.h"
#include "metric_names.h"
#include "role.h"
#include "version.h"
#include "zero_copy_reason.h"

namespace vswitch {
namespace {

template <typename T>
T Load(const std::atomic<T>& v) {
  return v.load(std::memory_order_relaxed);
}

std::string Str(uint64_t v) { return std::to_string(v); }

// Devices the monitor reports: configured slots that have a socket, plus any slot whose
// counters moved (so a series never vanishes while its counters still mean something).
bool QueueMoved(const QueueCounters& q) {
  if (Load(q.packets) != 0 || Load(q.bytes) != 0 || Load(q.retries) != 0) return true;
  for (const Counter& d : q.drops) {
    if (Load(d) != 0) return true;
  }
  return false;
}

bool ZeroCopyMoved(const ZeroCopyCounters& z) {
  if (Load(z.by_reference) != 0) return true;
  for (const Counter& c : z.copied) {
    if (Load(c) != 0) return true;
  }
  return false;
}

bool DeviceMoved(const DeviceCounters& c) {
  for (uint32_t q = 0; q < kMaxQueuePairs; ++q) {
    if (QueueMoved(c.vhost_rx[q]) || QueueMoved(c.vhost_tx[q]) || ZeroCopyMoved(c.vhost_zero_copy[q])) {
      return true;
    }
  }
  return QueueMoved(c.switch_rx) || QueueMoved(c.switch_tx) || QueueMoved(c.direct_rx) ||
         QueueMoved(c.direct_tx);
}

// The socket path is written by the vhost secondary as plain chars: copy it bounded.
std::string SocketPath(const DeviceInfo& dev) {
  return std::string(dev.socket_path, strnlen(dev.socket_path, sizeof(dev.socket_path)));
}

struct QueueFamilies {
  FamilyBuilder packets = CounterFamily(
      metrics::kDevicePackets,
      "Packets a device's queue passed, per stage (vhost: the virtqueue; switching: the "
      "device's rings) and direction (rx: toward the guest, tx: from the guest). Flat while "
      "the guest is up means traffic stopped at that stage.");
  FamilyBuilder bytes = CounterFamily(
      metrics::kDeviceBytes,
      "Bytes a device's queue passed, labelled like vswitch_device_packets_total.");
  FamilyBuilder drops = CounterFamily(
      metrics::kDeviceDrops,
      "Packets dropped on a device's queue, by reason. Any rise is lost traffic; the reason "
      "label says where to look (see docs/metrics.md: ring_full = the next stage is not "
      "keeping up, no_mbuf = pool exhausted, "
      "invalid_descriptor/bad_address/invalid_header = a buggy or hostile guest).");
  FamilyBuilder retries = CounterFamily(
      metrics::kDeviceRxRetries,
      "Times a frame toward a guest was retried because the next stage had no room: "
      "stage=switching, the device's to_vm ring was full (--rx-retry, --rx-retry-num, "
      "--rx-retry-delay); stage=vhost, rounds in which frames held for the guest found no "
      "free RX buffer. Rising means the guest reads slower than traffic arrives; drops with "
      "reason ring_full follow when retries run out.");

  FamilyBuilder zero_copy = CounterFamily(
      metrics::kZeroCopyPackets,
      "Guest TX packets vswitch-vhost passed to vswitch-switching by reference "
      "(--dequeue-zero-copy): their payload stayed in guest memory and the guest got the "
      "descriptors back when the packet was freed. Flat while copied_total rises: see its "
      "reason label.");
  FamilyBuilder zero_copy_copied = CounterFamily(
      metrics::kZeroCopyCopied,
      "Guest TX packets copied although --dequeue-zero-copy is on, by reason: below_threshold "
      "(under 512 bytes, expected), cap_reached (half the TX queue in flight: the consumer "
      "holds packets), region_not_acknowledged (vswitch-switching has not mapped that guest "
      "memory: right after a connect or a switching restart, or the address was taken "
      "there), other (no mbufs, odd chains).");

  void AddZeroCopy(const ZeroCopyCounters& z, const std::string& device, uint32_t queue) {
    const std::string qs = Str(queue);
    zero_copy.Add({{"device", device}, {"queue", qs}}, Load(z.by_reference));
    for (std::size_t r = 0; r < kZeroCopyCopyReasonCount; ++r) {
      zero_copy_copied.Add({{"device", device}, {"queue", qs},
                            {"reason", std::string(kZeroCopyCopyReasons[r].name)}},
                           Load(z.copied[r]));
    }
  }

  // Packets and bytes only: a stage that never drops or retries exports no such series.
  MetricLabels AddPackets(const QueueCounters& q, const std::string& device, const char* stage,
                          const char* direction, uint32_t queue) {
    MetricLabels labels = {{"device", device}, {"direction", direction}, {"queue", Str(queue)},
                           {"stage", stage}};
    packets.Add(labels, Load(q.packets));
    bytes.Add(labels, Load(q.bytes));
    return labels;
  }

  void AddQueue(const QueueCounters& q, const std::string& device, const char* stage,
                const char* direction, uint32_t queue, bool with_retries) {
    const std::string qs = Str(queue);
    const MetricLabels labels = AddPackets(q, device, stage, direction, queue);
    for (std::size_t r = 0; r < kDropReasonCount; ++r) {
      MetricLabels l = labels;
      l.push_back({"reason", std::string(kDropReasons[r].name)});
      drops.Add(std::move(l), Load(q.drops[r]));
    }
    if (with_retries) {
      retries.Add({{"device", device}, {"queue", qs}, {"stage", stage}}, Load(q.retries));
    }
  }
};

void AppendRoles(const SharedState& state, const MetricsClock& now,
                 std::vector<prometheus::MetricFamily>& out) {
  auto up = GaugeFamily(metrics::kRoleUp,
                  "1 while the role's process is registered and serving, 0 when it is down or "
                  "starting. 0 for more than a few seconds means that part of the switch is "
                  "not working: deploy/vswitch status, then deploy/vswitch restart ROLE.");
  auto restarts = CounterFamily(metrics::kRoleRestarts,
                          "Times the role's process was started again after its first start in "
                          "this group. A rise means the process was restarted or crashed.");
  auto deaths = CounterFamily(metrics::kRoleDeaths,
                        "Times the primary found the role's process gone or silent (no "
                        "heartbeat). Any rise is a crash or a hang: read deploy/vswitch logs ROLE.");
  auto age = GaugeFamily(metrics::kRoleHeartbeatAge,
                   "Seconds since the role's process last heartbeated. Normally under 0.2; "
                   "growing means the process is stalled (the primary marks it down after "
                   "heartbeat-timeout).");
  auto start = GaugeFamily(metrics::kRoleStartTime,
                     "When the role's current process registered, in seconds since the Unix "
                     "epoch. A change means a new process.");
  auto sleeps = CounterFamily(metrics::kRoleSleeps,
                        "Times a polling role slept for want of work (the group's lifetime), by "
                        "how the sleep ended: woken (a doorbell or a guest's kick), timeout. "
                        "Idle guests: a few per second. Under load: close to none.");
  auto yields = CounterFamily(metrics::kRoleYields,
                        "Times a polling role gave its CPU to the other poller pinned to the "
                        "same CPU (after handing it packets, or idle).");
  auto ring_repairs = CounterFamily(metrics::kRoleRingRepairs,
                        "Half-done ring operations (an enqueue or dequeue its killed predecessor "
                        "had begun and not finished) that the role rolled back when it attached. "
                        "Each comes with a kill: the slots are counted in "
                        "vswitch_role_ring_repair_slots_total.");
  auto ring_slots = CounterFamily(metrics::kRoleRingRepairSlots,
                        "Ring slots of those operations, by outcome: dropped (an enqueue's, never "
                        "published: their mbufs are freed by the successor, "
                        "vswitch_role_mbufs_recovered_total) or redelivered (a dequeue's, handed "
                        "out again, each once).");
  auto recovered = CounterFamily(metrics::kRoleMbufsRecovered,
                        "Mbufs a killed instance of the role held outside the rings (a burst "
                        "being routed, batches, frames waiting for a guest's buffers), freed by "
                        "its successor when it attached.");
  for (Role r : kAllRoles) {
    const RoleSlot& slot = state.roles[static_cast<std::size_t>(r)];
    const MetricLabels labels = {{"role", std::string(RoleName(r))}};
    if (r == Role::kVhost || r == Role::kSwitching) {
      recovered.Add(labels, Load(state.held[static_cast<std::size_t>(r)].journal.recovered));
      ring_repairs.Add(labels, Load(slot.ring_repairs));
      ring_slots.Add({{"role", std::string(RoleName(r))}, {"outcome", "dropped"}},
                     Load(slot.ring_slots_dropped));
      ring_slots.Add({{"role", std::string(RoleName(r))}, {"outcome", "redelivered"}},
                     Load(slot.ring_slots_redelivered));
      const DoorbellSlot& bell = state.doorbells[static_cast<std::size_t>(r)];
      sleeps.Add({{"role", std::string(RoleName(r))}, {"end", "woken"}}, Load(bell.woken));
      sleeps.Add({{"role", std::string(RoleName(r))}, {"end", "timeout"}}, Load(bell.timed_out));
      yields.Add(labels, Load(bell.yields));
    }
    const int32_t pid = Load(slot.pid);
    const bool is_up = pid > 0 && Load(slot.state) == static_cast<uint32_t>(RoleState::kUp);
    up.Add(labels, is_up ? 1.0 : 0.0);
    const uint64_t instances = Load(slot.instances);
    restarts.Add(labels, instances > 0 ? instances - 1 : 0);
    deaths.Add(labels, Load(slot.deaths));
    if (pid > 0) {
      const uint64_t hb = Load(slot.heartbeat_ns);
      age.Add(labels, now.monotonic_ns > hb ? static_cast<double>(now.monotonic_ns - hb) / 1e9 : 0.0);
      start.Add(labels, static_cast<double>(Load(slot.start_ns)) / 1e9);
    }
  }
  up.MoveTo(out);
  restarts.MoveTo(out);
  deaths.MoveTo(out);
  age.MoveTo(out);
  start.MoveTo(out);
  sleeps.MoveTo(out);
  yields.MoveTo(out);
  ring_repairs.MoveTo(out);
  ring_slots.MoveTo(out);
  recovered.MoveTo(out);
}

void AppendDevices(const SharedState& state, std::vector<prometheus::MetricFamily>& out) {
  auto info = GaugeFamily(metrics::kDeviceInfo,
                    "Always 1 for each configured vhost-user device; its labels give the socket "
                    "path and mode (server: vswitch listens; client: vswitch connects to the "
                    "frontend and reconnects).");
  auto connected = GaugeFamily(metrics::kDeviceConnected,
                         "1 while a frontend (QEMU) is connected to the device's socket. 0 "
                         "with a VM running means the VM lost its network.");
  auto ready = GaugeFamily(metrics::kDeviceReady,
                     "1 once the device's rings are set up and the datapath serves it. "
                     "Connected but not ready for long means the guest driver did not start.");
  auto features_info = GaugeFamily(metrics::kDeviceFeaturesInfo,
                             "Always 1 for a connected device; the features label holds the "
                             "virtio feature bits negotiated with the guest, in hex.");
  auto feature = GaugeFamily(metrics::kDeviceFeatureNegotiated,
                       "1 when the named virtio feature was negotiated with the guest, 0 when "
                       "not. A feature at 0 that the guest should use (mrg_rxbuf, tso) points "
                       "at the VM's or vswitch's configuration.");
  auto queue_pairs = GaugeFamily(metrics::kDeviceQueuePairs,
                           "Queue pairs the guest enabled on the device.");
  auto connections = CounterFamily(metrics::kDeviceConnections,
                             "Times a frontend connected and the device became ready. A rise "
                             "without a VM restart means the frontend reconnected.");
  auto refused = CounterFamily(metrics::kDeviceRefusedConnections,
                         "Front-ends refused because the device's socket already had a live "
                         "connection (one front-end per socket). Non-zero: two VMs or two "
                         "processes are configured with the same socket path.");
  auto memory_faults = CounterFamily(metrics::kDeviceMemoryFaults,
                         "Connections closed because the front-end shrank (truncated) a guest "
                         "memory file while vswitch read or wrote it: the access faulted "
                         "(SIGBUS), was caught, and only this device was closed. Non-zero: a "
                         "buggy or hostile VM process; vswitch-vhost logs the region.");
  auto mac = GaugeFamily(metrics::kDeviceMacInfo,
                   "Always 1 once the switching secondary learned the device's MAC; labels "
                   "give the MAC and the VLAN tag assigned to the device.");
  QueueFamilies q;
  const uint32_t configured = std::min<uint32_t>(state.config.max_devices, kMaxDevices);
  for (uint32_t i = 0; i < kMaxDevices; ++i) {
    const DeviceInfo& dev = state.devices[i];
    const auto dstate = static_cast<DeviceState>(Load(dev.state));
    const DeviceCounters& c = state.counters[i];
    const bool in_use = i < configured && dstate != DeviceState::kUnused;
    if (!in_use && !DeviceMoved(c)) continue;
    const std::string id = Str(i);
    const MetricLabels labels = {{"device", id}};
    if (in_use) {
      info.Add({{"device", id}, {"mode", Load(dev.client_mode) ? "client" : "server"},
                {"socket", SocketPath(dev)}}, 1.0);
      const bool is_connected = dstate >= DeviceState::kConnected;
      connected.Add(labels, is_connected ? 1.0 : 0.0);
      ready.Add(labels, dstate == DeviceState::kReady ? 1.0 : 0.0);
      const uint64_t f = Load(dev.features);
      if (is_connected) {
        char hex[24];
        std::snprintf(hex, sizeof(hex), "0x%llx", static_cast<unsigned long long>(f));
        features_info.Add({{"device", id}, {"features", hex}}, 1.0);
        for (const FeatureBit& b : kReportedFeatures) {
          feature.Add({{"device", id}, {"feature", b.name}}, ((f >> b.bit) & 1) ? 1.0 : 0.0);
        }
      }
      queue_pairs.Add(labels, static_cast<uint64_t>(Load(dev.queue_pairs)));
      connections.Add(labels, Load(dev.connections));
      refused.Add(labels, Load(dev.refused_connections));
      memory_faults.Add(labels, Load(dev.memory_faults));
      const DeviceL2& l2 = state.l2[i];
      if (Load(l2.learned) != 0) {
        mac.Add({{"device", id}, {"mac", MacToString(Load(l2.mac))},
                 {"vlan", Str(Load(l2.vlan))}}, 1.0);
      }
    }
    // Queue pair 0 always; others while enabled or once they counted something.
    const uint32_t enabled = Load(dev.queue_pairs);
    for (uint32_t p = 0; p < kMaxQueuePairs; ++p) {
      const bool report = p == 0 || p < enabled || QueueMoved(c.vhost_rx[p]) ||
                          QueueMoved(c.vhost_tx[p]) || ZeroCopyMoved(c.vhost_zero_copy[p]);
      if (!report) continue;
      q.AddQueue(c.vhost_rx[p], id, "vhost", "rx", p, true);
      q.AddQueue(c.vhost_tx[p], id, "vhost", "tx", p, false);
      q.AddZeroCopy(c.vhost_zero_copy[p], id, p);
    }
    q.AddQueue(c.switch_rx, id, "switching", "rx", 0, true);
    q.AddQueue(c.switch_tx, id, "switching", "tx", 0, false);
    // Guest-to-guest frames vswitch-vhost delivered itself (never in stage "switching");
    // what a guest has no room for goes through switching, so this stage drops nothing.
    (void)q.AddPackets(c.direct_rx, id, "direct", "rx", 0);
    (void)q.AddPackets(c.direct_tx, id, "direct", "tx", 0);
  }
  info.MoveTo(out);
  connected.MoveTo(out);
  ready.MoveTo(out);
  features_info.MoveTo(out);
  feature.MoveTo(out);
  queue_pairs.MoveTo(out);
  connections.MoveTo(out);
  refused.MoveTo(out);
  memory_faults.MoveTo(out);
  mac.MoveTo(out);
  q.packets.MoveTo(out);
  q.bytes.MoveTo(out);
  q.drops.MoveTo(out);
  q.retries.MoveTo(out);
  q.zero_copy.MoveTo(out);
  q.zero_copy_copied.MoveTo(out);
}

void AppendZeroCopyMappings(const SharedState& state, std::vector<prometheus::MetricFamily>& out) {
  auto mapped = GaugeFamily(metrics::kZeroCopyMappings,
                            "Guest memory mappings of vswitch-vhost that vswitch-switching maps "
                            "at the same address (--dequeue-zero-copy), as it last acknowledged. "
                            "0 with guests connected means every packet is copied.");
  auto refusals = CounterFamily(metrics::kZeroCopyMappingRefusals,
                                "Guest memory mappings vswitch-switching could not map at "
                                "vswitch-vhost's address (address taken, or the fd could not be "
                                "opened); packets in them are copied.");
  mapped.Add({}, static_cast<double>(Load(state.mapping_ack.mapped)));
  refusals.Add({}, Load(state.mapping_ack.refusals));
  mapped.MoveTo(out);
  refusals.MoveTo(out);
}

void AppendPortCounters(const SharedState& state, const std::string& port,
                        std::vector<prometheus::MetricFamily>& out) {
  const PortCounters& c = state.port;
  auto packets = CounterFamily(metrics::kPortSwitchedPackets,
                         "Packets the switching secondary took from the port's RX queues (rx) "
                         "or handed to its TX queues (tx). Compare with "
                         "vswitch_port_rx_packets_total: a gap means the NIC counts packets the "
                         "switch never saw.");
  auto bytes = CounterFamily(metrics::kPortSwitchedBytes,
                       "Bytes the switching secondary took from (rx) or handed to (tx) the port.");
  auto drops = CounterFamily(metrics::kPortDrops,
                       "Packets the switching secondary dropped on the port's path, by reason. "
                       "unknown_destination rising: frames for MACs no VM has; port_tx: the "
                       "NIC's TX queue is full.");
  packets.Add({{"direction", "rx"}, {"port", port}}, Load(c.rx_packets));
  packets.Add({{"direction", "tx"}, {"port", port}}, Load(c.tx_packets));
  bytes.Add({{"direction", "rx"}, {"port", port}}, Load(c.rx_bytes));
  bytes.Add({{"direction", "tx"}, {"port", port}}, Load(c.tx_bytes));
  for (std::size_t r = 0; r < kDropReasonCount; ++r) {
    drops.Add({{"port", port}, {"reason", std::string(kDropReasons[r].name)}}, Load(c.drops[r]));
  }
  packets.MoveTo(out);
  bytes.MoveTo(out);
  drops.MoveTo(out);
}

}  // namespace

std::string PortLabel(const SharedState& state) {
  const char* p = state.config.port;
  return PortDeviceName(std::string(p, strnlen(p, sizeof(state.config.port))));
}

void AppendStateMetrics(const SharedState& state, const MetricsClock& now,
                        std::vector<prometheus::MetricFamily>& out) {
  auto build = GaugeFamily(metrics::kBuildInfo,
                     "Always 1; the labels give the monitor's version and the shared layout "
                     "version the group runs with.");
  build.Add({{"layout_version", Str(state.layout_version)}, {"version", kVersionString}}, 1.0);
  build.MoveTo(out);
  AppendRoles(state, now, out);
  AppendDevices(state, out);
  AppendZeroCopyMappings(state, out);
  AppendPortCounters(state, PortLabel(state), out);
}

}  // namespace vswitch
