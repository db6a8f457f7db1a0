// When a poller polls, yields its CPU or sleeps (secondary/common/pace_policy.h).
#include "pace_policy.h"

#include <gtest/gtest.h>

namespace vswitch {
namespace {

TEST(PacePolicyTest, OwnCpuSpinsAfterWorkThenSleeps) {
  PacePolicy p;
  EXPECT_EQ(p.Next(32, true, false, true, 1'000), PaceAction::kPoll);  // load: no syscalls
  EXPECT_EQ(p.Next(0, false, false, true, 2'000), PaceAction::kPoll);
  EXPECT_EQ(p.Next(0, false, false, true, 2'000 + PacePolicy::kSpinNs - 1), PaceAction::kPoll);
  EXPECT_EQ(p.Next(0, false, false, true, 2'000 + PacePolicy::kSpinNs), PaceAction::kSleep);
  p.Woke();
  // A sleep that brought no work: straight back to sleep.
  EXPECT_EQ(p.Next(0, false, false, true, 10'000'000), PaceAction::kSleep);
  p.Woke();
  // Work after a sleep: the spin starts again.
  EXPECT_EQ(p.Next(1, false, false, true, 20'000'001), PaceAction::kPoll);
  EXPECT_EQ(p.Next(0, false, false, true, 20'000'002), PaceAction::kPoll);
  EXPECT_EQ(p.Next(0, false, false, true, 20'000'002 + PacePolicy::kSpinNs), PaceAction::kSleep);
}

TEST(PacePolicyTest, SharedCpuYieldsAfterAHandOffAndNeverSpinsWhileTheOtherIsAwake) {
  PacePolicy p;
  EXPECT_EQ(p.Next(32, true, true, true, 0), PaceAction::kYield);   // the other role has work now
  EXPECT_EQ(p.Next(32, false, true, true, 0), PaceAction::kPoll);   // work, nothing handed over
  for (uint32_t i = 0; i < PacePolicy::kSharedIdleRounds; ++i) {
    EXPECT_EQ(p.Next(0, false, true, true, 0), PaceAction::kYield) << i;
  }
  EXPECT_EQ(p.Next(0, false, true, true, 0), PaceAction::kSleep);
  p.Woke();
  EXPECT_EQ(p.Next(0, false, true, true, 0), PaceAction::kSleep);  // woken for nothing
  p.Woke();
  EXPECT_EQ(p.Next(1, true, true, true, 0), PaceAction::kYield);
  EXPECT_EQ(p.Next(0, false, true, true, 0), PaceAction::kYield);
}

TEST(PacePolicyTest, SharedCpuWithTheOtherAsleepSpinsLikeAnOwnCpu) {
  // Nobody to give the CPU to: a yield would only cost a system call.
  PacePolicy p;
  EXPECT_EQ(p.Next(32, true, true, false, 0), PaceAction::kYield);  // it is being woken
  EXPECT_EQ(p.Next(0, false, true, false, 1'000), PaceAction::kPoll);
  EXPECT_EQ(p.Next(0, false, true, false, 1'000 + PacePolicy::kSpinNs), PaceAction::kSleep);
}

}  // namespace
}  // namespace vswitch
