// The wake-up paths survive a restart of either secondary. A frame from guest A to guest B
// is handed vswitch-vhost -> vswitch-switching (from_vm) and back (to_vm): each process
// wakes the other and is woken by it, and vswitch-vhost is also woken by the guests. A
// restarted process must be woken by, and wake, the survivor (and a restarted
// vswitch-vhost by the reconnected guests) exactly as before. Each restart happens while
// the guests are idle and both processes have had time to fall asleep; then single frames
// at random gaps must all arrive promptly, from the very first.
//
// Frames between the guests go through switching (direct-vm2vm 0, wake_test_common.h):
// that is the path whose wake-ups a restart of either process can break.
//
// vswitch-vhost runs in client mode and the guests' virtio-user ports listen (server=1):
// a virtio-user client of a server-mode socket does not reconnect by itself, a listening
// one accepts the restarted vswitch-vhost.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <thread>

#include "latency_peer_process.h"
#include "test_group.h"
#include "wake_test_common.h"

namespace vswitch::test {
namespace {

using namespace std::chrono_literals;

constexpr int kFrames = 300;
// Long enough for both pollers to back off to their deepest sleep.
constexpr auto kQuiet = 500ms;

class WakeRestartTest : public testing::TestWithParam<WakeLayout> {
 protected:
  void SetUp() override {
    auto config = GetParam().Config();
    config["vhost.client"] = "true";
    group_ = std::make_unique<TestGroup>(config);
    const CommandResult up = group_->Vswitch({"up"});
    ASSERT_EQ(up.exit_code, 0) << up.output << group_->Log("primary");
    peer_ = std::make_unique<LatencyPeerProcess>(*group_, kLatencyPeerCpu, kMacA, kMacB, /*server_mode=*/true);
    Learn("at start");
    if (HasFatalFailure()) return;
    Measure("before any restart");
  }

  void TearDown() override {
    if (HasFailure() && peer_) {
      ADD_FAILURE() << peer_->Log() << group_->Log("primary") << group_->Log("vhost") << group_->Log("switching");
    }
    peer_.reset();  // the guests leave before the group goes down
    group_.reset();
  }

  void Learn(const std::string& when) {
    std::string reply;
    ASSERT_TRUE(peer_->Learn(30s, &reply)) << when << ": switching never learned both guests: " << reply;
    std::printf("[ learn    ] %s: %s\n", when.c_str(), reply.c_str());
  }

  // Quiet, then kFrames single frames A -> B, all prompt.
  void Measure(const std::string& what) {
    std::this_thread::sleep_for(kQuiet);
    const unsigned seed = std::random_device{}();
    const LatencyReport r = peer_->Send(kFrames, kMaxGap, kFrameWait, seed, kSlowestBound);
    ExpectAllArrivedPromptly(r, kFrames, std::string(GetParam().name) + ", " + what + " (gap seed " + std::to_string(seed) + ")");
  }

  // kill -9 `role` while the group is idle, then `deploy/vswitch restart` it.
  void KillAndRestart(const std::string& role) {
    std::this_thread::sleep_for(kQuiet);
    const pid_t old = group_->RolePid(role);
    ASSERT_GT(old, 0);
    ASSERT_EQ(kill(old, SIGKILL), 0);
    ASSERT_TRUE(group_->WaitRoleState(role, "down")) << group_->RoleState(role);
    Restart(role, old);
  }

  // `deploy/vswitch restart role` (SIGTERM, then a new instance) while the group is idle.
  void Restart(const std::string& role, pid_t old = 0) {
    if (old == 0) {
      std::this_thread::sleep_for(kQuiet);
      old = group_->RolePid(role);
    }
    const CommandResult r = group_->Vswitch({"restart", role});
    ASSERT_EQ(r.exit_code, 0) << r.output << group_->Log(role);
    ASSERT_EQ(group_->RoleState(role), "up");
    ASSERT_NE(group_->RolePid(role), old);
  }

  std::unique_ptr<TestGroup> group_;
  std::unique_ptr<LatencyPeerProcess> peer_;
};

// vswitch-switching killed, then restarted with SIGTERM, each time while vswitch-vhost
// sleeps. The new instance adopts the learned MACs: no frame is needed to re-learn, so
// the first frame after the restart already measures the wake-ups.
TEST_P(WakeRestartTest, SwitchingRestartedWhileVhostSleeps) {
  ASSERT_NO_FATAL_FAILURE(KillAndRestart("switching"));
  Measure("after kill -9 and restart of switching");
  ASSERT_NO_FATAL_FAILURE(Restart("switching"));
  Measure("after an orderly restart of switching");
  EXPECT_EQ(group_->Status(".roles.switching.restarts"), "2");
  EXPECT_EQ(group_->Status(".roles.vhost.restarts"), "0");
}

// vswitch-vhost killed, then restarted with SIGTERM, each time while vswitch-switching
// sleeps. The guests reconnect to the new instance and switching forgets a reconnected
// guest's MAC, so they announce themselves again (learn) before the measured frames.
TEST_P(WakeRestartTest, VhostRestartedWhileSwitchingSleepsGuestsReconnect) {
  ASSERT_NO_FATAL_FAILURE(KillAndRestart("vhost"));
  Learn("after kill -9 and restart of vhost");
  Measure("after kill -9 and restart of vhost");
  ASSERT_NO_FATAL_FAILURE(Restart("vhost"));
  Learn("after an orderly restart of vhost");
  Measure("after an orderly restart of vhost");
  EXPECT_EQ(group_->Status(".roles.vhost.restarts"), "2");
  EXPECT_EQ(group_->Status(".roles.switching.restarts"), "0");
  EXPECT_TRUE(peer_->process().Running()) << "the guests stayed up throughout";
}

INSTANTIATE_TEST_SUITE_P(Layouts, WakeRestartTest, testing::Values(kSharedCpu, kSeparateCpus),
                         [](const testing::TestParamInfo<WakeLayout>& info) { return info.param.name; });

}  // namespace
}  // namespace vswitch::test
