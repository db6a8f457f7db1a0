// A packet sent by an idle guest after a quiet spell arrives promptly. The group polls
// when busy and sleeps when idle, so every hand-off between processes (guest A ->
// vswitch-vhost -> vswitch-switching -> vswitch-vhost -> guest B) may find the next one
// asleep; a wake-up that is lost shows as a frame that arrives late or never. 10,000
// single frames, each after a random gap of 0-2 ms (sometimes right after the last one
// arrived, sometimes after every poller had time to fall asleep), in both CPU layouts,
// through switching and delivered directly by vswitch-vhost.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "latency_peer_process.h"
#include "test_group.h"
#include "wake_test_common.h"

namespace vswitch::test {
namespace {

using namespace std::chrono_literals;

constexpr int kFrames = 10'000;

class IdleGuestLatencyTest : public testing::TestWithParam<WakeLayout> {};

TEST_P(IdleGuestLatencyTest, SinglePacketsAfterQuietSpellsArriveOnceInOrderAndPromptly) {
  const WakeLayout layout = GetParam();
  TestGroup group(layout.Config());
  const CommandResult up = group.Vswitch({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.output << group.Log("primary");
  // Two guests on the group's server-mode sockets, in one process (A on socket 0).
  LatencyPeerProcess peer(group, kLatencyPeerCpu, kMacA, kMacB, /*server_mode=*/false);
  std::string learned;
  ASSERT_TRUE(peer.Learn(30s, &learned)) << learned << "\n" << peer.Log() << group.Log("vhost") << group.Log("switching");
  // status.json is rewritten periodically: it may lag behind what the peer saw.
  EXPECT_TRUE(WaitFor([&] { return group.Status(".devices[0].mac") == kMacA && group.Status(".devices[1].mac") == kMacB; },
                      10s))
      << group.Status(".devices");

  // What the group holds between frames: the sleep and wake paths must hand every mbuf on.
  const double in_use_before = group.Metric("vswitch_mbuf_pool_in_use");
  ASSERT_GT(in_use_before, 0) << "no vswitch_mbuf_pool_in_use from " << group.metrics_url();

  const unsigned seed = std::random_device{}();
  const LatencyReport r = peer.Send(kFrames, kMaxGap, kFrameWait, seed, kSlowestBound);
  ExpectAllArrivedPromptly(r, kFrames, std::string(layout.name) + " (gap seed " + std::to_string(seed) + ")");
  if (HasFailure()) ADD_FAILURE() << peer.Log() << group.Log("vhost") << group.Log("switching");
  // Every frame arrived and was freed: the pool is back where it was (an mbuf lost per
  // sleep would leave thousands missing).
  double in_use_after = 0;
  EXPECT_TRUE(WaitFor([&] { return (in_use_after = group.Metric("vswitch_mbuf_pool_in_use")) == in_use_before; }, 5s))
      << "mbufs in use: " << in_use_before << " before the frames, " << in_use_after << " after";
  // Both secondaries stayed up throughout.
  EXPECT_EQ(group.RoleState("vhost"), "up");
  EXPECT_EQ(group.RoleState("switching"), "up");
}

INSTANTIATE_TEST_SUITE_P(Layouts, IdleGuestLatencyTest, testing::Values(kSharedCpu, kSeparateCpus, kSharedCpuDirect, kSeparateCpusDirect),
                         [](const testing::TestParamInfo<WakeLayout>& info) { return info.param.name; });

}  // namespace
}  // namespace vswitch::test
