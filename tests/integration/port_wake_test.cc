// vswitch-switching sleeps until a frame reaches the port: the primary hands it the
// net_tap port's RX queue fds (port_rx_wake.h) and they sit in the epoll it sleeps in, so
// an idle vswitch-switching no longer looks at the port every 20 us..1 ms. Idle with two
// silent guests connected, its sleeps run out only at the heartbeat bound (50 ms: ~20 a
// second, against ~900 with the timed look) and it uses under 1% of a CPU; a frame written
// into the tap from the kernel's side after a quiet spell of 20-50 ms (every poller
// asleep) still reaches the guest within 20 ms. Without the fds in the epoll and with the
// same 50 ms sleeps, such frames wait for the timeout: half of them longer than 20 ms.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "latency_peer_process.h"
#include "test_group.h"
#include "wake_test_common.h"

namespace vswitch::test {
namespace {

using namespace std::chrono_literals;

constexpr int kFrames = 50;
constexpr auto kMinGap = 20ms;
constexpr auto kMaxGap = 50ms;
constexpr auto kPortBound = 20ms;
constexpr double kMaxTimeoutsPerSecond = 25;  // the 50 ms heartbeat bound, with margin
constexpr double kMaxCpuPercent = 1.0;
constexpr const char* kSleeps = "vswitch_role_sleeps_total";

// CPU time `pid` has used so far, in ns (/proc/PID/schedstat); -1 when unreadable.
double CpuNs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/schedstat");
  double ns = -1;
  in >> ns;
  return in ? ns : -1;
}

TEST(PortWakeTest, IdleSwitchingSleepsUntilAFrameFromThePortWakesIt) {
  TestGroup group;
  const CommandResult up = group.Vswitch({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.output << group.Log("primary");
  LatencyPeerProcess peer(group, kLatencyPeerCpu, kMacA, kMacB, /*server_mode=*/false);
  std::string learned;
  ASSERT_TRUE(peer.Learn(30s, &learned)) << learned << "\n" << peer.Log() << group.Log("switching");
  EXPECT_EQ(group.Metric("vswitch_port_info", {{"rx_wake", "interrupt"}}), 1.0)
      << "the net_tap port should wake vswitch-switching\n" << group.Log("primary") << group.Log("switching");

  // (1) Idle: guests connected and silent.
  const pid_t switching = group.RolePid("switching");
  ASSERT_GT(switching, 0);
  std::this_thread::sleep_for(1s);  // the learn frames' last echoes
  const std::map<std::string, std::string> timeouts = {{"role", "switching"}, {"end", "timeout"}};
  const std::map<std::string, std::string> woken = {{"role", "switching"}, {"end", "woken"}};
  const double timeouts0 = group.Metric(kSleeps, timeouts), woken0 = group.Metric(kSleeps, woken);
  const double cpu0 = CpuNs(switching);
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(3s);
  const double cpu1 = CpuNs(switching);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double timeouts1 = group.Metric(kSleeps, timeouts), woken1 = group.Metric(kSleeps, woken);
  const double timeout_rate = (timeouts1 - timeouts0) / seconds;
  const double cpu_percent = (cpu1 - cpu0) / (seconds * 1e7);
  std::printf("[ idle     ] vswitch-switching over %.1f s: %.1f sleeps/s ran out, %.1f/s woken, %.2f%% of a CPU\n",
              seconds, timeout_rate, (woken1 - woken0) / seconds, cpu_percent);
  std::fflush(stdout);
  EXPECT_GT(timeouts1, 0.0) << "no sleeps counted: is the monitor up?";
  EXPECT_LE(timeout_rate, kMaxTimeoutsPerSecond)
      << "idle vswitch-switching still wakes on a short timer to look at the port";
  ASSERT_GE(cpu0, 0.0);
  EXPECT_LT(cpu_percent, kMaxCpuPercent);

  // (2) Frames from the port after quiet spells, to guest A (device 0: VLAN 1000).
  const unsigned seed = std::random_device{}();
  const LatencyReport r = peer.FromPort(group.iface(), 1000, kFrames, kMinGap, kMaxGap, kFrameWait, seed, kPortBound);
  std::printf("[ latency  ] port -> guest: %ld frames, median %.0f us, p99 %.0f us, max %.0f us (slowest seq:us:gap_us %s)\n",
              r.received, r.p50_us, r.p99_us, r.max_us, r.slowest.c_str());
  std::fflush(stdout);
  ASSERT_FALSE(r.text.empty()) << "no answer from the peer\n" << peer.Log();
  EXPECT_EQ(r.sent, kFrames) << r.text;
  EXPECT_EQ(r.received, kFrames) << "frames lost: " << r.text;
  EXPECT_EQ(r.duplicates, 0) << r.text;
  EXPECT_EQ(r.out_of_order, 0) << r.text;
  EXPECT_EQ(r.slow, 0) << "frames slower than " << kPortBound.count() << " ms: " << r.text;
  EXPECT_LT(r.max_us, (std::chrono::duration<double, std::micro>(kPortBound).count()))
      << "the slowest frame (seq:us:gap_us " << r.slowest << "): did the port wake vswitch-switching? " << r.text;
  if (HasFailure()) ADD_FAILURE() << peer.Log() << group.Log("primary") << group.Log("switching");
  EXPECT_EQ(group.RoleState("switching"), "up");
}

}  // namespace
}  // namespace vswitch::test
