#include "mac_learning.h"

#include <gtest/gtest.h>

#include "vlan_tag.h"

namespace vswitch {
namespace {

const MacKey kA = *MacFromString("52:54:00:00:00:0a");
const MacKey kB = *MacFromString("52:54:00:00:00:0b");

TEST(MacLearningTest, FirstFrameRegistersItsSource) {
  const LearnDecision d = DecideLearning(0, false, 0, kA, std::nullopt);
  EXPECT_EQ(d.action, LearnAction::kRegister);
}

TEST(MacLearningTest, AMacOwnedByAnotherDeviceIsRefused) {
  const LearnDecision d = DecideLearning(1, false, 0, kA, 0u);
  EXPECT_EQ(d.action, LearnAction::kRefuse);
  EXPECT_EQ(d.owner, 0u);
  // After learning its own MAC, another device's MAC as source is refused too (spoofing).
  EXPECT_EQ(DecideLearning(1, true, kB, kA, 0u).action, LearnAction::kRefuse);
}

TEST(MacLearningTest, LearnedOnceThenRoutedAsIs) {
  EXPECT_EQ(DecideLearning(0, true, kA, kA, 0u).action, LearnAction::kNone);
  // A second source nobody owns: vhost-switch learns once and keeps the first.
  EXPECT_EQ(DecideLearning(0, true, kA, kB, std::nullopt).action, LearnAction::kNone);
}

TEST(MacLearningTest, OurOwnStaleEntryIsReRegistered) {
  EXPECT_EQ(DecideLearning(2, false, 0, kA, 2u).action, LearnAction::kRegister);
}

TEST(MacLearningTest, MulticastAndZeroSourcesAreNeverLearned) {
  EXPECT_EQ(DecideLearning(0, false, 0, 0, std::nullopt).action, LearnAction::kInvalidSource);
  EXPECT_EQ(DecideLearning(0, false, 0, *MacFromString("01:00:5e:00:00:01"), std::nullopt).action,
            LearnAction::kInvalidSource);
}

TEST(VlanTagTest, DeviceIOwnsVlan1000PlusI) {
  EXPECT_EQ(VlanOfDevice(0), 1000);
  EXPECT_EQ(VlanOfDevice(63), 1063);
  EXPECT_EQ(DeviceOfVlan(1000, 8), 0u);
  EXPECT_EQ(DeviceOfVlan(1007, 8), 7u);
  EXPECT_EQ(DeviceOfVlan(1008, 8), std::nullopt);
  EXPECT_EQ(DeviceOfVlan(999, 8), std::nullopt);
  EXPECT_EQ(DeviceOfVlan(0, 8), std::nullopt);
}

}  // namespace
}  // namespace vswitch
