#include "cpu_placement.h"

#include <gtest/gtest.h>

#include <sched.h>

#include <algorithm>

namespace vswitch {
namespace {

using Placement = std::array<unsigned, kRoleCount>;  // primary, vhost, switching, monitor

TEST(CpuPlacementTest, OneCpuRunsEverything) {
  EXPECT_EQ(PlaceRoles({0}), (Placement{0, 0, 0, 0}));
  EXPECT_EQ(PlaceRoles({5}), (Placement{5, 5, 5, 5}));
  EXPECT_EQ(PlaceRoles({}), (Placement{0, 0, 0, 0})) << "no answer from the kernel: CPU 0";
}

TEST(CpuPlacementTest, TwoCpusLeaveTheFirstToTheGuests) {
  // The pollers share the last CPU; primary and monitor only wake up now and then.
  EXPECT_EQ(PlaceRoles({0, 1}), (Placement{0, 1, 1, 0}));
  EXPECT_EQ(PlaceRoles({1, 0}), (Placement{0, 1, 1, 0})) << "order does not matter";
  EXPECT_EQ(PlaceRoles({1, 1, 0}), (Placement{0, 1, 1, 0})) << "duplicates do not count";
}

TEST(CpuPlacementTest, ThreeCpusGiveEachPollerItsOwn) {
  EXPECT_EQ(PlaceRoles({0, 1, 2}), (Placement{0, 2, 1, 0}));
}

TEST(CpuPlacementTest, FourOrMoreKeepTheRestForGuests) {
  EXPECT_EQ(PlaceRoles({0, 1, 2, 3}), (Placement{0, 3, 2, 0}));
  std::vector<unsigned> many(64);
  for (unsigned i = 0; i < many.size(); ++i) many[i] = i;
  EXPECT_EQ(PlaceRoles(many), (Placement{0, 63, 62, 0}));
}

TEST(CpuPlacementTest, OnlyTheAllowedCpusAreUsed) {
  // taskset -c 2,5,7 (or a cgroup cpuset): the mask, not the count, decides.
  EXPECT_EQ(PlaceRoles({7, 2, 5}), (Placement{2, 7, 5, 2}));
  EXPECT_EQ(PlaceRoles({3, 9}), (Placement{3, 9, 9, 3}));
}

TEST(CpuPlacementTest, PollersNeverShareTheGuestsCpuWhenThereIsAnother) {
  for (unsigned n = 2; n <= 16; ++n) {
    std::vector<unsigned> cpus(n);
    for (unsigned i = 0; i < n; ++i) cpus[i] = i;
    const Placement p = PlaceRoles(cpus);
    SCOPED_TRACE(n);
    EXPECT_NE(p[static_cast<size_t>(Role::kVhost)], 0u);
    EXPECT_NE(p[static_cast<size_t>(Role::kSwitching)], 0u);
    if (n >= 3) {
      EXPECT_NE(p[static_cast<size_t>(Role::kVhost)], p[static_cast<size_t>(Role::kSwitching)]);
    }
  }
}

TEST(CpuPlacementTest, AllowedCpusIsThisProcessMask) {
  const std::vector<unsigned> cpus = AllowedCpus();
  ASSERT_FALSE(cpus.empty());
  EXPECT_TRUE(std::is_sorted(cpus.begin(), cpus.end()));
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_EQ(static_cast<int>(cpus.size()), CPU_COUNT(&set));
  for (unsigned c : cpus) EXPECT_TRUE(CPU_ISSET(c, &set)) << c;
}

}  // namespace
}  // namespace vswitch
