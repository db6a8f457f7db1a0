// PlanHeldRecovery (held_recovery.h): which mbufs a killed role's successor frees, for
// each place the writer's order (held_ledger.h) can leave a pointer in. The "mbufs" are
// addresses in a local array: the plan never touches what they point to.
#include "held_recovery.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

namespace vswitch {
namespace {

class HeldRecoveryTest : public testing::Test {
 protected:
  void SetUp() override { held_ = std::make_unique<RoleHeld>(); }
  rte_mbuf* M(int i) { return reinterpret_cast<rte_mbuf*>(&storage_[i]); }
  void Journal(HeldOp op, uint32_t list, uint32_t first, uint32_t count, uint32_t tail_before) {
    held_->journal.op.store(static_cast<uint32_t>(op));
    held_->journal.list.store(list);
    held_->journal.first.store(first);
    held_->journal.count.store(count);
    held_->journal.tail_before.store(tail_before);
  }
  std::vector<rte_mbuf*> Freed(uint32_t tail_now, std::vector<rte_mbuf*> cache = {}) {
    plan_ = PlanHeldRecovery(*held_, tail_now, cache);
    std::vector<rte_mbuf*> v = plan_.to_free;
    std::sort(v.begin(), v.end());
    return v;
  }
  rte_mbuf** List(uint32_t l) { return held_->lists[l].slots; }

  std::unique_ptr<RoleHeld> held_;
  HeldRecoveryPlan plan_;
  long storage_[64] = {};
};

TEST_F(HeldRecoveryTest, AnEmptyLedgerFreesNothing) {
  EXPECT_TRUE(Freed(0).empty());
}

TEST_F(HeldRecoveryTest, EveryNamedMbufInEveryListIsFreedOnce) {
  List(held::kSwitchingBurst)[3] = M(1);
  List(held::SwitchingToVm(5))[0] = M(2);
  List(held::SwitchingToVm(5))[1] = M(3);
  // Moving from the burst to a batch: in both lists for an instant.
  List(held::kSwitchingBurst)[4] = M(4);
  List(held::SwitchingToVm(7))[0] = M(4);
  EXPECT_EQ(Freed(0), (std::vector<rte_mbuf*>{M(1), M(2), M(3), M(4)}));
  EXPECT_EQ(plan_.duplicates, 1u);
}

TEST_F(HeldRecoveryTest, AnEnqueueKilledAfterPublishingLeavesThePublishedToTheRing) {
  // 8 slots from slot 2 journaled onto a ring whose tail was 1000; the ring took 5 before
  // the kill, the slots not yet erased.
  for (int i = 0; i < 10; ++i) List(held::SwitchingToVm(0))[i] = M(i);
  // One of the published mbufs is still in the burst list too (erased there after).
  List(held::kSwitchingBurst)[0] = M(3);
  Journal(HeldOp::kEnqueue, held::SwitchingToVm(0), 2, 8, 1000);
  EXPECT_EQ(Freed(1005), (std::vector<rte_mbuf*>{M(0), M(1), M(7), M(8), M(9)}));
  EXPECT_EQ(plan_.published, 6u);  // slots 2..6 and the burst's copy of 3
}

TEST_F(HeldRecoveryTest, AnEnqueueThatPublishedNothingLeavesEverythingToFree) {
  for (int i = 0; i < 4; ++i) List(held::SwitchingToVm(1))[i] = M(i);
  Journal(HeldOp::kEnqueue, held::SwitchingToVm(1), 0, 4, 0xfffffffeu);
  EXPECT_EQ(Freed(0xfffffffeu).size(), 4u);
  // The ring index wraps: 2 published across 2^32.
  EXPECT_EQ(Freed(0u), (std::vector<rte_mbuf*>{M(2), M(3)}));
}

TEST_F(HeldRecoveryTest, ADequeueKilledBeforeItsTailMovedTakesNothing) {
  for (int i = 0; i < 6; ++i) List(held::kSwitchingBurst)[i] = M(i);
  Journal(HeldOp::kDequeue, held::kSwitchingBurst, 0, 32, 500);
  EXPECT_TRUE(Freed(500).empty());  // the ring hands them out again (ring repair)
  EXPECT_EQ(plan_.not_taken, 6u);
  EXPECT_EQ(Freed(504), (std::vector<rte_mbuf*>{M(0), M(1), M(2), M(3)}));
}

TEST_F(HeldRecoveryTest, AnMbufFreedButNotYetErasedIsInThePoolCacheAndLeftThere) {
  List(held::VhostPending(2))[0] = M(10);
  List(held::VhostPending(2))[1] = M(11);
  List(held::VhostPending(2))[2] = M(12);
  EXPECT_EQ(Freed(0, {M(40), M(11), M(10)}), (std::vector<rte_mbuf*>{M(12)}));
  EXPECT_EQ(plan_.freed_already, 2u);
}

TEST_F(HeldRecoveryTest, AJournalThatClaimsMoreThanItAskedIsClamped) {
  for (int i = 0; i < 4; ++i) List(held::kVhostTxBurst)[i] = M(i);
  Journal(HeldOp::kEnqueue, held::kVhostTxBurst, 0, 2, 10);
  EXPECT_EQ(Freed(50), (std::vector<rte_mbuf*>{M(2), M(3)}));
  EXPECT_TRUE(plan_.journal_clamped);
}

}  // namespace
}  // namespace vswitch
