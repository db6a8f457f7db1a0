// SeqChecker (tests/tools/seq_checker.h), the check kill_restart_group_test relies on to
// see a ring slot delivered twice or lost: each case is one a kill could produce.
#include "seq_checker.h"

#include <gtest/gtest.h>

namespace vswitch::tools {
namespace {

void Feed(SeqChecker& c, std::initializer_list<uint64_t> seqs) {
  for (uint64_t s : seqs) c.Arrived(s);
}

TEST(SeqCheckerTest, EveryFrameOnceInOrderIsNothingMissing) {
  SeqChecker c;
  for (uint64_t s = 0; s < 1000; ++s) c.Arrived(s);
  EXPECT_EQ(c.received(), 1000u);
  EXPECT_EQ(c.Missing(1000), 0u);
  EXPECT_EQ(c.duplicates(), 0u);
  EXPECT_EQ(c.gaps_opened(), 0u);
  EXPECT_FALSE(c.beyond(1000));
}

TEST(SeqCheckerTest, ASkippedRangeIsMissing) {
  SeqChecker c;
  Feed(c, {0, 1, 2, 7, 8});
  EXPECT_EQ(c.Missing(9), 4u);  // 3..6
  EXPECT_EQ(c.gaps_opened(), 1u);
  ASSERT_EQ(c.Gaps(10).size(), 1u);
  EXPECT_EQ(c.Gaps(10)[0], std::make_pair(uint64_t{3}, uint64_t{7}));
}

TEST(SeqCheckerTest, TheTailNeverSeenIsMissing) {
  SeqChecker c;
  Feed(c, {0, 1, 2});
  EXPECT_EQ(c.Missing(10), 7u);
}

// A restarted back-end reading chains again from the used index: frames already
// delivered come a second time, after later ones.
TEST(SeqCheckerTest, ARangeDeliveredAgainIsDuplicates) {
  SeqChecker c;
  Feed(c, {0, 1, 2, 3, 4, 5, 3, 4, 5, 6});
  EXPECT_EQ(c.duplicates(), 3u);
  EXPECT_EQ(c.received(), 7u);
  EXPECT_EQ(c.Missing(7), 0u);
}

// A number inside a gap that arrives late fills it, once; the second time it is a
// duplicate.
TEST(SeqCheckerTest, ALateFrameFillsItsGapOnce) {
  SeqChecker c;
  Feed(c, {0, 5, 3, 3, 1, 4, 2});
  EXPECT_EQ(c.late(), 4u);
  EXPECT_EQ(c.duplicates(), 1u);
  EXPECT_EQ(c.Missing(6), 0u);
  EXPECT_TRUE(c.Gaps(10).empty());
}

TEST(SeqCheckerTest, ADuplicateBeforeAGapIsNotTakenForLate) {
  SeqChecker c;
  Feed(c, {0, 1, 2, 6, 1, 7, 0});
  EXPECT_EQ(c.duplicates(), 2u);
  EXPECT_EQ(c.late(), 0u);
  EXPECT_EQ(c.Missing(8), 3u);  // 3, 4, 5
}

TEST(SeqCheckerTest, NumbersPastWhatWasSentAreReported) {
  SeqChecker c;
  Feed(c, {0, 1, 50});
  EXPECT_TRUE(c.beyond(10));
  EXPECT_FALSE(c.beyond(51));
}

}  // namespace
}  // namespace vswitch::tools
