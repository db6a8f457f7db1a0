#include "to_vm_batch.h"

#include <gtest/gtest.h>

#include <vector>

namespace vswitch {
namespace {

// A ring with `room` free slots that frees `drain` more on each delay.
struct FakeRing {
  FakeRing(unsigned initial_room, unsigned drained_per_delay) : room(initial_room), drain(drained_per_delay) {}
  unsigned room = 0;
  unsigned drain = 0;
  std::vector<int> got;
  std::vector<unsigned> delays;
  unsigned Enqueue(const int* items, unsigned first, unsigned count) {
    const unsigned n = std::min(room, count);
    for (unsigned i = 0; i < n; ++i) got.push_back(items[first + i]);
    room -= n;
    return n;
  }
};

EnqueueResult Offer(FakeRing& ring, const RetryPolicy& policy, unsigned count) {
  std::vector<int> items(count);
  for (unsigned i = 0; i < count; ++i) items[i] = static_cast<int>(i);
  return EnqueueWithRetry(
      count, policy, [&](unsigned first, unsigned n) { return ring.Enqueue(items.data(), first, n); },
      [&](unsigned us) { ring.delays.push_back(us); ring.room += ring.drain; });
}

TEST(ToVmBatchTest, RoomForAllNeedsNoRetry) {
  FakeRing ring{64, 0};
  const EnqueueResult r = Offer(ring, {true, 4, 15}, 32);
  EXPECT_EQ(r.sent, 32u);
  EXPECT_EQ(r.retries, 0u);
  EXPECT_TRUE(ring.delays.empty());
}

TEST(ToVmBatchTest, FullRingIsRetriedNumTimesDelayApartThenTheRestDropped) {
  FakeRing ring{10, 0};
  const EnqueueResult r = Offer(ring, {true, 4, 15}, 32);
  EXPECT_EQ(r.sent, 10u);
  EXPECT_EQ(r.retries, 4u);
  EXPECT_EQ(ring.delays, (std::vector<unsigned>{15, 15, 15, 15}));
}

TEST(ToVmBatchTest, RetryStopsOnceTheConsumerMadeRoomInOrder) {
  FakeRing ring{10, 8};
  const EnqueueResult r = Offer(ring, {true, 4, 15}, 32);
  EXPECT_EQ(r.sent, 32u);
  EXPECT_EQ(r.retries, 3u);  // 10 + 8 + 8 + 6
  for (int i = 0; i < 32; ++i) EXPECT_EQ(ring.got[static_cast<size_t>(i)], i);
}

TEST(ToVmBatchTest, RetryOffDropsAtOnce) {
  FakeRing ring{10, 8};
  const EnqueueResult r = Offer(ring, {false, 4, 15}, 32);
  EXPECT_EQ(r.sent, 10u);
  EXPECT_EQ(r.retries, 0u);
}

TEST(ToVmBatchTest, HoldsUpTo32FramesInOrder) {
  int storage[kToVmBatch] = {};
  ToVmBatch<int> b(storage);
  EXPECT_TRUE(b.empty());
  for (int i = 0; i < 31; ++i) b.Add(i);
  EXPECT_FALSE(b.full());
  EXPECT_EQ(b.size(), 31);
  b.Add(31);
  EXPECT_TRUE(b.full());
  EXPECT_EQ(b.data()[0], 0);
  EXPECT_EQ(b.data()[31], 31);
  b.Clear();
  EXPECT_TRUE(b.empty());
}

}  // namespace
}  // namespace vswitch
