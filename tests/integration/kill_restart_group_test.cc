// kill -9 of a secondary under continuous traffic, again and again, restarting it after
// each kill as an operator (or systemd) would: traffic comes back every time, and once the
// guests stop, exactly as many mbufs are in use outside the device rings as after the same
// traffic without kills. Every mbuf the killed instances held outside the rings (a burst
// being routed, batches for a ring, frames waiting for a guest's buffers, the packet
// builder's spares) was found by its successor and freed once (held_mbufs.h).
//
// Two testpmd guests in txonly, each addressed to the other, through switching's rings
// (direct-vm2vm 0, or switching would hold nothing). The number of kills per role is
// VSWITCH_KILLS (default 10 in the suite; bench/kill-restart.sh runs 100).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "process.h"
#include "test_env.h"
#include "test_group.h"
#include "virtio_user.h"

namespace vswitch::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kMacA = "02:00:00:00:00:0a";  // device 0
constexpr const char* kMacB = "02:00:00:00:00:0b";  // device 1

int Kills() {
  const char* v = std::getenv("VSWITCH_KILLS");
  const int n = v != nullptr ? std::atoi(v) : 10;
  return n > 0 ? n : 10;
}

class KillRestartGroupTest : public testing::Test {
 protected:
  void Start(bool client) {
    std::map<std::string, std::string> config{{"switching.direct-vm2vm", "0"}};
    if (client) config["vhost.client"] = "true";
    client_ = client;
    group_ = std::make_unique<TestGroup>(config);
    const CommandResult up = group_->Vswitch({"up"});
    ASSERT_EQ(up.exit_code, 0) << up.output << group_->Log("switching");
  }
  TestGroup& g() { return *group_; }

  void StartGuests() {
    const std::string extra = client_ ? ",server=1" : "";
    a_ = std::make_unique<VirtioUser>(g().dir(), g().socket(0), "txonly", kMacA, extra,
                                      std::vector<std::string>{"--eth-peer=0," + std::string(kMacB)});
    b_ = std::make_unique<VirtioUser>(g().dir(), g().socket(1), "txonly", kMacB, extra,
                                      std::vector<std::string>{"--eth-peer=0," + std::string(kMacA)});
  }
  void StopGuests() {
    a_.reset();
    b_.reset();
  }
  // Frames switching has taken from the guests so far (txonly guests never read theirs:
  // their RX rings stay full, and vswitch-vhost holds frames for them, as after any
  // guest that stops reading).
  double Delivered() {
    return g().Metric("vswitch_device_packets_total", {{"stage", "switching"}, {"direction", "tx"}});
  }
  // True once more frames than `than` have been delivered (polled every 20 ms).
  bool WaitDelivered(double than, std::chrono::milliseconds timeout) {
    return WaitFor([&] { return Delivered() > than; }, timeout);
  }
  // The mbufs in use outside the device rings once that has stopped moving (guests
  // gone). A guest that leaves can strand a burst in a ring (taken from it just before it
  // left, for a consumer that has stopped polling it): queued, not lost, and taken at its
  // next connection; the pool's in-use count alone moves by it from run to run.
  double SettledHeld() {
    double last = -1;
    for (int i = 0; i < 40; ++i) {
      std::this_thread::sleep_for(500ms);
      const double in_use = g().Metric("vswitch_mbuf_pool_in_use");
      const double queued = g().Metric("vswitch_ring_entries");
      const double now = in_use - queued;
      if (now == last) {
        std::printf("mbufs in use %.0f, of them in the device rings %.0f\n", in_use, queued);
        return now;
      }
      last = now;
    }
    return last;
  }

  // Baseline: the same traffic without kills.
  double Baseline() {
    StartGuests();
    EXPECT_TRUE(WaitDelivered(Delivered() + 100000, 30s)) << g().Log("switching") << g().Log("vhost");
    std::this_thread::sleep_for(2s);
    StopGuests();
    return SettledHeld();
  }

  // Kills `role` Kills() times under traffic, restarting it after each; returns the
  // seconds from each kill to the first frame moved after it.
  std::vector<double> KillUnderTraffic(const std::string& role) {
    std::vector<double> back;
    std::mt19937 random(static_cast<unsigned>(getpid()));
    StartGuests();
    EXPECT_TRUE(WaitDelivered(Delivered() + 100000, 30s)) << g().Log("switching") << g().Log("vhost");
    for (int k = 0; k < Kills(); ++k) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 400)(random)));
      const pid_t pid = g().RolePid(role);
      if (pid <= 0) {
        ADD_FAILURE() << "kill " << k << ": no " << role << " pid";
        break;
      }
      // The counters live in the primary's memory: none goes back across a kill.
      const double pre = Delivered();
      if (pre < last_seen_) ADD_FAILURE() << "kill " << k << ": the frame counter went back from " << last_seen_ << " to " << pre;
      last_seen_ = pre;
      EXPECT_EQ(kill(pid, SIGKILL), 0);
      EXPECT_TRUE(WaitFor([&] { return !PidAlive(pid); }, 10s));
      const auto killed = Clock::now();
      // Frames move on without the monitor (nobody serves the counters meanwhile).
      const double before = role == "monitor" ? pre : Delivered();
      const CommandResult r = g().Vswitch({"restart", role});
      EXPECT_EQ(r.exit_code, 0) << r.output << g().Log(role);
      if (!WaitDelivered(before, 20s)) {
        ADD_FAILURE() << "kill " << k << ": no frame moved within 20 s of the restart\n"
                      << g().Log(role) << g().Log(role == "vhost" ? "switching" : "vhost");
        break;
      }
      back.push_back(std::chrono::duration<double>(Clock::now() - killed).count());
    }
    ExpectMacsKept(role);
    StopGuests();
    return back;
  }

  void Report(const std::string& role, std::vector<double> back) {
    if (back.empty()) return;
    std::sort(back.begin(), back.end());
    double sum = 0;
    for (double s : back) sum += s;
    std::printf("%s: %zu kills, traffic back after %.2f s mean, %.2f s median, %.2f s worst "
                "(kill to the first scrape showing switching took a frame from a guest, restart included)\n", role.c_str(), back.size(),
                sum / back.size(), back[back.size() / 2], back.back());
  }

  // Both guests' MACs are in the MAC table while they still send after the kills (it
  // lives in the primary; a restarted switching adopts it, a reconnected guest is
  // learned again).
  void ExpectMacsKept(const std::string& role) {
    EXPECT_EQ(g().Metric("vswitch_mac_table_entries"), 2) << "after the kills of " << role << "\n" << g().Log("switching");
  }

  double last_seen_ = 0;
  bool client_ = false;
  std::unique_ptr<TestGroup> group_;
  std::unique_ptr<VirtioUser> a_, b_;
};

TEST_F(KillRestartGroupTest, SwitchingKilledUnderTrafficLosesNoMbuf) {
  ASSERT_NO_FATAL_FAILURE(Start(false));
  const double baseline = Baseline();
  ASSERT_GT(baseline, 0);
  const double before = Delivered();
  const std::vector<double> back = KillUnderTraffic("switching");
  Report("switching", back);
  EXPECT_EQ(static_cast<int>(back.size()), Kills());
  const double after = SettledHeld();
  EXPECT_EQ(after, baseline) << "mbufs in use outside the rings after " << back.size() << " kills of switching: " << after
                             << ", without kills: " << baseline << "\n" << g().Log("switching");
  EXPECT_GT(Delivered(), before);
  std::printf("mbufs recovered from killed switching instances: %.0f\n",
              g().Metric("vswitch_role_mbufs_recovered_total", {{"role", "switching"}}));
}

TEST_F(KillRestartGroupTest, VhostKilledUnderTrafficLosesNoMbuf) {
  ASSERT_NO_FATAL_FAILURE(Start(true));
  const double baseline = Baseline();
  ASSERT_GT(baseline, 0);
  const std::vector<double> back = KillUnderTraffic("vhost");
  Report("vhost", back);
  EXPECT_EQ(static_cast<int>(back.size()), Kills());
  const double after = SettledHeld();
  EXPECT_EQ(after, baseline) << "mbufs in use outside the rings after " << back.size() << " kills of vhost: " << after
                             << ", without kills: " << baseline << "\n" << g().Log("vhost");
  std::printf("mbufs recovered from killed vhost instances: %.0f\n",
              g().Metric("vswitch_role_mbufs_recovered_total", {{"role", "vhost"}}));
}

// The monitor holds no mbufs and owns no ring end: killed and restarted under traffic it
// serves the same counters again, none of them gone back.
TEST_F(KillRestartGroupTest, MonitorKilledUnderTrafficServesTheSameCounters) {
  ASSERT_NO_FATAL_FAILURE(Start(false));
  const double baseline = Baseline();
  const std::vector<double> back = KillUnderTraffic("monitor");
  EXPECT_EQ(static_cast<int>(back.size()), Kills());
  Report("monitor", back);
  EXPECT_EQ(SettledHeld(), baseline);
}

}  // namespace
}  // namespace vswitch::test
