#include "liveness.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>

namespace vswitch {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;

class LivenessTest : public testing::Test {
 protected:
  void Register(Role role, pid_t pid, uint64_t heartbeat) {
    RoleSlot& slot = state_->roles[static_cast<size_t>(role)];
    slot.pid = pid;
    slot.heartbeat_ns = heartbeat;
    slot.state = static_cast<uint32_t>(RoleState::kUp);
  }
  RoleSlot& Slot(Role role) { return state_->roles[static_cast<size_t>(role)]; }
  std::vector<LivenessEvent> Check(uint64_t now) {
    return CheckLiveness(*state_, now, 3 * kSecond, [this](pid_t p) { return alive_.count(p) > 0; });
  }

  std::unique_ptr<SharedState> state_ = std::make_unique<SharedState>();
  std::set<pid_t> alive_;
};

TEST_F(LivenessTest, HealthySecondariesAreLeftAlone) {
  Register(Role::kVhost, 100, 10 * kSecond);
  alive_ = {100};
  EXPECT_TRUE(Check(11 * kSecond).empty());
  EXPECT_EQ(Slot(Role::kVhost).pid.load(), 100);
}

TEST_F(LivenessTest, AGoneProcessFreesItsRole) {
  Register(Role::kSwitching, 200, 10 * kSecond);
  const auto events = Check(11 * kSecond);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].role, Role::kSwitching);
  EXPECT_EQ(events[0].pid, 200);
  EXPECT_TRUE(events[0].gone);
  EXPECT_EQ(Slot(Role::kSwitching).pid.load(), 0);
  EXPECT_EQ(Slot(Role::kSwitching).state.load(), static_cast<uint32_t>(RoleState::kDown));
  EXPECT_EQ(Slot(Role::kSwitching).deaths.load(), 1u);
  EXPECT_TRUE(Check(12 * kSecond).empty()) << "reported once";
}

TEST_F(LivenessTest, AHungProcessIsDownButKeepsItsPid) {
  Register(Role::kMonitor, 300, 10 * kSecond);
  alive_ = {300};
  const auto events = Check(14 * kSecond);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].gone);
  EXPECT_EQ(events[0].silent_ms, 4000u);
  EXPECT_EQ(Slot(Role::kMonitor).pid.load(), 300) << "a second instance must still be refused";
  EXPECT_EQ(Slot(Role::kMonitor).state.load(), static_cast<uint32_t>(RoleState::kDown));
  EXPECT_TRUE(Check(15 * kSecond).empty()) << "reported once";
}

TEST_F(LivenessTest, ThePrimaryIsNotItsOwnWatcher) {
  Register(Role::kPrimary, 1, 0);
  EXPECT_TRUE(Check(100 * kSecond).empty());
}

}  // namespace
}  // namespace vswitch
