#include "dpdk_objects.h"

#include <rte_ethdev.h>

#include <algorithm>

#include "family_builder.h"
#include "mac_table.h"
#include "metric_names.h"
#include "names.h"
#include "port_metrics.h"
#include "state_metrics.h"

namespace vswitch {

DpdkObjects DpdkObjects::Lookup(const SharedState& state) {
  DpdkObjects o;
  o.port_id_ = state.config.port_id;
  o.port_valid_ = rte_eth_dev_is_valid_port(o.port_id_) != 0;
  const uint32_t devices = std::min<uint32_t>(state.config.max_devices, kMaxDevices);
  for (uint32_t d = 0; d < devices; ++d) {
    o.rings_.push_back({d, rte_ring_lookup(ToVmRingName(d).c_str()),
                        rte_ring_lookup(FromVmRingName(d).c_str())});
  }
  o.pool_ = rte_mempool_lookup(kMbufPool);
  o.mac_table_ = MacTable::Find(kMacTable);
  return o;
}

void DpdkObjects::AppendMetrics(const SharedState& state,
                                std::vector<prometheus::MetricFamily>& out) const {
  const std::string port = PortLabel(state);
  if (port_valid_) {
    PortReading reading;
    reading.port = port;
    rte_eth_stats stats{};
    if (rte_eth_stats_get(port_id_, &stats) == 0) reading.stats = stats;
    const int n = rte_eth_xstats_get_names(port_id_, nullptr, 0);
    if (n > 0) {
      std::vector<rte_eth_xstat_name> names(static_cast<std::size_t>(n));
      std::vector<rte_eth_xstat> values(static_cast<std::size_t>(n));
      const int got_names = rte_eth_xstats_get_names(port_id_, names.data(), n);
      const int got = rte_eth_xstats_get(port_id_, values.data(), static_cast<unsigned>(n));
      if (got_names == n && got == n) {
        for (const rte_eth_xstat& v : values) {
          if (v.id < names.size()) reading.xstats.emplace_back(names[v.id].name, v.value);
        }
      }
    }
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port_id_, &link) == 0) reading.link_up = link.link_status != 0;
    AppendPortMetrics(reading, out);
  }

  auto info = GaugeFamily(metrics::kPortInfo,
                    "Always 1; labels give the port's DPDK name and ethdev id, how frames "
                    "are split per device (vmdq: by the NIC; software: by vswitch-switching) "
                    "and how an idle vswitch-switching learns of a frame from it (interrupt: "
                    "the port's RX queue fds wake it; timer: it looks every 20 us to 1 ms).");
  info.Add({{"port", port}, {"port_id", std::to_string(state.config.port_id)},
            {"split", state.config.vmdq_pools != 0 ? "vmdq" : "software"},
            {"rx_wake", state.config.port_rx_wake_fds != 0 ? "interrupt" : "timer"}}, 1.0);
  info.MoveTo(out);

  auto entries = GaugeFamily(metrics::kRingEntries,
                       "Packets waiting in a device's ring (to_vm: toward the guest, from_vm: "
                       "from the guest). Near vswitch_ring_capacity means the ring's consumer "
                       "(vhost for to_vm, switching for from_vm) is not keeping up; drops with "
                       "reason ring_full follow.");
  auto capacity = GaugeFamily(metrics::kRingCapacity, "Packets a device's ring can hold.");
  for (const DeviceRings& r : rings_) {
    const std::string dev = std::to_string(r.device);
    for (const auto& [ring, name] : {std::pair{r.to_vm, "to_vm"}, std::pair{r.from_vm, "from_vm"}}) {
      if (ring == nullptr) continue;
      MetricLabels labels = {{"device", dev}, {"ring", name}};
      entries.Add(labels, static_cast<uint64_t>(rte_ring_count(ring)));
      capacity.Add(std::move(labels), static_cast<uint64_t>(rte_ring_get_capacity(ring)));
    }
  }
  entries.MoveTo(out);
  capacity.MoveTo(out);

  if (pool_ != nullptr) {
    const MetricLabels labels = {{"pool", kMbufPool}};
    // avail + in_use == size; reading both is two passes over the per-lcore caches, so
    // derive one from the other for a consistent pair.
    const unsigned avail = std::min<unsigned>(rte_mempool_avail_count(pool_), pool_->size);
    auto in_use = GaugeFamily(metrics::kMbufPoolInUse,
                        "Mbufs taken from the pool: packets in rings, queues and caches. A "
                        "steady climb with flat traffic is an mbuf leak.");
    in_use.Add(labels, static_cast<uint64_t>(pool_->size - avail));
    in_use.MoveTo(out);
    auto available = GaugeFamily(metrics::kMbufPoolAvailable,
                           "Mbufs free in the pool (including per-lcore caches). Near 0 means "
                           "packets are about to be dropped with reason no_mbuf.");
    available.Add(labels, static_cast<uint64_t>(avail));
    available.MoveTo(out);
    auto size = GaugeFamily(metrics::kMbufPoolSize, "Mbufs the pool was created with ([primary] mbufs).");
    size.Add(labels, static_cast<uint64_t>(pool_->size));
    size.MoveTo(out);
  }

  if (mac_table_ != nullptr) {
    const int32_t count = rte_hash_count(mac_table_);
    auto entries_f = GaugeFamily(metrics::kMacTableEntries,
                           "MAC addresses the switch has learned (one per connected guest "
                           "interface). Near vswitch_mac_table_capacity means new guests will "
                           "not be learned.");
    if (count >= 0) entries_f.Add({}, static_cast<uint64_t>(count));
    entries_f.MoveTo(out);
    const int32_t max = rte_hash_max_key_id(mac_table_);
    auto cap = GaugeFamily(metrics::kMacTableCapacity, "MAC addresses the table can hold.");
    if (max >= 0) cap.Add({}, static_cast<uint64_t>(max));
    cap.MoveTo(out);
  }
}

}  // namespace vswitch
