// The split-ring engine over heap memory, driven by the mock driver: bytes both ways,
// chains, indirect tables, mergeable buffers, notifications, the dirty log, and every
// malformed chain counted by name.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "mock_split_queue.h"
#include "net_datapath.h"
#include "split_ring.h"

namespace vswitch::vhost {
namespace {

using test::BufferSpec;
using test::HeapGuestMemory;
using test::MockSplitQueue;
using test::VectorPacketSink;
using test::Pattern;
using test::VectorPacketSource;

constexpr uint64_t kRegion = 0x100000;
constexpr uint16_t kSize = 256;

class SplitRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_.AddRegion(kRegion, 1 << 20);
    q_ = std::make_unique<MockSplitQueue>(mem_, kSize, kRegion, kRegion + 0x10000, 0xf0000);
    Init();
  }
  void Init(RingOptions options = {true /*event_idx*/, true /*indirect*/, false}) {
    options.event_idx = event_idx_;
    ring_.Init(q_->Layout(), &mem_.table(), 0, options);
  }
  // A TX packet as the driver sends it: 12-byte header + payload.
  std::vector<uint8_t> TxBytes(const std::vector<uint8_t>& payload, VirtioNetHdr hdr = {}) {
    std::vector<uint8_t> out(12, 0);
    std::memcpy(out.data(), &hdr, sizeof(hdr));
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
  }
  uint32_t Dequeue(VectorPacketSink& sink, uint32_t max = 64) {
    return DequeuePackets(ring_, config_, sink, max, stats_, scratch_);
  }
  EnqueueStatus Enqueue(const std::vector<uint8_t>& bytes, VirtioNetHdr hdr = {}) {
    VectorPacketSource src(bytes, hdr, 100);
    uint16_t avail = ring_.Available(stats_);
    return EnqueuePacket(ring_, config_, src, avail, stats_, scratch_);
  }

  bool event_idx_ = false;
  HeapGuestMemory mem_;
  std::unique_ptr<MockSplitQueue> q_;
  SplitRing ring_;
  NetQueueConfig config_;
  QueueStats stats_;
  DatapathScratch scratch_;
};

TEST_F(SplitRingTest, DequeueSingleAndChainedPackets) {
  const auto p1 = Pattern(60, 1), p2 = Pattern(1500, 2);
  q_->Publish(q_->AddReadableBytes(TxBytes(p1)));
  // Header split over three descriptors (5 + 4 + 3), payload over two more.
  const uint32_t split[] = {5, 4, 3, 700};
  q_->Publish(q_->AddReadableBytes(TxBytes(p2), split));
  VectorPacketSink sink;
  EXPECT_EQ(Dequeue(sink), 2u);
  ASSERT_EQ(sink.packets.size(), 2u);
  EXPECT_EQ(sink.packets[0].bytes, p1);
  EXPECT_EQ(sink.packets[1].bytes, p2);
  EXPECT_TRUE(ring_.PublishUsed());
  EXPECT_EQ(q_->UsedIdx(), 2);
  EXPECT_EQ(stats_.packets.Get(), 2u);
  EXPECT_EQ(stats_.bytes.Get(), 1560u);
  EXPECT_EQ(stats_.TotalDrops(), 0u);
  // Nothing more to do; the used ring is not republished.
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_FALSE(ring_.PublishUsed());
}

TEST_F(SplitRingTest, DequeueIndirectTable) {
  const auto p = Pattern(300, 3);
  auto bytes = TxBytes(p);
  const uint64_t a = q_->Alloc(12), b = q_->Alloc(300);
  mem_.Write(a, std::span(bytes).first(12));
  mem_.Write(b, std::span(bytes).subspan(12));
  const BufferSpec specs[] = {{12, false, a}, {300, false, b}};
  q_->Publish(q_->AddIndirectChain(specs));
  VectorPacketSink sink;
  ASSERT_EQ(Dequeue(sink), 1u);
  EXPECT_EQ(sink.packets[0].bytes, p);
}

TEST_F(SplitRingTest, DequeueBufferSpanningTwoRegions) {
  // A second region right after the first in guest-physical space, elsewhere on the host.
  mem_.AddRegion(kRegion + (1 << 20), 4096);
  const auto p = Pattern(200, 4);
  const auto bytes = TxBytes(p);
  const uint64_t start = kRegion + (1 << 20) - 100;  // 100 bytes in region 1, 112 in region 2
  mem_.Write(start, bytes);
  const BufferSpec spec[] = {{static_cast<uint32_t>(bytes.size()), false, start}};
  q_->Publish(q_->AddChain(spec));
  VectorPacketSink sink;
  ASSERT_EQ(Dequeue(sink), 1u);
  EXPECT_EQ(sink.packets[0].bytes, p);
  // Running off the end of the second region is an unmapped address.
  const BufferSpec past[] = {{8192, false, kRegion + (1 << 20) - 100}};
  q_->Publish(q_->AddChain(past));
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kUnmappedAddress), 1u);
}

// ReadChain takes a one-descriptor chain wholly inside the region it translated last
// without the full walk. Once that region is cached, every descriptor the shortcut must
// not take still gets the walk's answer: split across regions, unmapped, wrong
// direction, zero length.
TEST_F(SplitRingTest, WarmTranslationCacheStillSplitsAndRefuses) {
  mem_.AddRegion(kRegion + (1 << 20), 4096);
  VectorPacketSink sink;
  const auto warm = TxBytes(Pattern(60, 1));
  const uint64_t warm_buf = q_->Alloc(static_cast<uint32_t>(warm.size()));
  mem_.Write(warm_buf, warm);
  q_->SetDesc(0, warm_buf, static_cast<uint32_t>(warm.size()), 0, 0);
  q_->Publish(0);
  ASSERT_EQ(Dequeue(sink), 1u);  // region 1 is now the cached one

  const auto p = Pattern(200, 4);
  const auto bytes = TxBytes(p);
  const uint64_t start = kRegion + (1 << 20) - 100;  // 100 bytes in region 1, 112 in region 2
  mem_.Write(start, bytes);
  q_->SetDesc(1, start, static_cast<uint32_t>(bytes.size()), 0, 0);
  q_->Publish(1);
  ASSERT_EQ(Dequeue(sink), 1u);
  EXPECT_EQ(sink.packets[1].bytes, p);

  const uint64_t buf = q_->Alloc(64);
  q_->SetDesc(2, kRegion + (1 << 20) + 4096 - 8, 64, 0, 0);  // runs past region 2
  q_->Publish(2);
  q_->SetDesc(3, buf, 64, kDescFlagWrite, 0);  // writable buffer on TX
  q_->Publish(3);
  q_->SetDesc(4, buf, 0, 0, 0);  // empty: too short for the header
  q_->Publish(4);
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kUnmappedAddress), 1u);
  EXPECT_EQ(stats_.Dropped(DropReason::kWrongDirection), 1u);
  EXPECT_EQ(stats_.Dropped(DropReason::kChainTooShort), 1u);
  EXPECT_EQ(sink.packets.size(), 2u);
}

TEST_F(SplitRingTest, DequeueOffloadHeaderPassedAndValidated) {
  VirtioNetHdr h{};
  h.flags = kNetHdrFlagNeedsCsum;
  h.csum_start = 34;
  h.csum_offset = 16;
  q_->Publish(q_->AddReadableBytes(TxBytes(Pattern(60, 5), h)));
  h.csum_start = 50;  // 50 + 16 + 2 > 60: past the packet (CVE-2024-11614)
  q_->Publish(q_->AddReadableBytes(TxBytes(Pattern(60, 5), h)));
  h = {};
  h.gso_type = 7;  // unknown
  q_->Publish(q_->AddReadableBytes(TxBytes(Pattern(60, 5), h)));
  VectorPacketSink sink;
  ASSERT_EQ(Dequeue(sink), 1u);
  EXPECT_EQ(sink.packets[0].hdr.csum_start, 34);
  EXPECT_EQ(stats_.Dropped(DropReason::kBadNetHeader), 2u);
  (void)ring_.PublishUsed();
  EXPECT_EQ(q_->UsedIdx(), 3);  // bad chains go back to the guest
}

TEST_F(SplitRingTest, EnqueueCopiesHeaderAndBytes) {
  const auto p = Pattern(1000, 6);
  const BufferSpec rx[] = {{2048, true}};
  const uint16_t head = q_->AddChain(rx);
  q_->Publish(head);
  VirtioNetHdr h{};
  h.flags = kNetHdrFlagDataValid;
  EXPECT_EQ(Enqueue(p, h), EnqueueStatus::kDelivered);
  EXPECT_TRUE(ring_.PublishUsed());
  ASSERT_EQ(q_->UsedIdx(), 1);
  EXPECT_EQ(q_->Used(0).id, head);
  EXPECT_EQ(q_->Used(0).len, 1012u);
  const auto got = q_->ReadWritten(head, 1012);
  VirtioNetHdrMrgRxbuf written;
  std::memcpy(&written, got.data(), 12);
  EXPECT_EQ(written.hdr.flags, kNetHdrFlagDataValid);
  EXPECT_EQ(written.num_buffers, 1);
  EXPECT_TRUE(std::equal(p.begin(), p.end(), got.begin() + 12));
}

TEST_F(SplitRingTest, EnqueueChainedAndIndirectRxBuffers) {
  const auto p = Pattern(500, 7);
  const BufferSpec rx[] = {{10, true}, {2, true}, {300, true}, {400, true}};
  const uint16_t h1 = q_->AddChain(rx);
  q_->Publish(h1);
  const uint16_t h2 = q_->AddIndirectChain(rx);
  q_->Publish(h2);
  EXPECT_EQ(Enqueue(p), EnqueueStatus::kDelivered);
  EXPECT_EQ(Enqueue(p), EnqueueStatus::kDelivered);
  (void)ring_.PublishUsed();
  for (uint16_t head : {h1, h2}) {
    const auto got = q_->ReadWritten(head, 512);
    EXPECT_TRUE(std::equal(p.begin(), p.end(), got.begin() + 12)) << head;
  }
}

TEST_F(SplitRingTest, EnqueueMergeableAcrossBuffers) {
  config_.mergeable = true;
  std::vector<uint16_t> heads;
  for (int i = 0; i < 4; ++i) {
    const BufferSpec rx[] = {{256, true}};
    heads.push_back(q_->AddChain(rx));
    q_->Publish(heads.back());
  }
  const auto p = Pattern(600, 8);  // 612 bytes with header: 256 + 256 + 100
  EXPECT_EQ(Enqueue(p), EnqueueStatus::kDelivered);
  (void)ring_.PublishUsed();
  ASSERT_EQ(q_->UsedIdx(), 3);
  EXPECT_EQ(q_->Used(0).len, 256u);
  EXPECT_EQ(q_->Used(1).len, 256u);
  EXPECT_EQ(q_->Used(2).len, 100u);
  std::vector<uint8_t> all;
  for (int i = 0; i < 3; ++i) {
    const auto part = q_->ReadWritten(heads[i], q_->Used(i).len);
    all.insert(all.end(), part.begin(), part.end());
  }
  VirtioNetHdrMrgRxbuf hdr;
  std::memcpy(&hdr, all.data(), 12);
  EXPECT_EQ(hdr.num_buffers, 3);
  EXPECT_TRUE(std::equal(p.begin(), p.end(), all.begin() + 12));
  // One buffer left: a second 600-byte packet does not fit and is not consumed.
  EXPECT_EQ(Enqueue(p), EnqueueStatus::kNoRoom);
  EXPECT_EQ(ring_.last_avail_idx(), 3);
  EXPECT_EQ(stats_.no_room.Get(), 1u);
}

TEST_F(SplitRingTest, EnqueueWithoutMergeableDropsWhenBufferTooSmall) {
  const BufferSpec rx[] = {{100, true}};
  q_->Publish(q_->AddChain(rx));
  EXPECT_EQ(Enqueue(Pattern(200, 9)), EnqueueStatus::kDropped);
  EXPECT_EQ(stats_.Dropped(DropReason::kRxBufferTooSmall), 1u);
  (void)ring_.PublishUsed();
  EXPECT_EQ(q_->UsedIdx(), 1);
  EXPECT_EQ(q_->Used(0).len, 0u);
  EXPECT_EQ(Enqueue(Pattern(10, 9)), EnqueueStatus::kNoRoom);
}

TEST_F(SplitRingTest, DescriptorLoopIsCountedNotFollowed) {
  const uint64_t buf = q_->Alloc(64);
  q_->SetDesc(0, buf, 0, kDescFlagNext, 0);  // next points to itself, length 0
  q_->Publish(0);
  VectorPacketSink sink;
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kChainTooLong), 1u);
  // A two-descriptor cycle.
  q_->SetDesc(1, buf, 16, kDescFlagNext, 2);
  q_->SetDesc(2, buf, 16, kDescFlagNext, 1);
  q_->Publish(1);
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kChainTooLong), 2u);
  (void)ring_.PublishUsed();
  EXPECT_EQ(q_->UsedIdx(), 2);
  EXPECT_FALSE(ring_.broken());
}

TEST_F(SplitRingTest, NextOutOfRangeAndWrongDirection) {
  const uint64_t buf = q_->Alloc(64);
  q_->SetDesc(0, buf, 32, kDescFlagNext, kSize);  // next == size
  q_->Publish(0);
  q_->SetDesc(1, buf, 32, kDescFlagWrite, 0);  // writable buffer on TX
  q_->Publish(1);
  VectorPacketSink sink;
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kDescIndexOutOfRange), 1u);
  EXPECT_EQ(stats_.Dropped(DropReason::kWrongDirection), 1u);
  // A readable buffer offered for RX.
  q_->SetDesc(2, buf, 64, 0, 0);
  q_->Publish(2);
  EXPECT_EQ(Enqueue(Pattern(10, 1)), EnqueueStatus::kDropped);
  EXPECT_EQ(stats_.Dropped(DropReason::kWrongDirection), 2u);
}

TEST_F(SplitRingTest, MalformedIndirectTables) {
  const uint64_t table = q_->Alloc(64);
  const uint64_t buf = q_->Alloc(64);
  VirtqDesc nested{table, 32, kDescFlagIndirect, 0};
  mem_.Write(table, std::span(reinterpret_cast<const uint8_t*>(&nested), 16));
  q_->SetDesc(0, table, 16, kDescFlagIndirect, 0);
  q_->Publish(0);
  q_->SetDesc(1, table, 24, kDescFlagIndirect, 0);  // not a multiple of 16
  q_->Publish(1);
  q_->SetDesc(2, table, 16, kDescFlagIndirect | kDescFlagNext, 3);
  q_->Publish(2);
  q_->SetDesc(3, table, 16u * (kSize + 1), kDescFlagIndirect, 0);  // longer than the queue
  q_->Publish(3);
  (void)buf;
  VectorPacketSink sink;
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kNestedIndirect), 1u);
  EXPECT_EQ(stats_.Dropped(DropReason::kIndirectWithNext), 1u);
  EXPECT_EQ(stats_.Dropped(DropReason::kBadIndirectTable), 2u);
}

TEST_F(SplitRingTest, IndirectRefusedWhenNotNegotiated) {
  ring_.Init(q_->Layout(), &mem_.table(), 0, RingOptions{false, false, false});
  const BufferSpec specs[] = {{64, false}};
  q_->Publish(q_->AddIndirectChain(specs));
  VectorPacketSink sink;
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kBadIndirectTable), 1u);
}

// Memory that claims every address is mapped, so a walk sees lengths a real table of
// this size could never hold; the engine must refuse on arithmetic alone.
class FlatMemory final : public GuestMemory {
 public:
  explicit FlatMemory(uint8_t* base) : base_(base) {}
  HostRange Translate(uint64_t, uint64_t len) const override { return {base_, len ? len : 1}; }
  HostRange TranslateUserAddr(uint64_t, uint64_t len) const override { return {base_, len ? len : 1}; }

 private:
  uint8_t* base_;
};

TEST_F(SplitRingTest, ChainLengthOverflowIsCounted) {
  FlatMemory flat(mem_.Host(kRegion));
  ring_.Init(q_->Layout(), &flat, 0, RingOptions{});
  q_->SetDesc(0, 0x1000, 0xfffffff0u, kDescFlagNext, 1);
  q_->SetDesc(1, 0x1000, 0x20, 0, 0);
  q_->Publish(0);
  VectorPacketSink sink;
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kLengthOverflow), 1u);
}

TEST_F(SplitRingTest, ChainTooShortForTheHeader) {
  q_->Publish(q_->AddReadableBytes(std::vector<uint8_t>(12, 0)));  // header only
  q_->Publish(q_->AddReadableBytes(std::vector<uint8_t>(7, 0)));   // not even that
  VectorPacketSink sink;
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kChainTooShort), 2u);
}

TEST_F(SplitRingTest, AvailIndexJumpBreaksTheQueue) {
  q_->SetAvailIdx(kSize + 1);
  VectorPacketSink sink;
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kAvailIndexJump), 1u);
  EXPECT_TRUE(ring_.broken());
  EXPECT_EQ(ring_.Available(stats_), 0);
  // Set up again, it works.
  ring_.Init(q_->Layout(), &mem_.table(), q_->avail_idx(), RingOptions{});
  EXPECT_FALSE(ring_.broken());
}

TEST_F(SplitRingTest, HeadOutOfRangeBreaksTheQueue) {
  q_->SetAvailEntry(0, kSize);
  q_->SetAvailIdx(1);
  VectorPacketSink sink;
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kHeadOutOfRange), 1u);
  EXPECT_TRUE(ring_.broken());
}

TEST_F(SplitRingTest, FullQueueIsBoundedPerBurst) {
  for (int i = 0; i < kSize; ++i) q_->Publish(q_->AddReadableBytes(TxBytes(Pattern(64, 1))));
  VectorPacketSink sink;
  EXPECT_EQ(Dequeue(sink, 32), 32u);
  EXPECT_EQ(ring_.last_avail_idx(), 32);
}

TEST_F(SplitRingTest, SinkOutOfBuffersLeavesTheChainInTheRing) {
  q_->Publish(q_->AddReadableBytes(TxBytes(Pattern(64, 1))));
  VectorPacketSink sink;
  sink.capacity = 0;
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.no_mbuf.Get(), 1u);
  EXPECT_EQ(ring_.last_avail_idx(), 0);
  sink.capacity = 10;
  EXPECT_EQ(Dequeue(sink), 1u);
}

TEST_F(SplitRingTest, NotificationHonoursNoInterrupt) {
  q_->SetAvailFlags(kAvailFlagNoInterrupt);
  q_->Publish(q_->AddReadableBytes(TxBytes(Pattern(64, 1))));
  VectorPacketSink sink;
  ASSERT_EQ(Dequeue(sink), 1u);
  EXPECT_FALSE(ring_.PublishUsed());
  q_->SetAvailFlags(0);
  q_->Publish(q_->AddReadableBytes(TxBytes(Pattern(64, 1))));
  ASSERT_EQ(Dequeue(sink), 1u);
  EXPECT_TRUE(ring_.PublishUsed());
  // We poll: the driver is told not to kick.
  EXPECT_EQ(q_->UsedFlags(), kUsedFlagNoNotify);
}

TEST_F(SplitRingTest, NotificationWithEventIdx) {
  event_idx_ = true;
  Init();
  q_->SetUsedEvent(1);  // notify once used->idx passes 1
  VectorPacketSink sink;
  q_->Publish(q_->AddReadableBytes(TxBytes(Pattern(64, 1))));
  ASSERT_EQ(Dequeue(sink), 1u);
  EXPECT_FALSE(ring_.PublishUsed());  // 0 -> 1: event 1 not passed
  q_->Publish(q_->AddReadableBytes(TxBytes(Pattern(64, 1))));
  ASSERT_EQ(Dequeue(sink), 1u);
  EXPECT_TRUE(ring_.PublishUsed());  // 1 -> 2
  q_->Publish(q_->AddReadableBytes(TxBytes(Pattern(64, 1))));
  ASSERT_EQ(Dequeue(sink), 1u);
  EXPECT_FALSE(ring_.PublishUsed());  // 2 -> 3
}

TEST_F(SplitRingTest, DirtyLogMarksBuffersAndUsedRing) {
  std::vector<uint8_t> bits(1 << 10, 0);
  DirtyLog log;
  log.Attach(bits.data(), bits.size());
  RingLayout layout = q_->Layout();
  layout.log_used = true;
  ring_.Init(layout, &mem_.table(), 0, RingOptions{});
  ring_.set_dirty_log(&log);
  config_.log = &log;
  const BufferSpec rx[] = {{2048, true}};
  const uint16_t head = q_->AddChain(rx);
  q_->Publish(head);
  ASSERT_EQ(Enqueue(Pattern(100, 1)), EnqueueStatus::kDelivered);
  (void)ring_.PublishUsed();
  EXPECT_TRUE(log.IsMarked(q_->GetDesc(head).addr));
  EXPECT_TRUE(log.IsMarked(q_->used_gpa()));
  EXPECT_FALSE(log.IsMarked(kRegion + 0xf0000));
}

}  // namespace
}  // namespace vswitch::vhost
