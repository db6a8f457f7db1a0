// The record a packed ring leaves for the next back-end instance (packed_ring_record.h),
// over heap memory: a device "dies" (its PackedRing is dropped with no GET_VRING_BASE,
// sometimes with its record cut as a kill between two stores would leave it), a second
// PackedRing starts on the same ring with the front-end's stale base, and the mock driver
// checks that every buffer ID comes back exactly once (it throws on an ID it did not hand
// out) and that no chain is read twice. A ring the front-end reset, or another ring,
// must start from the front-end's base.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "mock_packed_queue.h"
#include "packed_ring.h"
#include "packed_ring_record.h"

namespace vswitch::vhost {
namespace {

using test::BufferSpec;
using test::HeapGuestMemory;
using test::MockPackedQueue;
using test::Pattern;

constexpr uint64_t kRegion = 0x100000;
constexpr uint64_t kRegionSize = 1 << 20;
constexpr PackedRingState kFreshBase{{0, true}, {0, true}};  // what virtio-user sends

class PackedRecordTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(16); }
  void Make(uint16_t size) {
    mem_ = std::make_unique<HeapGuestMemory>();
    mem_->AddRegion(kRegion, kRegionSize);
    q_ = std::make_unique<MockPackedQueue>(*mem_, size, kRegion, kRegion + 0x10000, 0xf0000);
    record_ = std::make_unique<PackedRingRecord>();
    identity_ = {kRegion, kRegion + 16ull * size, kRegion + 16ull * size + 4, 7, 42, size};
    Start(kFreshBase, false);
  }
  // A new device instance on the ring: Init from the front-end's base, then the record.
  PackedResumePlan Start(PackedRingState frontend_base, bool resume = true) {
    ring_ = std::make_unique<PackedRing>();
    ring_->Init(q_->Layout(), &mem_->table(), frontend_base, RingOptions{false, true, false});
    PackedResumePlan plan;
    if (resume) plan = PlanPackedResume(*record_, identity_, q_->Layout().desc);
    (void)ring_->AttachRecord(record_.get(), identity_, &plan);
    return plan;
  }
  // Reads every available chain; returns their IDs (Advance done, nothing returned).
  std::vector<uint16_t> Consume() {
    std::vector<uint16_t> ids;
    const uint16_t n = ring_->Available(stats_);
    segments_.clear();
    for (uint16_t i = 0; i < n; ++i) {
      Chain c;
      EXPECT_FALSE(ring_->ReadChain(i, Direction::kDeviceReadable, segments_, c));
      ids.push_back(c.head);
    }
    ring_->Advance(n);
    return ids;
  }
  void Return(const std::vector<uint16_t>& ids) {
    for (uint16_t id : ids) ring_->PutUsed(id, 0);
    (void)ring_->PublishUsed();
  }
  // The driver: `n` one- or two-descriptor TX chains.
  std::vector<uint16_t> Post(int n, bool two_descs = false) {
    std::vector<uint16_t> ids;
    const uint32_t split[] = {20};
    for (int i = 0; i < n; ++i) {
      ids.push_back(two_descs ? q_->AddReadableBytes(Pattern(64, static_cast<uint8_t>(i)), split)
                              : q_->AddReadableBytes(Pattern(64, static_cast<uint8_t>(i))));
    }
    return ids;
  }
  std::vector<uint16_t> DriverReaps() {
    std::vector<uint16_t> ids;
    while (auto u = q_->PollUsed()) ids.push_back(u->id);
    return ids;
  }
  // Runs `rounds` bursts of `n` chains, each read, returned and reaped.
  void Traffic(int rounds, int n, bool two_descs = false) {
    for (int r = 0; r < rounds; ++r) {
      Post(n, two_descs);
      const auto ids = Consume();
      ASSERT_EQ(ids.size(), static_cast<size_t>(n));
      Return(ids);
      ASSERT_EQ(DriverReaps(), ids);
    }
  }
  static std::vector<uint16_t> Sorted(std::vector<uint16_t> v) {
    std::sort(v.begin(), v.end());
    return v;
  }

  std::unique_ptr<HeapGuestMemory> mem_;
  std::unique_ptr<MockPackedQueue> q_;
  std::unique_ptr<PackedRingRecord> record_;
  PackedRingIdentity identity_;
  std::unique_ptr<PackedRing> ring_;
  QueueStats stats_;
  SegmentList segments_;
};

TEST_F(PackedRecordTest, ANewInstanceResumesWhereTheDeadOneStoppedNotAtTheStaleBase) {
  Traffic(7, 3);  // 21 descriptors: past the end of the 16-entry ring, wrap 0 now
  const PackedRingState left = ring_->state();
  ASSERT_EQ(left.avail, (PackedPosition{5, false}));
  ring_.reset();  // killed: no GET_VRING_BASE
  const auto posted = Post(4);
  const PackedResumePlan plan = Start(kFreshBase);
  ASSERT_TRUE(plan.adopt) << plan.why;
  EXPECT_EQ(plan.state, left);
  EXPECT_TRUE(plan.returning.empty());
  // The next instance reads exactly what was posted after the death, and the ring goes on.
  const auto ids = Consume();
  EXPECT_EQ(ids, posted);
  Return(ids);
  EXPECT_EQ(DriverReaps(), posted);
  Traffic(10, 5);
}

TEST_F(PackedRecordTest, ChainsHeldAtTheDeathAreReturnedOnceAndNeverReadAgain) {
  Traffic(3, 4);
  const auto posted = Post(6, true);  // two descriptors each: 12 in flight
  const auto ids = Consume();
  ASSERT_EQ(ids, posted);
  // Zero-copy: two come back out of order, four are still held when the process dies.
  Return({ids[4], ids[1]});
  EXPECT_EQ(DriverReaps(), (std::vector<uint16_t>{ids[4], ids[1]}));
  ring_.reset();
  const PackedResumePlan plan = Start(kFreshBase);
  ASSERT_TRUE(plan.adopt) << plan.why;
  ASSERT_EQ(plan.returning.size(), 4u);
  EXPECT_EQ(Sorted(DriverReaps()), Sorted({ids[0], ids[2], ids[3], ids[5]}));
  // Nothing is left to read again; new chains are read and the ring stays in step.
  EXPECT_EQ(ring_->Available(stats_), 0);
  Traffic(8, 3, true);
}

TEST_F(PackedRecordTest, ChainsConsumedAfterTheLastRecordAreReadAgainNotReturned) {
  Traffic(2, 5);
  const auto posted = Post(3);
  const auto ids = Consume();  // consumed and held, the burst's PublishUsed never ran
  ASSERT_EQ(ids, posted);
  ring_.reset();
  const PackedResumePlan plan = Start(kFreshBase);
  ASSERT_TRUE(plan.adopt) << plan.why;
  EXPECT_TRUE(plan.returning.empty());
  EXPECT_TRUE(DriverReaps().empty());
  const auto again = Consume();
  EXPECT_EQ(again, posted);  // read once more: nothing had left the dead process
  Return(again);
  EXPECT_EQ(DriverReaps(), posted);
}

TEST_F(PackedRecordTest, ABatchTheDeathCutShortCountsOnlyIfItsFirstFlagWasWritten) {
  Traffic(2, 3);
  const auto ids = Consume();
  ASSERT_TRUE(ids.empty());
  const auto posted = Post(4);
  ASSERT_EQ(Consume(), posted);
  (void)ring_->PublishUsed();  // all held: the avail place is recorded
  const uint64_t committed = record_->committed.load();
  const PackedRingState before = ring_->state();

  // Case 1: killed after `pending` was stored, before any flag: as PublishUsed stores it.
  for (uint16_t id : {posted[0], posted[2]}) ring_->PutUsed(id, 0);
  PackedPosition end = PackedAdvance(before.used, 2, q_->size());
  record_->pending.store(EncodeRecordedPosition({before.avail, end}, PackedAdvance(before.used, 1, q_->size()), true));
  ring_.reset();
  PackedResumePlan plan = Start(kFreshBase);
  ASSERT_TRUE(plan.adopt) << plan.why;
  EXPECT_EQ(plan.state, before);
  EXPECT_EQ(Sorted(DriverReaps()), Sorted(posted));  // all four returned by the new instance, once

  // Case 2: killed after the batch's flags, before `committed` and the held entries were
  // cleared: the batch counts, only the others come back.
  const auto posted2 = Post(4);
  ASSERT_EQ(Consume(), posted2);
  (void)ring_->PublishUsed();
  const uint64_t committed2 = record_->committed.load();
  ring_->PutUsed(posted2[3], 0);
  ring_->PutUsed(posted2[1], 0);
  (void)ring_->PublishUsed();
  record_->committed.store(committed2);
  record_->held[posted2[3]].store(1 | kPackedHeldPut);
  record_->held[posted2[1]].store(1 | kPackedHeldPut);
  EXPECT_EQ(DriverReaps(), (std::vector<uint16_t>{posted2[3], posted2[1]}));
  const PackedRingState after = ring_->state();
  ring_.reset();
  plan = Start(kFreshBase);
  ASSERT_TRUE(plan.adopt) << plan.why;
  EXPECT_EQ(plan.state.avail, after.avail);
  EXPECT_EQ(Sorted(DriverReaps()), Sorted({posted2[0], posted2[2]}));
  EXPECT_NE(committed, 0u);
  Traffic(5, 3);
}

TEST_F(PackedRecordTest, ARingTheFrontEndResetStartsFromItsBase) {
  // DPDK's virtio-user resets a packed ring when it reconnects: zeroed (TX) or refilled
  // from index 0 for wrap 1 (RX). Whatever the record says, that ring starts fresh.
  for (int burst = 1; burst <= 40; ++burst) {
    for (bool rx : {false, true}) {
      Make(16);
      for (int i = 0; i < burst; ++i) Traffic(1, 1 + i % 3);
      const bool moved = ring_->state() != kFreshBase;
      ring_.reset();
      for (uint16_t i = 0; i < q_->size(); ++i) q_->SetDesc(i, 0, 0, i, 0);
      if (rx) {
        // A fresh driver on the same memory: every descriptor made available for wrap 1.
        q_ = std::make_unique<MockPackedQueue>(*mem_, 16, kRegion, kRegion + 0x80000, 0x70000);
        for (int i = 0; i < 16; ++i) {
          const BufferSpec spec[] = {{64, true}};
          (void)q_->AddChain(spec);
        }
      }
      const PackedResumePlan plan = PlanPackedResume(*record_, identity_, q_->Layout().desc);
      if (moved) {
        EXPECT_FALSE(plan.adopt) << "burst " << burst << (rx ? " rx" : " tx");
      }
      if (plan.adopt) {
        EXPECT_EQ(plan.state, kFreshBase) << "burst " << burst;
      }
    }
  }
}

TEST_F(PackedRecordTest, AnotherRingOrAnInvalidatedRecordStartsFromTheFrontEndsBase) {
  Traffic(5, 3);
  ring_.reset();
  PackedRingIdentity other = identity_;
  other.file_ino = 43;  // a new front-end process: new memory files, same addresses
  EXPECT_FALSE(PlanPackedResume(*record_, other, q_->Layout().desc).adopt);
  other = identity_;
  other.desc_addr += 4096;
  EXPECT_FALSE(PlanPackedResume(*record_, other, q_->Layout().desc).adopt);
  EXPECT_TRUE(PlanPackedResume(*record_, identity_, q_->Layout().desc).adopt);
  record_->valid.store(0);  // GET_VRING_BASE handed the state to the front-end
  EXPECT_FALSE(PlanPackedResume(*record_, identity_, q_->Layout().desc).adopt);
}

TEST_F(PackedRecordTest, AHeldTableThatDoesNotAddUpIsRefused) {
  Traffic(2, 3);
  Post(2);
  (void)Consume();
  (void)ring_->PublishUsed();
  ring_.reset();
  ASSERT_TRUE(PlanPackedResume(*record_, identity_, q_->Layout().desc).adopt);
  record_->held[9].store(1);  // an ID that was never in flight
  const PackedResumePlan plan = PlanPackedResume(*record_, identity_, q_->Layout().desc);
  EXPECT_FALSE(plan.adopt);
  EXPECT_STREQ(plan.why, "held chains do not add up to the descriptors in flight");
}

}  // namespace
}  // namespace vswitch::vhost
