// When a poller polls, yields its CPU or sleeps (secondary/common/pace_policy.h).
#include "pace_policy.h"

#include <gtest/gtest.h>

namespace vswitch {
namespace {

TEST(PacePolicyTest, OwnCpuSpinsAfterWorkThenSleeps) {
  PacePolicy p;
  EXPECT_EQ(p.Next(32, true, false, 1'000), PaceAction::kPoll);  // load: no syscalls
  EXPECT_EQ(p.Next(0, false, false, 2'000), PaceAction::kPoll);
  EXPECT_EQ(p.Next(0, false, false, 2'000 + PacePolicy::kSpinNs - 1), PaceAction::kPoll);
  EXPECT_EQ(p.Next(0, false, false, 2'000 + PacePolicy::kSpinNs), PaceAction::kSleep);
  p.Woke();
  // The spin starts again after a sleep and after work.
  EXPECT_EQ(p.Next(0, false, false, 10'000'000), PaceAction::kPoll);
  EXPECT_EQ(p.Next(1, false, false, 10'000'001), PaceAction::kPoll);
  EXPECT_EQ(p.Next(0, false, false, 10'000'002), PaceAction::kPoll);
}

TEST(PacePolicyTest, SharedCpuYieldsAfterAHandOffAndNeverSpinsIdle) {
  PacePolicy p;
  EXPECT_EQ(p.Next(32, true, true, 0), PaceAction::kYield);   // the other role has work now
  EXPECT_EQ(p.Next(32, false, true, 0), PaceAction::kPoll);   // work, nothing handed over
  for (uint32_t i = 0; i < PacePolicy::kSharedIdleRounds; ++i) {
    EXPECT_EQ(p.Next(0, false, true, 0), PaceAction::kYield) << i;
  }
  EXPECT_EQ(p.Next(0, false, true, 0), PaceAction::kSleep);
  p.Woke();
  EXPECT_EQ(p.Next(0, false, true, 0), PaceAction::kYield);
}

}  // namespace
}  // namespace vswitch
