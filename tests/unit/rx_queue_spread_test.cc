// Guest RX bursts go round robin over the enabled RX queues only.
#include <gtest/gtest.h>

#include <array>
#include <map>

#include "rx_queue_spread.h"

namespace vswitch {
namespace {

// How many of `bursts` Next() gives each pair.
std::map<uint16_t, int> Spread(RxQueueSpread<8>& s, int bursts) {
  std::map<uint16_t, int> seen;
  for (int i = 0; i < bursts; ++i) {
    uint16_t q = 99;
    if (s.Next(&q)) ++seen[q];
  }
  return seen;
}

TEST(RxQueueSpreadTest, OneOfFourEnabledGetsEveryBurst) {
  RxQueueSpread<8> s;
  s.Refresh(4, [](uint16_t q) { return q == 0; });
  EXPECT_EQ(s.count(), 1);
  EXPECT_EQ(Spread(s, 100), (std::map<uint16_t, int>{{0, 100}}));
}

TEST(RxQueueSpreadTest, RoundRobinOverEnabledPairsOnly) {
  RxQueueSpread<8> s;
  s.Refresh(4, [](uint16_t q) { return q == 1 || q == 3; });
  EXPECT_EQ(Spread(s, 100), (std::map<uint16_t, int>{{1, 50}, {3, 50}}));
  s.Refresh(4, [](uint16_t) { return true; });
  EXPECT_EQ(Spread(s, 100), (std::map<uint16_t, int>{{0, 25}, {1, 25}, {2, 25}, {3, 25}}));
}

TEST(RxQueueSpreadTest, NoneEnabledOffersNothing) {
  RxQueueSpread<8> s;
  s.Refresh(4, [](uint16_t) { return false; });
  uint16_t q = 7;
  EXPECT_FALSE(s.Next(&q));
  EXPECT_EQ(q, 7);
  // Enabled again later (ethtool -L combined 4): spread again, from a valid position.
  s.Refresh(2, [](uint16_t) { return true; });
  EXPECT_EQ(Spread(s, 10), (std::map<uint16_t, int>{{0, 5}, {1, 5}}));
}

TEST(RxQueueSpreadTest, ShrinkingKeepsThePositionInRange) {
  RxQueueSpread<8> s;
  s.Refresh(8, [](uint16_t) { return true; });
  for (int i = 0; i < 7; ++i) (void)Spread(s, 1);  // next would be pair 7
  s.Refresh(8, [](uint16_t q) { return q < 2; });
  EXPECT_EQ(Spread(s, 4), (std::map<uint16_t, int>{{0, 2}, {1, 2}}));
  // More pairs configured than the forwarder handles: capped.
  s.Refresh(20, [](uint16_t) { return true; });
  EXPECT_EQ(s.count(), 8);
}

}  // namespace
}  // namespace vswitch
