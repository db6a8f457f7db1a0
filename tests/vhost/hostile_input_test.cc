// One test per descriptor row of shared/docs/hostile-input.md: each builds exactly that
// ring with the mock driver and asserts a counted drop by name (or the correct result
// where the input is legal but was once mishandled). Guest memory is HeapGuestMemory,
// whose regions sit between PROT_NONE guard pages: a read or write outside what the
// guest shared faults the test instead of passing silently.
//
// The control-plane rows are tested where their parser lives (see docs/vhost-api.md
// "Hostile input: where each row is tested"): message_table_test, protocol_test,
// guest_memory_test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
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
constexpr uint64_t kRegionSize = 1 << 20;
constexpr uint16_t kSize = 256;

std::vector<uint8_t> TxBytes(const std::vector<uint8_t>& payload, VirtioNetHdr hdr = {}) {
  // Header (12 bytes with VERSION_1) then payload; sized once (GCC 12 warns, wrongly, on
  // vector::insert after a short vector here).
  std::vector<uint8_t> out(12 + payload.size(), 0);
  std::memcpy(out.data(), &hdr, sizeof(hdr));
  std::copy(payload.begin(), payload.end(), out.begin() + 12);
  return out;
}

// Guest memory whose every translation first runs a hook: the "guest" rewriting shared
// memory while the back-end is between two steps of its walk.
class RacingMemory final : public GuestMemory {
 public:
  explicit RacingMemory(const GuestMemoryTable& inner) : inner_(inner) {}
  HostRange Translate(uint64_t gpa, uint64_t len) const override {
    if (hook) hook();
    return inner_.Translate(gpa, len);
  }
  HostRange TranslateUserAddr(uint64_t uva, uint64_t len) const override {
    return inner_.TranslateUserAddr(uva, len);
  }
  std::function<void()> hook;

 private:
  const GuestMemoryTable& inner_;
};

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_.AddRegion(kRegion, kRegionSize);
    q_ = std::make_unique<MockSplitQueue>(mem_, kSize, kRegion, kRegion + 0x10000, 0xf0000);
    ring_.Init(q_->Layout(), &mem_.table(), 0, RingOptions{false, true, false});
  }
  uint32_t Dequeue(PacketSink& sink, uint32_t max = 64) {
    return DequeuePackets(ring_, config_, sink, max, stats_, scratch_);
  }
  EnqueueStatus Enqueue(const std::vector<uint8_t>& bytes) {
    VectorPacketSource src(bytes, {}, 100);
    uint16_t avail = ring_.Available(stats_);
    return EnqueuePacket(ring_, config_, src, avail, stats_, scratch_);
  }
  // Every chain published so far came back to the guest (used), whatever happened.
  void ExpectAllReturned() {
    (void)ring_.PublishUsed();
    EXPECT_EQ(q_->UsedIdx(), q_->avail_idx());
  }

  HeapGuestMemory mem_;
  std::unique_ptr<MockSplitQueue> q_;
  SplitRing ring_;
  NetQueueConfig config_;
  QueueStats stats_;
  DatapathScratch scratch_;
};

// Row "descriptor whose guest address range spans two memory regions, or non-contiguous
// host memory" (CVE-2018-1059).
TEST_F(HostileInputTest, RangeAcrossRegionsIsTranslatedPiecewise) {
  // Region 2 follows region 1 in guest-physical space; on the host a guard page lies
  // between them, so reading "past" region 1 with the first translation would fault.
  mem_.AddRegion(kRegion + kRegionSize, 4096);
  const auto payload = Pattern(300, 1);
  const auto bytes = TxBytes(payload);
  const uint64_t start = kRegion + kRegionSize - 150;
  mem_.Write(start, bytes);
  const BufferSpec across[] = {{static_cast<uint32_t>(bytes.size()), false, start}};
  q_->Publish(q_->AddChain(across));
  // Running past region 2 into nothing, and starting in a hole.
  const BufferSpec past[] = {{8192, false, kRegion + kRegionSize - 150}};
  q_->Publish(q_->AddChain(past));
  const BufferSpec hole[] = {{100, false, 0x50000000}};
  q_->Publish(q_->AddChain(hole));
  VectorPacketSink sink;
  ASSERT_EQ(Dequeue(sink), 1u);
  EXPECT_EQ(sink.packets[0].bytes, payload);
  EXPECT_EQ(stats_.Dropped(DropReason::kUnmappedAddress), 2u);
  // An indirect table that crosses the boundary too: copied piecewise, then followed.
  const uint64_t table_gpa = kRegion + kRegionSize - 16;
  const auto p2 = Pattern(100, 2);
  const auto b2 = TxBytes(p2);
  const uint64_t buf = q_->Alloc(static_cast<uint32_t>(b2.size()));
  mem_.Write(buf, b2);
  VirtqDesc d0{buf, 20, kDescFlagNext, 1};
  VirtqDesc d1{buf + 20, static_cast<uint32_t>(b2.size() - 20), 0, 0};
  mem_.Write(table_gpa, {reinterpret_cast<const uint8_t*>(&d0), 16});
  mem_.Write(table_gpa + 16, {reinterpret_cast<const uint8_t*>(&d1), 16});
  q_->SetDesc(100, table_gpa, 32, kDescFlagIndirect, 0);
  q_->Publish(100);
  ASSERT_EQ(Dequeue(sink), 1u);
  EXPECT_EQ(sink.packets[1].bytes, p2);
  EXPECT_EQ(stats_.Dropped(DropReason::kUnmappedAddress), 2u);
  ExpectAllReturned();

  // RX: a writable buffer across the boundary is filled piecewise; one past the end of
  // the shared memory is refused before any byte is written.
  const BufferSpec rx_across[] = {{400, true, kRegion + kRegionSize - 100}};
  const uint16_t h = q_->AddChain(rx_across);
  q_->Publish(h);
  EXPECT_EQ(Enqueue(payload), EnqueueStatus::kDelivered);
  const BufferSpec rx_past[] = {{8192, true, kRegion + kRegionSize + 4096 - 100}};
  q_->Publish(q_->AddChain(rx_past));
  EXPECT_EQ(Enqueue(payload), EnqueueStatus::kDropped);
  EXPECT_EQ(stats_.Dropped(DropReason::kUnmappedAddress), 3u);
  const auto got = q_->ReadWritten(h, 312);
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), got.begin() + 12));
}

// Row "batch with an invalid address and length 0" (CVE-2020-10725, packed ring; split
// rings have the same shape): a zero-length descriptor is never translated nor read, and
// a chain of nothing but such descriptors is too short to hold a header.
TEST_F(HostileInputTest, ZeroLengthDescriptorsAtInvalidAddresses) {
  const auto bytes = TxBytes(Pattern(64, 3));
  const uint64_t buf = q_->Alloc(static_cast<uint32_t>(bytes.size()));
  mem_.Write(buf, bytes);
  q_->SetDesc(0, 0xdead00000000ull, 0, kDescFlagNext, 1);
  q_->SetDesc(1, buf, static_cast<uint32_t>(bytes.size()), 0, 0);
  q_->Publish(0);
  q_->SetDesc(2, 0xffffffffffffffffull, 0, kDescFlagNext, 3);
  q_->SetDesc(3, 0, 0, 0, 0);
  q_->Publish(2);
  q_->SetDesc(4, 0xdead00000000ull, 0, kDescFlagIndirect, 0);  // empty indirect table
  q_->Publish(4);
  VectorPacketSink sink;
  ASSERT_EQ(Dequeue(sink), 1u);
  EXPECT_EQ(sink.packets[0].bytes.size(), 64u);
  EXPECT_EQ(stats_.Dropped(DropReason::kChainTooShort), 1u);
  EXPECT_EQ(stats_.Dropped(DropReason::kBadIndirectTable), 1u);
  ExpectAllReturned();
}

// Row "descriptor chain no longer than the virtio-net header, or a header split over
// more than two descriptors" (CVE-2022-2132).
TEST_F(HostileInputTest, ShortChainsDroppedAndHeaderSplitAnywhereIsRead) {
  const std::vector<uint8_t> header_only(12, 0);
  q_->Publish(q_->AddReadableBytes(header_only));
  const std::vector<uint8_t> eleven(11, 0);
  q_->Publish(q_->AddReadableBytes(eleven));
  // The header in twelve 1-byte descriptors, then the payload (ANY_LAYOUT allows it).
  VirtioNetHdr h{};
  h.flags = kNetHdrFlagNeedsCsum;
  h.csum_start = 34;
  h.csum_offset = 6;
  const auto payload = Pattern(80, 4);
  const std::vector<uint32_t> split(12, 1);
  q_->Publish(q_->AddReadableBytes(TxBytes(payload, h), split));
  VectorPacketSink sink;
  ASSERT_EQ(Dequeue(sink), 1u);
  EXPECT_EQ(sink.packets[0].bytes, payload);
  EXPECT_EQ(sink.packets[0].hdr.csum_start, 34);
  EXPECT_EQ(sink.packets[0].hdr.csum_offset, 6);
  EXPECT_EQ(stats_.Dropped(DropReason::kChainTooShort), 2u);
  ExpectAllReturned();
}

// A sink that plays the guest rewriting the header in shared memory after the back-end
// validated it (between "read" and "use").
class RewritingSink final : public PacketSink {
 public:
  RewritingSink(HeapGuestMemory& mem, uint64_t header_gpa) : mem_(mem), gpa_(header_gpa) {}
  bool Begin(uint32_t) override {
    VirtioNetHdr evil{};
    evil.flags = kNetHdrFlagNeedsCsum;
    evil.csum_start = 0xfff0;
    evil.csum_offset = 0xfff0;
    mem_.Write(gpa_, {reinterpret_cast<const uint8_t*>(&evil), sizeof(evil)});
    return true;
  }
  void Append(const uint8_t*, uint32_t len) override { bytes += len; }
  bool Finish(const VirtioNetHdr& header) override {
    seen = header;
    return true;
  }
  VirtioNetHdr seen{};
  uint32_t bytes = 0;

 private:
  HeapGuestMemory& mem_;
  uint64_t gpa_;
};

// Row "csum_start past the packet's end; guest rewriting it between two reads"
// (CVE-2024-11614).
TEST_F(HostileInputTest, ChecksumOffsetsPastTheEndAndRewrittenHeader) {
  VirtioNetHdr h{};
  h.flags = kNetHdrFlagNeedsCsum;
  h.csum_start = 60;  // 60 + 6 + 2 > 64
  h.csum_offset = 6;
  q_->Publish(q_->AddReadableBytes(TxBytes(Pattern(64, 5), h)));
  h.csum_start = 0xffff;
  h.csum_offset = 0xffff;  // 16-bit sums that would wrap in 16-bit arithmetic
  q_->Publish(q_->AddReadableBytes(TxBytes(Pattern(64, 5), h)));
  VectorPacketSink sink;
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kBadNetHeader), 2u);

  h.csum_start = 34;
  h.csum_offset = 6;
  const uint16_t head = q_->AddReadableBytes(TxBytes(Pattern(64, 5), h));
  q_->Publish(head);
  RewritingSink rewriting(mem_, q_->GetDesc(head).addr);
  ASSERT_EQ(Dequeue(rewriting), 1u);
  // The header used is the copy that was validated, not what the guest wrote later.
  EXPECT_EQ(rewriting.seen.csum_start, 34);
  EXPECT_EQ(rewriting.seen.csum_offset, 6);
  EXPECT_EQ(rewriting.bytes, 64u);
  ExpectAllReturned();
}

// Row "descriptor whose next points to itself (length 0), or outside the ring".
TEST_F(HostileInputTest, SelfLoopsAndNextOutsideTheTable) {
  q_->SetDesc(0, 0, 0, kDescFlagNext, 0);  // itself, length 0: endless without a bound
  q_->Publish(0);
  q_->SetDesc(1, q_->Alloc(64), 64, kDescFlagNext, kSize + 7);  // outside the table
  q_->Publish(1);
  // A loop inside an indirect table, and an indirect next past the table's end.
  const uint64_t table = q_->Alloc(32);
  VirtqDesc loop{0, 0, kDescFlagNext, 1};
  VirtqDesc back{0, 0, kDescFlagNext, 0};
  mem_.Write(table, {reinterpret_cast<const uint8_t*>(&loop), 16});
  mem_.Write(table + 16, {reinterpret_cast<const uint8_t*>(&back), 16});
  q_->SetDesc(2, table, 32, kDescFlagIndirect, 0);
  q_->Publish(2);
  const uint64_t table2 = q_->Alloc(16);
  VirtqDesc out{q_->Alloc(64), 64, kDescFlagNext, 5};
  mem_.Write(table2, {reinterpret_cast<const uint8_t*>(&out), 16});
  q_->SetDesc(3, table2, 16, kDescFlagIndirect, 0);
  q_->Publish(3);
  VectorPacketSink sink;
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kChainTooLong), 2u);
  EXPECT_EQ(stats_.Dropped(DropReason::kDescIndexOutOfRange), 2u);
  ExpectAllReturned();
  EXPECT_FALSE(ring_.broken());
  // An available entry naming no descriptor cannot be returned: the queue stops.
  q_->SetAvailEntry(q_->avail_idx(), kSize + 1);
  q_->SetAvailIdx(static_cast<uint16_t>(q_->avail_idx() + 1));
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kHeadOutOfRange), 1u);
  EXPECT_TRUE(ring_.broken());
}

// Row "guest changing a descriptor's length after the backend sized the buffer" (DPDK
// fix 134228ca39): the length is read once; growing it afterwards changes nothing.
TEST_F(HostileInputTest, DescriptorLengthGrownAfterSizing) {
  RacingMemory racing(mem_.table());
  ring_.Init(q_->Layout(), &racing, 0, RingOptions{});
  // The RX buffer ends exactly at the end of the region (a guard page follows): a copy
  // sized by the rewritten length would fault.
  const uint64_t buf = kRegion + kRegionSize - 128;
  const BufferSpec rx[] = {{128, true, buf}};
  const uint16_t head = q_->AddChain(rx);
  q_->Publish(head);
  racing.hook = [&] { q_->SetDesc(head, buf, 60000, kDescFlagWrite, 0); };
  EXPECT_EQ(Enqueue(Pattern(1000, 6)), EnqueueStatus::kDropped);
  EXPECT_EQ(stats_.Dropped(DropReason::kRxBufferTooSmall), 1u);
  racing.hook = nullptr;
  // A TX chain whose length grows after the walk: the packet is what was sized.
  const auto bytes = TxBytes(Pattern(100, 7));
  const uint16_t tx = q_->AddReadableBytes(bytes);
  q_->Publish(tx);
  const VirtqDesc d = q_->GetDesc(tx);
  racing.hook = [&] { q_->SetDesc(tx, d.addr, 5000, 0, 0); };
  VectorPacketSink sink;
  ASSERT_EQ(Dequeue(sink), 1u);
  EXPECT_EQ(sink.packets[0].bytes.size(), 100u);
  ExpectAllReturned();
  (void)ring_.PublishUsed();
  EXPECT_EQ(q_->Used(0).len, 0u);
}

// Row "avail index jumping more than the queue size ahead" (rust-vmm vm-virtio #196).
TEST_F(HostileInputTest, AvailIndexJumpStopsTheQueue) {
  for (int i = 0; i < 4; ++i) q_->Publish(q_->AddReadableBytes(TxBytes(Pattern(64, 8))));
  q_->SetAvailIdx(static_cast<uint16_t>(kSize + 5));
  VectorPacketSink sink;
  EXPECT_EQ(Dequeue(sink), 0u);
  EXPECT_EQ(stats_.Dropped(DropReason::kAvailIndexJump), 1u);
  EXPECT_TRUE(ring_.broken());
  EXPECT_EQ(Dequeue(sink), 0u);  // nothing processed, nothing processed twice
  EXPECT_EQ(stats_.Dropped(DropReason::kAvailIndexJump), 1u);
  EXPECT_EQ(q_->UsedIdx(), 0);
}

// Row "a guest that keeps its queue full forever" (CVE-2019-3900): each call takes a
// bounded slice, counting dropped chains, and stops at the byte weight.
TEST_F(HostileInputTest, FullQueueIsServedInBoundedSlices) {
  for (int i = 0; i < kSize; ++i) {
    q_->SetDesc(static_cast<uint16_t>(i), 0, 0, kDescFlagNext, static_cast<uint16_t>(i));
    q_->Publish(static_cast<uint16_t>(i));
  }
  VectorPacketSink sink;
  EXPECT_EQ(Dequeue(sink, 32), 0u);
  EXPECT_EQ(ring_.last_avail_idx(), 32);
  EXPECT_EQ(stats_.Dropped(DropReason::kChainTooLong), 32u);

  // Large packets: the byte weight ends the call before the packet count does.
  HeapGuestMemory big;
  big.AddRegion(kRegion, 64 << 20);
  MockSplitQueue bq(big, kSize, kRegion, kRegion + 0x10000, (64 << 20) - 0x10000);
  SplitRing ring;
  ring.Init(bq.Layout(), &big.table(), 0, RingOptions{});
  const std::vector<uint8_t> jumbo(12 + 65000, 0);
  for (int i = 0; i < 64; ++i) bq.Publish(bq.AddReadableBytes(jumbo));
  VectorPacketSink sink2;
  const uint32_t n = DequeuePackets(ring, config_, sink2, 64, stats_, scratch_);
  EXPECT_EQ(n, (kBurstByteWeight + 64999) / 65000);
  EXPECT_LT(n, 64u);
}

}  // namespace
}  // namespace vswitch::vhost
