#include "stats_text.h"

#include <cinttypes>
#include <cstdio>

namespace vswitch {
namespace {

uint64_t Drops(const QueueCounters& q) {
  uint64_t sum = 0;
  for (const Counter& d : q.drops) sum += d.load(std::memory_order_relaxed);
  return sum;
}

std::string Line(const char* label, uint64_t value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%-15s%20" PRIu64, label, value);
  return buf;
}

}  // namespace

DeviceStatsRow StatsRowFor(uint32_t device, int vid, const DeviceCounters& c) {
  DeviceStatsRow r;
  r.device = device;
  r.vid = vid;
  r.tx_dropped = Drops(c.switch_tx);
  r.tx_total = c.switch_tx.packets.load(std::memory_order_relaxed) + r.tx_dropped;
  r.rx_dropped = Drops(c.switch_rx);
  r.rx_total = c.switch_rx.packets.load(std::memory_order_relaxed) + r.rx_dropped;
  return r;
}

std::vector<std::string> FormatDeviceStats(std::span<const DeviceStatsRow> rows) {
  std::vector<std::string> out;
  out.emplace_back("Device statistics =================================");
  for (const DeviceStatsRow& r : rows) {
    char head[64];
    std::snprintf(head, sizeof(head), "Statistics for device %u (vid %d)", r.device, r.vid);
    out.emplace_back(head);
    out.push_back(Line("TX total:", r.tx_total));
    out.push_back(Line("TX dropped:", r.tx_dropped));
    out.push_back(Line("TX successful:", r.tx_total - r.tx_dropped));
    out.push_back(Line("RX total:", r.rx_total));
    out.push_back(Line("RX dropped:", r.rx_dropped));
    out.push_back(Line("RX successful:", r.rx_total - r.rx_dropped));
  }
  out.emplace_back("===================================================");
  return out;
}

}  // namespace vswitch
