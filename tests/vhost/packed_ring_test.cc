// The packed-ring engine (PackedRing) over heap memory, driven by the mock packed driver:
// chains read byte for byte across the ring's end and its wrap counters, buffers returned
// in and out of order as the driver reads them, indirect tables, event suppression, the
// vring base with its wrap bits, and every hostile descriptor counted by name.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "mock_packed_queue.h"
#include "packed_ring.h"
#include "packed_ring_layout.h"

namespace vswitch::vhost {
namespace {

using test::BufferSpec;
using test::HeapGuestMemory;
using test::MockPackedQueue;
using test::Pattern;

constexpr uint64_t kRegion = 0x100000;
constexpr uint64_t kRegionSize = 1 << 20;

// ---- pure layout logic -------------------------------------------------------------

TEST(PackedRingLayoutTest, AdvanceFlipsTheWrapCounterAtTheEndOfAnyRingSize) {
  // 2.8: the size need not be a power of two.
  EXPECT_EQ(PackedAdvance({5, true}, 1, 7), (PackedPosition{6, true}));
  EXPECT_EQ(PackedAdvance({6, true}, 1, 7), (PackedPosition{0, false}));
  EXPECT_EQ(PackedAdvance({5, false}, 3, 7), (PackedPosition{1, true}));
  EXPECT_EQ(PackedDistance({5, true}, {1, false}, 7), 3u);
  EXPECT_EQ(PackedDistance({1, false}, {5, true}, 7), 11u);
}

TEST(PackedRingLayoutTest, AvailableMeansAvailMatchesTheWrapAndUsedDoesNot) {
  EXPECT_TRUE(PackedDescAvailable(kPackedDescFlagAvail, true));
  EXPECT_TRUE(PackedDescAvailable(kPackedDescFlagUsed, false));
  EXPECT_FALSE(PackedDescAvailable(kPackedDescFlagAvail, false));  // last lap's
  EXPECT_FALSE(PackedDescAvailable(kPackedDescFlagAvail | kPackedDescFlagUsed, true));  // used
  EXPECT_FALSE(PackedDescAvailable(0, true));  // never written
  EXPECT_EQ(PackedUsedFlags(true, true), kPackedDescFlagAvail | kPackedDescFlagUsed | kDescFlagWrite);
  EXPECT_EQ(PackedUsedFlags(false, false), 0);
}

TEST(PackedRingLayoutTest, VringBaseCarriesTheWrapCountersInBits15And31) {
  const PackedRingState s{{0x1234, true}, {0x0042, false}};
  EXPECT_EQ(EncodePackedBase(s), 0x1234u | (1u << 15) | (0x42u << 16));
  EXPECT_EQ(DecodePackedBase(EncodePackedBase(s)), s);
  // What DPDK's virtio-user sends for a fresh ring: index 0, wrap counter 1.
  EXPECT_EQ(DecodePackedBase(1u << 15).avail, (PackedPosition{0, true}));
}

TEST(PackedRingLayoutTest, NotificationFollowsTheDriverEventSuppression) {
  const PackedPosition old{250, true}, now{3, false};  // 9 used descriptors across the end
  EXPECT_FALSE(PackedNeedEvent({0, kPackedEventDisable}, true, old, now, 256));
  EXPECT_TRUE(PackedNeedEvent({0, kPackedEventEnable}, true, old, now, 256));
  // DESC: only when the named descriptor (offset, wrap) was among those written.
  EXPECT_TRUE(PackedNeedEvent({255 | 0x8000, kPackedEventDesc}, true, old, now, 256));
  EXPECT_TRUE(PackedNeedEvent({2, kPackedEventDesc}, true, old, now, 256));
  EXPECT_FALSE(PackedNeedEvent({3, kPackedEventDesc}, true, old, now, 256));
  EXPECT_FALSE(PackedNeedEvent({2 | 0x8000, kPackedEventDesc}, true, old, now, 256));  // next lap
  EXPECT_FALSE(PackedNeedEvent({249 | 0x8000, kPackedEventDesc}, true, old, now, 256));
  // An offset outside the ring names nothing; DESC without EVENT_IDX means ENABLE.
  EXPECT_FALSE(PackedNeedEvent({300, kPackedEventDesc}, true, old, now, 256));
  EXPECT_TRUE(PackedNeedEvent({3, kPackedEventDesc}, false, old, now, 256));
}

// ---- the ring over heap memory ----------------------------------------------------

class PackedRingTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(256); }
  void Make(uint16_t size, RingOptions options = {false, true, false},
            PackedRingState state = {}) {
    mem_ = std::make_unique<HeapGuestMemory>();
    mem_->AddRegion(kRegion, kRegionSize);
    q_ = std::make_unique<MockPackedQueue>(*mem_, size, kRegion, kRegion + 0x10000, 0xf0000);
    ring_.Init(q_->Layout(), &mem_->table(), state, options);
  }
  // Reads the next available chain (offset 0) as bytes; nullopt on a drop.
  std::optional<DropReason> Read(uint16_t offset, Direction dir, std::vector<uint8_t>* bytes,
                                 Chain* out = nullptr) {
    Chain chain;
    if (offset == 0) segments_.clear();
    const auto r = ring_.ReadChain(offset, dir, segments_, chain);
    if (out != nullptr) *out = chain;
    if (r || bytes == nullptr) return r;
    bytes->clear();
    for (uint32_t i = 0; i < chain.num_segments; ++i) {
      const Segment& s = segments_[chain.first_segment + i];
      bytes->insert(bytes->end(), s.host, s.host + s.len);
    }
    return r;
  }

  std::unique_ptr<HeapGuestMemory> mem_;
  std::unique_ptr<MockPackedQueue> q_;
  PackedRing ring_;
  QueueStats stats_;
  SegmentList segments_;
};

TEST_F(PackedRingTest, ChainsAreReadByteForByteAndReturnedInOrder) {
  const auto p1 = Pattern(60, 1), p2 = Pattern(1500, 2);
  const uint16_t id1 = q_->AddReadableBytes(p1);
  const uint32_t split[] = {5, 4, 3, 700};
  const uint16_t id2 = q_->AddReadableBytes(p2, split);
  ASSERT_EQ(ring_.Available(stats_), 2);
  std::vector<uint8_t> b1, b2;
  Chain c1, c2;
  ASSERT_FALSE(Read(0, Direction::kDeviceReadable, &b1, &c1));
  ASSERT_FALSE(Read(1, Direction::kDeviceReadable, &b2, &c2));
  EXPECT_EQ(b1, p1);
  EXPECT_EQ(b2, p2);
  EXPECT_EQ(c1.head, id1);
  EXPECT_EQ(c2.head, id2);
  ring_.Advance(2);
  EXPECT_EQ(ring_.in_flight(), 2u);
  ring_.PutUsed(c1.head, 0);
  ring_.PutUsed(c2.head, 0);
  (void)ring_.PublishUsed();
  const auto u1 = q_->PollUsed(), u2 = q_->PollUsed();
  ASSERT_TRUE(u1 && u2);
  EXPECT_EQ(u1->id, id1);
  EXPECT_EQ(u2->id, id2);
  EXPECT_FALSE(u1->written);
  EXPECT_FALSE(q_->PollUsed());
  // The driver skipped the second buffer's five descriptors: both sides agree on where
  // the next used descriptor goes.
  EXPECT_EQ(q_->used(), (PackedPosition{6, true}));
  EXPECT_EQ(ring_.state().used, q_->used());
  EXPECT_EQ(ring_.state().avail, q_->avail());
  EXPECT_EQ(ring_.in_flight(), 0u);
  EXPECT_EQ(stats_.TotalDrops(), 0u);
}

TEST_F(PackedRingTest, LapsOfTheRingWithChainsAcrossItsEndKeepEveryByte) {
  Make(7);  // not a power of two: the wrap is at index 7
  uint8_t seed = 0;
  for (int round = 0; round < 40; ++round) {
    // 1-3 descriptors per chain, so chains straddle the ring's end in every phase.
    const uint32_t pieces = 1 + round % 3;
    const auto bytes = Pattern(100 + round, ++seed);
    std::vector<uint32_t> split(pieces - 1, 30);
    const uint16_t id = q_->AddReadableBytes(bytes, split);
    ASSERT_EQ(ring_.Available(stats_), 1) << "round " << round;
    std::vector<uint8_t> got;
    Chain c;
    ASSERT_FALSE(Read(0, Direction::kDeviceReadable, &got, &c)) << "round " << round;
    EXPECT_EQ(got, bytes) << "round " << round;
    EXPECT_EQ(c.num_segments, pieces);
    ring_.Advance(1);
    ring_.PutUsed(c.head, 0);
    (void)ring_.PublishUsed();
    const auto u = q_->PollUsed();
    ASSERT_TRUE(u) << "round " << round;
    EXPECT_EQ(u->id, id);
  }
  // 79 descriptors (13 x (1 + 2 + 3) + 1): 11 laps of 7 and 2 more; the counter
  // flipped 11 times.
  EXPECT_EQ(ring_.state().avail, (PackedPosition{2, false}));
  EXPECT_EQ(q_->used(), ring_.state().used);
  EXPECT_EQ(stats_.TotalDrops(), 0u);
}

TEST_F(PackedRingTest, BuffersReturnedOutOfOrderAreFoundByTheDriver) {
  // Zero-copy frees buffers in any order; each used descriptor names its buffer and the
  // driver skips that buffer's descriptor count.
  const uint32_t split2[] = {20};
  const uint16_t a = q_->AddReadableBytes(Pattern(50, 1), split2);  // 2 descriptors
  const uint16_t b = q_->AddReadableBytes(Pattern(40, 2));          // 1
  const uint32_t split3[] = {10, 10};
  const uint16_t c = q_->AddReadableBytes(Pattern(60, 3), split3);  // 3
  ASSERT_EQ(ring_.Available(stats_), 3);
  for (uint16_t i = 0; i < 3; ++i) ASSERT_FALSE(Read(i, Direction::kDeviceReadable, nullptr));
  ring_.Advance(3);
  ring_.PutUsed(c, 0);
  (void)ring_.PublishUsed();
  ring_.PutUsed(a, 0);
  ring_.PutUsed(b, 0);
  (void)ring_.PublishUsed();
  std::vector<uint16_t> order;
  while (auto u = q_->PollUsed()) order.push_back(u->id);
  EXPECT_EQ(order, (std::vector<uint16_t>{c, a, b}));
  EXPECT_EQ(q_->used(), (PackedPosition{6, true}));
  // The driver reuses the IDs and the places: the ring goes on.
  const uint16_t d = q_->AddReadableBytes(Pattern(70, 4));
  ASSERT_EQ(ring_.Available(stats_), 1);
  std::vector<uint8_t> got;
  Chain ch;
  ASSERT_FALSE(Read(0, Direction::kDeviceReadable, &got, &ch));
  EXPECT_EQ(ch.head, d);
  EXPECT_EQ(got, Pattern(70, 4));
}

TEST_F(PackedRingTest, WritableChainsCarryTheLengthWrittenBack) {
  const BufferSpec specs[] = {{100, true}, {200, true}};
  const uint16_t id = q_->AddChain(specs);
  ASSERT_EQ(ring_.Available(stats_), 1);
  Chain c;
  ASSERT_FALSE(Read(0, Direction::kDeviceWritable, nullptr, &c));
  EXPECT_EQ(c.length, 300u);
  const auto bytes = Pattern(250, 9);
  uint32_t off = 0;
  for (uint32_t i = 0; i < c.num_segments && off < bytes.size(); ++i) {
    const Segment& s = segments_[c.first_segment + i];
    const uint32_t n = std::min<uint32_t>(s.len, static_cast<uint32_t>(bytes.size()) - off);
    std::memcpy(s.host, bytes.data() + off, n);
    off += n;
  }
  ring_.Advance(1);
  ring_.PutUsed(c.head, 250);
  (void)ring_.PublishUsed();
  const auto u = q_->PollUsed();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->id, id);
  EXPECT_EQ(u->len, 250u);
  EXPECT_TRUE(u->written);
  EXPECT_EQ(q_->ReadWritten(id, 250), bytes);
}

TEST_F(PackedRingTest, IndirectTableIsReadAndNeedsTheFeature) {
  const BufferSpec specs[] = {{12, false}, {30, false}, {40, false}};
  q_->AddIndirectChain(specs);
  ASSERT_EQ(ring_.Available(stats_), 1);
  Chain c;
  ASSERT_FALSE(Read(0, Direction::kDeviceReadable, nullptr, &c));
  EXPECT_EQ(c.num_segments, 3u);
  EXPECT_EQ(c.length, 82u);

  Make(256, {false, false /*indirect not negotiated*/, false});
  const uint16_t id = q_->AddIndirectChain(specs);
  ASSERT_EQ(ring_.Available(stats_), 1);
  EXPECT_EQ(Read(0, Direction::kDeviceReadable, nullptr, &c), DropReason::kBadIndirectTable);
  EXPECT_FALSE(ring_.broken());
  EXPECT_EQ(c.head, id);  // returned used, length 0, the queue goes on
}

TEST_F(PackedRingTest, ResumesFromTheVringBaseWithItsWrapCounter) {
  // A ring stopped at index 5 on its second lap (wrap counter 0): the driver's next
  // descriptors carry AVAIL=0/USED=1 there.
  Make(8, {}, PackedRingState{{5, false}, {5, false}});
  q_->SkipAvail(8 + 5);
  // Descriptors 5..7 of the first lap left over (used), then the new chain.
  const uint16_t id = q_->AddReadableBytes(Pattern(64, 5));
  ASSERT_EQ(q_->avail(), (PackedPosition{6, false}));
  ASSERT_EQ(ring_.Available(stats_), 1);
  std::vector<uint8_t> got;
  Chain c;
  ASSERT_FALSE(Read(0, Direction::kDeviceReadable, &got, &c));
  EXPECT_EQ(c.head, id);
  EXPECT_EQ(got, Pattern(64, 5));
  ring_.Advance(1);
  // Held by the device: GET_VRING_BASE would say avail 6, used still 5.
  EXPECT_EQ(EncodePackedBase(ring_.state()), 6u | (5u << 16));
  ring_.PutUsed(c.head, 0);
  (void)ring_.PublishUsed();
  EXPECT_EQ(EncodePackedBase(ring_.state()), 6u | (6u << 16));
}

TEST_F(PackedRingTest, EventSuppressionBothWays) {
  // Polling (default): the device asks for no kicks.
  EXPECT_EQ(q_->DeviceEvent().flags, kPackedEventDisable);
  Make(16, {true /*event_idx*/, true, true /*guest_notify*/});
  EXPECT_EQ(q_->DeviceEvent().flags, kPackedEventDesc);
  EXPECT_EQ(q_->DeviceEvent().off_wrap, 0x8000);  // index 0, wrap 1
  for (int i = 0; i < 3; ++i) q_->AddReadableBytes(Pattern(20, 1));
  ASSERT_EQ(ring_.Available(stats_), 3);
  for (uint16_t i = 0; i < 3; ++i) ASSERT_FALSE(Read(i, Direction::kDeviceReadable, nullptr));
  ring_.Advance(3);
  EXPECT_EQ(q_->DeviceEvent().off_wrap, 0x8000 | 3);  // kick me at the next one

  q_->SetDriverEvent(kPackedEventDesc, 0x8000 | 1);  // interrupt when descriptor 1 is used
  ring_.PutUsed(0, 0);
  EXPECT_FALSE(ring_.PublishUsed());  // wrote descriptor 0 only
  ring_.PutUsed(1, 0);
  EXPECT_TRUE(ring_.PublishUsed());
  q_->SetDriverEvent(kPackedEventDisable);
  ring_.PutUsed(2, 0);
  EXPECT_FALSE(ring_.PublishUsed());
}

TEST_F(PackedRingTest, DirtyLogMarksTheUsedDescriptorsWritten) {
  Make(512);  // the ring fills two 4 KiB pages
  std::vector<uint8_t> bitmap(((kRegion + kRegionSize) / 4096 + 7) / 8, 0);
  DirtyLog log;
  log.Attach(bitmap.data(), bitmap.size());
  PackedRingLayout layout = q_->Layout();
  layout.log = true;
  ring_.Init(layout, &mem_->table(), {}, {});
  ring_.set_dirty_log(&log);
  for (int i = 0; i < 257; ++i) {
    q_->AddReadableBytes(Pattern(20, 1));
    ASSERT_EQ(ring_.Available(stats_), 1);
    Chain c;
    ASSERT_FALSE(Read(0, Direction::kDeviceReadable, nullptr, &c));
    ring_.Advance(1);
    ring_.PutUsed(c.head, 0);
    if (i == 0) {
      EXPECT_FALSE(log.IsMarked(kRegion)) << "marked before the write";
    }
    (void)ring_.PublishUsed();
    ASSERT_TRUE(q_->PollUsed());
    if (i == 0) {
      EXPECT_TRUE(log.IsMarked(kRegion));
    }
    if (i == 255) {
      EXPECT_FALSE(log.IsMarked(kRegion + 4096));
    }
  }
  EXPECT_TRUE(log.IsMarked(kRegion + 4096));  // descriptor 256 is on the second page
}

// ---- hostile drivers (docs/vhost-api.md "Hostile input") ----------------------------

TEST_F(PackedRingTest, FlagsLyingAboutTheWrapInsideAChainStopTheQueue) {
  // The head says "available" for this lap; its NEXT descriptor still carries last
  // lap's flags: the chain's rest was never made available, so the device must not read
  // it, and cannot know where the next chain starts.
  const uint64_t a = q_->Alloc(32), b = q_->Alloc(32);
  q_->SetDesc(1, b, 32, 7, MockPackedQueue::AvailFlags({1, false}));  // wrap 0: stale
  q_->SetDesc(0, a, 32, 0, MockPackedQueue::AvailFlags({0, true}, kDescFlagNext));
  EXPECT_EQ(ring_.Available(stats_), 0);  // not a complete chain
  // The same chain the device was told about, then rewritten under it.
  q_->SetDesc(1, b, 32, 7, MockPackedQueue::AvailFlags({1, true}));
  ASSERT_EQ(ring_.Available(stats_), 1);
  q_->SetDesc(1, b, 32, 7, MockPackedQueue::AvailFlags({1, false}));
  EXPECT_EQ(Read(0, Direction::kDeviceReadable, nullptr), DropReason::kDescNotAvailable);
  EXPECT_TRUE(ring_.broken());
  EXPECT_EQ(ring_.Available(stats_), 0);
  ring_.Advance(1);
  EXPECT_FALSE(ring_.PublishUsed());
  EXPECT_FALSE(q_->PollUsed());  // nothing written into the ring
}

TEST_F(PackedRingTest, BufferIdOutOfRangeStopsTheQueue) {
  const BufferSpec spec[] = {{64, false}};
  q_->AddChain(spec, uint16_t{256});
  ASSERT_EQ(ring_.Available(stats_), 1);
  EXPECT_EQ(Read(0, Direction::kDeviceReadable, nullptr), DropReason::kBufferIdOutOfRange);
  EXPECT_TRUE(ring_.broken());
}

TEST_F(PackedRingTest, BufferIdReusedWhileHeldStopsTheQueue) {
  const BufferSpec spec[] = {{64, false}};
  q_->AddChain(spec, uint16_t{3});
  ASSERT_EQ(ring_.Available(stats_), 1);
  ASSERT_FALSE(Read(0, Direction::kDeviceReadable, nullptr));
  ring_.Advance(1);  // the device holds buffer 3 (zero-copy)
  q_->AddChain(spec, uint16_t{3});
  ASSERT_EQ(ring_.Available(stats_), 1);
  EXPECT_EQ(Read(0, Direction::kDeviceReadable, nullptr), DropReason::kBufferIdInUse);
  EXPECT_TRUE(ring_.broken());
}

TEST_F(PackedRingTest, BufferIdTwiceInOneBurstStopsTheQueue) {
  const BufferSpec spec[] = {{64, false}};
  q_->AddChain(spec, uint16_t{9});
  q_->AddChain(spec, uint16_t{9});
  ASSERT_EQ(ring_.Available(stats_), 2);
  ASSERT_FALSE(Read(0, Direction::kDeviceReadable, nullptr));
  EXPECT_EQ(Read(1, Direction::kDeviceReadable, nullptr), DropReason::kBufferIdInUse);
  EXPECT_TRUE(ring_.broken());
}

TEST_F(PackedRingTest, ChainThatNeverEndsIsCountedAndStopsTheQueue) {
  Make(8);
  const uint64_t a = q_->Alloc(16);
  for (uint16_t i = 0; i < 8; ++i) {
    q_->SetDesc(i, a, 16, 0, MockPackedQueue::AvailFlags({i, true}, kDescFlagNext));
  }
  EXPECT_EQ(ring_.Available(stats_), 0);
  EXPECT_EQ(stats_.Dropped(DropReason::kChainTooLong), 1u);
  EXPECT_TRUE(ring_.broken());
}

TEST_F(PackedRingTest, IndirectDescriptorInsideAChainIsDroppedAndReturned) {
  const uint64_t table = q_->Alloc(16), buf = q_->Alloc(32);
  PackedDesc entry{buf, 32, 0, 0};
  mem_->Write(table, {reinterpret_cast<const uint8_t*>(&entry), sizeof(entry)});
  // A direct descriptor, then an indirect one in the same list.
  q_->SetDesc(1, table, 16, 4, MockPackedQueue::AvailFlags({1, true}, kDescFlagIndirect));
  q_->SetDesc(0, buf, 32, 0, MockPackedQueue::AvailFlags({0, true}, kDescFlagNext));
  // And INDIRECT with NEXT, then a plain last descriptor.
  q_->SetDesc(3, buf, 32, 5, MockPackedQueue::AvailFlags({3, true}));
  q_->SetDesc(2, table, 16, 0, MockPackedQueue::AvailFlags({2, true}, kDescFlagIndirect | kDescFlagNext));
  // A good chain after both.
  q_->SetDesc(4, buf, 32, 6, MockPackedQueue::AvailFlags({4, true}));
  ASSERT_EQ(ring_.Available(stats_), 3);
  Chain c;
  EXPECT_EQ(Read(0, Direction::kDeviceReadable, nullptr, &c), DropReason::kIndirectWithNext);
  EXPECT_EQ(c.head, 4);
  EXPECT_EQ(Read(1, Direction::kDeviceReadable, nullptr, &c), DropReason::kIndirectWithNext);
  EXPECT_EQ(c.head, 5);
  EXPECT_FALSE(Read(2, Direction::kDeviceReadable, nullptr, &c));
  EXPECT_EQ(c.head, 6);
  EXPECT_FALSE(ring_.broken());
}

TEST_F(PackedRingTest, NestedIndirectTableIsDropped) {
  const uint64_t inner = q_->Alloc(16), table = q_->Alloc(16);
  PackedDesc entry{inner, 16, 0, kDescFlagIndirect};
  mem_->Write(table, {reinterpret_cast<const uint8_t*>(&entry), sizeof(entry)});
  q_->SetDesc(0, table, 16, 2, MockPackedQueue::AvailFlags({0, true}, kDescFlagIndirect));
  ASSERT_EQ(ring_.Available(stats_), 1);
  Chain c;
  EXPECT_EQ(Read(0, Direction::kDeviceReadable, nullptr, &c), DropReason::kNestedIndirect);
  EXPECT_EQ(c.head, 2);
  EXPECT_EQ(c.num_segments, 0u);
}

TEST_F(PackedRingTest, LengthsAcrossRegionsAreReadInPiecesAndNeverPastTheEnd) {
  // Region B right after region A: a buffer across the boundary is two host pieces.
  mem_->AddRegion(kRegion + kRegionSize, 4096);
  const uint64_t start = kRegion + kRegionSize - 100;
  const auto bytes = Pattern(300, 4);
  mem_->Write(start, bytes);
  const BufferSpec across[] = {{300, false, start}};
  q_->AddChain(across);
  // A buffer that runs from region B into the hole after it.
  const BufferSpec into_hole[] = {{5000, false, kRegion + kRegionSize + 100}};
  const uint16_t bad = q_->AddChain(into_hole);
  ASSERT_EQ(ring_.Available(stats_), 2);
  std::vector<uint8_t> got;
  Chain c;
  ASSERT_FALSE(Read(0, Direction::kDeviceReadable, &got, &c));
  EXPECT_EQ(c.num_segments, 2u);
  EXPECT_EQ(got, bytes);
  EXPECT_EQ(Read(1, Direction::kDeviceReadable, nullptr, &c), DropReason::kUnmappedAddress);
  EXPECT_EQ(c.head, bad);
  EXPECT_EQ(c.num_segments, 0u);
  EXPECT_FALSE(ring_.broken());
}

TEST_F(PackedRingTest, WrongDirectionIsDroppedAndReturned) {
  const BufferSpec spec[] = {{64, true}};
  const uint16_t id = q_->AddChain(spec);
  ASSERT_EQ(ring_.Available(stats_), 1);
  Chain c;
  EXPECT_EQ(Read(0, Direction::kDeviceReadable, nullptr, &c), DropReason::kWrongDirection);
  EXPECT_EQ(c.head, id);
  ring_.Advance(1);
  ring_.PutUsed(c.head, 0);
  (void)ring_.PublishUsed();
  const auto u = q_->PollUsed();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->id, id);
  EXPECT_EQ(u->len, 0u);
}

TEST_F(PackedRingTest, ZeroLengthDescriptorsAtInvalidAddressesAreNotTouched) {
  // hostile-input row "(packed) invalid address with length 0": a zero-length element
  // says nothing to read, wherever it points.
  const auto bytes = Pattern(72, 8);
  const uint64_t buf = q_->Alloc(72);
  mem_->Write(buf, bytes);
  const BufferSpec specs[] = {{0, false, 0xdead0000ull}, {72, false, buf}, {0, false, ~0ull - 7}};
  const uint16_t id = q_->AddChain(specs);
  ASSERT_EQ(ring_.Available(stats_), 1);
  std::vector<uint8_t> got;
  Chain c;
  ASSERT_FALSE(Read(0, Direction::kDeviceReadable, &got, &c));
  EXPECT_EQ(c.head, id);
  EXPECT_EQ(got, bytes);
}

TEST_F(PackedRingTest, ABaseOutsideTheRingStopsIt) {
  Make(8, {}, DecodePackedBase(9 | (1u << 15)));
  q_->AddReadableBytes(Pattern(20, 1));
  EXPECT_TRUE(ring_.broken());
  EXPECT_EQ(ring_.Available(stats_), 0);
}

// ---- the virtio-net datapath over the packed ring ----------------------------------

class PackedDatapathTest : public PackedRingTest {
 protected:
  std::vector<uint8_t> TxBytes(const std::vector<uint8_t>& payload) {
    std::vector<uint8_t> out(12, 0);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
  }
  NetQueueConfig config_;
  DatapathScratch scratch_;
};

TEST_F(PackedDatapathTest, GuestTxArrivesByteForByteAndBuffersGoBack) {
  const auto p1 = Pattern(60, 1), p2 = Pattern(1500, 2), p3 = Pattern(9000, 3);
  q_->AddReadableBytes(TxBytes(p1));
  const uint32_t split[] = {5, 4, 3, 700};  // the header itself split over three
  q_->AddReadableBytes(TxBytes(p2), split);
  const BufferSpec ind[] = {{12, false}, {9000, false}};
  const uint16_t at = q_->avail().idx;
  const uint16_t id3 = q_->AddIndirectChain(ind);
  // The indirect chain's buffers: header zeros, then the payload.
  const PackedDesc d = q_->GetDesc(at);
  PackedDesc payload_desc;
  std::memcpy(&payload_desc, mem_->Host(d.addr + 16, 16), 16);
  mem_->Write(payload_desc.addr, p3);

  test::VectorPacketSink sink;
  EXPECT_EQ(DequeuePackets(ring_, config_, sink, 64, stats_, scratch_), 3u);
  ASSERT_EQ(sink.packets.size(), 3u);
  EXPECT_EQ(sink.packets[0].bytes, p1);
  EXPECT_EQ(sink.packets[1].bytes, p2);
  EXPECT_EQ(sink.packets[2].bytes, p3);
  EXPECT_EQ(stats_.packets.Get(), 3u);
  EXPECT_EQ(stats_.bytes.Get(), 60u + 1500 + 9000);
  (void)ring_.PublishUsed();
  std::vector<uint16_t> ids;
  while (auto u = q_->PollUsed()) ids.push_back(u->id);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[2], id3);
  EXPECT_EQ(q_->used(), q_->avail());  // every descriptor returned: the guest never starves
}

// DPDK's virtio PMD (virtio-user) sends a multi-segment packet on a packed ring as one
// indirect table whose entries it initialised with WRITE set, and it overwrites the flags
// of the segment entries only: the header entry keeps WRITE. Read as the spec's strict
// rule, every such packet was a wrong-direction drop (a 9000-byte frame never left the
// guest). On the device-readable side WRITE in a packed indirect table is ignored (the
// device only reads there); on the writable side it is still required.
TEST_F(PackedDatapathTest, IndirectTxTableWithWriteOnTheHeaderEntryAsVirtioUserSendsIt) {
  const auto payload = Pattern(5000, 4);
  const uint64_t table = q_->Alloc(4 * 16), hdr = q_->Alloc(12);
  mem_->Write(hdr, std::vector<uint8_t>(12, 0));
  PackedDesc e[4];
  e[0] = {hdr, 12, 0, kDescFlagWrite};  // as initialised, never rewritten
  for (int i = 1; i < 4; ++i) {
    const uint32_t len = i < 3 ? 2048 : 5000 - 2 * 2048;
    const uint64_t b = q_->Alloc(len);
    mem_->Write(b, std::span<const uint8_t>(payload).subspan((i - 1) * 2048, len));
    e[i] = {b, len, 0, static_cast<uint16_t>((i < 3 ? kDescFlagNext : 0) | kPackedDescFlagAvail)};
  }
  mem_->Write(table, {reinterpret_cast<const uint8_t*>(e), sizeof(e)});
  q_->SetDesc(0, table, sizeof(e), 0, MockPackedQueue::AvailFlags({0, true}, kDescFlagIndirect));
  q_->SkipAvail(1);
  test::VectorPacketSink sink;
  EXPECT_EQ(DequeuePackets(ring_, config_, sink, 64, stats_, scratch_), 1u);
  EXPECT_EQ(stats_.TotalDrops(), 0u);
  ASSERT_EQ(sink.packets.size(), 1u);
  EXPECT_EQ(sink.packets[0].bytes, payload);
}

TEST_F(PackedDatapathTest, IndirectRxTableEntryWithoutWriteIsStillDropped) {
  const uint64_t table = q_->Alloc(16), buf = q_->Alloc(2048);
  PackedDesc e{buf, 2048, 0, 0};  // device-readable, in an RX buffer
  mem_->Write(table, {reinterpret_cast<const uint8_t*>(&e), sizeof(e)});
  q_->SetDesc(0, table, 16, 0, MockPackedQueue::AvailFlags({0, true}, kDescFlagIndirect));
  q_->SkipAvail(1);
  test::VectorPacketSource src(Pattern(100, 1), {}, 0);
  uint16_t avail = ring_.Available(stats_);
  EXPECT_EQ(EnqueuePacket(ring_, config_, src, avail, stats_, scratch_), EnqueueStatus::kDropped);
  EXPECT_EQ(stats_.Dropped(DropReason::kWrongDirection), 1u);
}

TEST_F(PackedDatapathTest, GuestRxMergeableSpreadsAPacketOverBuffers) {
  config_.mergeable = true;
  std::vector<uint16_t> ids;
  for (int i = 0; i < 4; ++i) {
    const BufferSpec rx[] = {{100, true}};
    ids.push_back(q_->AddChain(rx));
  }
  const auto packet = Pattern(250, 7);
  test::VectorPacketSource src(packet, {}, 0);
  uint16_t avail = ring_.Available(stats_);
  ASSERT_EQ(avail, 4);
  EXPECT_EQ(EnqueuePacket(ring_, config_, src, avail, stats_, scratch_), EnqueueStatus::kDelivered);
  EXPECT_EQ(avail, 1);
  (void)ring_.PublishUsed();
  // 12 + 250 bytes: 100, 100, 62, one used descriptor per buffer, in order.
  std::vector<uint8_t> got;
  const uint32_t lens[] = {100, 100, 62};
  for (int i = 0; i < 3; ++i) {
    const auto u = q_->PollUsed();
    ASSERT_TRUE(u) << i;
    EXPECT_EQ(u->id, ids[i]);
    EXPECT_EQ(u->len, lens[i]);
    const auto part = q_->ReadWritten(u->id, u->len);
    got.insert(got.end(), part.begin(), part.end());
  }
  EXPECT_FALSE(q_->PollUsed());
  VirtioNetHdrMrgRxbuf hdr;
  std::memcpy(&hdr, got.data(), sizeof(hdr));
  EXPECT_EQ(hdr.num_buffers, 3);
  EXPECT_EQ(std::vector<uint8_t>(got.begin() + 12, got.end()), packet);
}

TEST_F(PackedDatapathTest, GuestRxWithoutMergeableDropsIntoABufferTooSmall) {
  const BufferSpec small[] = {{100, true}};
  const uint16_t id = q_->AddChain(small);
  test::VectorPacketSource src(Pattern(250, 7), {}, 0);
  uint16_t avail = ring_.Available(stats_);
  EXPECT_EQ(EnqueuePacket(ring_, config_, src, avail, stats_, scratch_), EnqueueStatus::kDropped);
  EXPECT_EQ(stats_.Dropped(DropReason::kRxBufferTooSmall), 1u);
  (void)ring_.PublishUsed();
  const auto u = q_->PollUsed();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->id, id);
  EXPECT_EQ(u->len, 0u);
}

TEST_F(PackedDatapathTest, HostileChainStopsTheQueueAndIsCountedByName) {
  const BufferSpec spec[] = {{64, false}};
  q_->AddChain(spec, uint16_t{300});  // ID beyond the 256-entry ring
  test::VectorPacketSink sink;
  EXPECT_EQ(DequeuePackets(ring_, config_, sink, 64, stats_, scratch_), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kBufferIdOutOfRange), 1u);
  EXPECT_TRUE(ring_.broken());
  q_->AddReadableBytes(TxBytes(Pattern(60, 1)));
  EXPECT_EQ(DequeuePackets(ring_, config_, sink, 64, stats_, scratch_), 0u);  // stays stopped
  EXPECT_TRUE(sink.packets.empty());
}

}  // namespace
}  // namespace vswitch::vhost
