#include "stats_text.h"

#include <gtest/gtest.h>

#include <memory>

namespace vswitch {
namespace {

TEST(StatsTextTest, TotalsDroppedAndSuccessfulPerDevice) {
  auto c = std::make_unique<DeviceCounters>();
  Bump(c->switch_tx.packets, 200);
  Bump(c->switch_tx.drops[static_cast<size_t>(DropReason::kSpoofedSource)], 3);
  Bump(c->switch_tx.drops[static_cast<size_t>(DropReason::kPortTx)], 2);
  Bump(c->switch_rx.packets, 10);
  Bump(c->switch_rx.drops[static_cast<size_t>(DropReason::kRingFull)], 7);
  const DeviceStatsRow row = StatsRowFor(1, 4, *c);
  EXPECT_EQ(row.tx_total, 205u);
  EXPECT_EQ(row.tx_dropped, 5u);
  EXPECT_EQ(row.rx_total, 17u);
  EXPECT_EQ(row.rx_dropped, 7u);
  const DeviceStatsRow rows[] = {row};
  const auto lines = FormatDeviceStats(rows);
  ASSERT_EQ(lines.size(), 9u);
  EXPECT_EQ(lines[0], "Device statistics =================================");
  EXPECT_EQ(lines[1], "Statistics for device 1 (vid 4)");
  EXPECT_EQ(lines[2], "TX total:                       205");
  EXPECT_EQ(lines[3], "TX dropped:                       5");
  EXPECT_EQ(lines[4], "TX successful:                  200");
  EXPECT_EQ(lines[5], "RX total:                        17");
  EXPECT_EQ(lines[6], "RX dropped:                       7");
  EXPECT_EQ(lines[7], "RX successful:                   10");
}

TEST(StatsTextTest, NoDevicesStillFramesTheReport) {
  EXPECT_EQ(FormatDeviceStats({}).size(), 2u);
}

}  // namespace
}  // namespace vswitch
