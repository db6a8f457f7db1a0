// The mbuf side of the datapath, with EAL in-process (no hugepages): packets copied
// both ways through the split ring, and the virtio-net header translated to and from
// mbuf offload flags.
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_memory.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "feature_bits.h"
#include "mbuf_packet.h"
#include "mock_split_queue.h"
#include "in_process_eal.h"
#include "test_env.h"
#include "zero_copy.h"

namespace vswitch::vhost {
namespace {

rte_mempool* g_pool = nullptr;

const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new vswitch::test::InProcessEal("vshmbuf", [] {
  // Small data room (512 B) so large packets need mbuf chains.
  g_pool = rte_pktmbuf_pool_create("t", 1023, 0, 0, 512 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
  ASSERT_NE(g_pool, nullptr);
}));

std::vector<uint8_t> TcpFrame(size_t payload) {
  std::vector<uint8_t> f(14 + 20 + 20 + payload, 0);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(f.data());
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->next_proto_id = IPPROTO_TCP;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(f.size() - 14));
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
  tcp->data_off = 5 << 4;
  for (size_t i = 54; i < f.size(); ++i) f[i] = static_cast<uint8_t>(i);
  return f;
}

TEST(MbufPacket, HeaderToOffloadFlags) {
  auto frame = TcpFrame(100);
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  ASSERT_NE(m, nullptr);
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(), frame.size());
  VirtioNetHdr h{};
  h.flags = kNetHdrFlagNeedsCsum;
  h.csum_start = 34;
  h.csum_offset = 16;
  h.gso_type = kNetHdrGsoTcpv4;
  h.gso_size = 1448;
  ASSERT_TRUE(ApplyHeaderToMbuf(h, m));
  EXPECT_EQ(m->l2_len, 14);
  EXPECT_EQ(m->l3_len, 20);
  EXPECT_EQ(m->l4_len, 20);
  EXPECT_EQ(m->tso_segsz, 1448);
  EXPECT_TRUE(m->ol_flags & RTE_MBUF_F_TX_TCP_SEG);
  EXPECT_TRUE(m->ol_flags & RTE_MBUF_F_TX_IPV4);
  // A gso type that does not match the packet is refused.
  rte_mbuf* u = rte_pktmbuf_alloc(g_pool);
  std::memcpy(rte_pktmbuf_append(u, static_cast<uint16_t>(frame.size())), frame.data(), frame.size());
  h.gso_type = kNetHdrGsoUdp;
  EXPECT_FALSE(ApplyHeaderToMbuf(h, u));
  rte_pktmbuf_free(u);

  // And back: a TSO mbuf becomes a GSO header only when the guest negotiated it.
  VirtioNetHdr back{};
  EXPECT_FALSE(HeaderFromMbuf(m, Bit(feature::kVersion1), back));
  ASSERT_TRUE(HeaderFromMbuf(m, Bit(feature::kNetGuestTso4) | Bit(feature::kNetGuestCsum), back));
  EXPECT_EQ(back.gso_type, kNetHdrGsoTcpv4);
  EXPECT_EQ(back.gso_size, 1448);
  EXPECT_EQ(back.hdr_len, 54);
  EXPECT_EQ(back.csum_start, 34);
  EXPECT_EQ(back.csum_offset, 16);
  rte_pktmbuf_free(m);
}

TEST(MbufPacket, BytesBothWaysThroughTheRingWithMbufChains) {
  test::HeapGuestMemory mem;
  mem.AddRegion(0x100000, 1 << 20);
  test::MockSplitQueue q(mem, 64, 0x100000, 0x110000, 0xf0000);
  SplitRing ring;
  ring.Init(q.Layout(), &mem.table(), 0, RingOptions{});
  NetQueueConfig config;
  QueueStats stats;
  DatapathScratch scratch;
  // Guest TX: a 1500-byte frame becomes a 3-mbuf chain (512-byte data rooms).
  auto frame = TcpFrame(1446);
  std::vector<uint8_t> tx(12, 0);
  tx.insert(tx.end(), frame.begin(), frame.end());
  q.Publish(q.AddReadableBytes(tx));
  rte_mbuf* pkts[4];
  MbufSink sink(g_pool, pkts, 4);
  ASSERT_EQ(DequeuePackets(ring, config, sink, 4, stats, scratch), 1u);
  ASSERT_EQ(sink.count(), 1u);
  rte_mbuf* m = pkts[0];
  EXPECT_EQ(m->pkt_len, frame.size());
  EXPECT_EQ(m->nb_segs, 3);
  std::vector<uint8_t> got(m->pkt_len);
  ASSERT_NE(rte_pktmbuf_read(m, 0, m->pkt_len, got.data()), nullptr);
  EXPECT_EQ(got, frame);

  // Host to guest: the chain goes back into one RX buffer.
  const test::BufferSpec rx[] = {{2048, true}};
  const uint16_t head = q.AddChain(rx);
  q.Publish(head);
  VirtioNetHdr hdr;
  ASSERT_TRUE(HeaderFromMbuf(m, 0, hdr));
  MbufSource src(m, hdr);
  uint16_t avail = ring.Available(stats);
  ASSERT_EQ(EnqueuePacket(ring, config, src, avail, stats, scratch), EnqueueStatus::kDelivered);
  (void)ring.PublishUsed();
  const auto written = q.ReadWritten(head, static_cast<uint32_t>(12 + frame.size()));
  EXPECT_TRUE(std::equal(frame.begin(), frame.end(), written.begin() + 12));
  rte_pktmbuf_free(m);
}

// A 9728-byte jumbo frame both ways: a 20-mbuf chain (512-byte rooms) into mergeable
// 1536-byte guest buffers (num_buffers 7), and out of a TX chain into an mbuf chain.
TEST(MbufPacket, JumboFramesMergeableAndMultiSegment) {
  test::HeapGuestMemory mem;
  mem.AddRegion(0x100000, 1 << 20);
  test::MockSplitQueue q(mem, 64, 0x100000, 0x110000, 0xf0000);
  SplitRing ring;
  ring.Init(q.Layout(), &mem.table(), 0, RingOptions{});
  NetQueueConfig config;
  config.mergeable = true;
  QueueStats stats;
  DatapathScratch scratch;
  auto frame = TcpFrame(9728 - 54);
  std::vector<uint8_t> tx(12, 0);
  tx.insert(tx.end(), frame.begin(), frame.end());
  const uint32_t split[] = {12, 4000, 3000};
  q.Publish(q.AddReadableBytes(tx, split));
  rte_mbuf* pkts[1];
  MbufSink sink(g_pool, pkts, 1);
  ASSERT_EQ(DequeuePackets(ring, config, sink, 1, stats, scratch), 1u);
  rte_mbuf* m = pkts[0];
  ASSERT_EQ(m->pkt_len, 9728u);
  EXPECT_EQ(m->nb_segs, 19);  // ceil(9728 / 512)
  std::vector<uint8_t> got(m->pkt_len);
  ASSERT_NE(rte_pktmbuf_read(m, 0, m->pkt_len, got.data()), nullptr);
  EXPECT_EQ(got, frame);

  std::vector<uint16_t> heads;
  for (int i = 0; i < 8; ++i) {
    const test::BufferSpec rx[] = {{1536, true}};
    heads.push_back(q.AddChain(rx));
    q.Publish(heads.back());
  }
  VirtioNetHdr hdr;
  ASSERT_TRUE(HeaderFromMbuf(m, 0, hdr));
  MbufSource src(m, hdr);
  uint16_t avail = ring.Available(stats);
  ASSERT_EQ(EnqueuePacket(ring, config, src, avail, stats, scratch), EnqueueStatus::kDelivered);
  (void)ring.PublishUsed();
  ASSERT_EQ(q.UsedIdx(), 1 + 7);  // the TX chain, then 7 RX buffers (9740 / 1536)
  std::vector<uint8_t> all;
  for (int i = 1; i < 8; ++i) {
    const auto u = q.Used(static_cast<uint16_t>(i));
    const auto part = q.ReadWritten(static_cast<uint16_t>(u.id), u.len);
    all.insert(all.end(), part.begin(), part.end());
  }
  VirtioNetHdrMrgRxbuf h;
  std::memcpy(&h, all.data(), 12);
  EXPECT_EQ(h.num_buffers, 7);
  ASSERT_EQ(all.size(), 12 + frame.size());
  EXPECT_TRUE(std::equal(frame.begin(), frame.end(), all.begin() + 12));
  rte_pktmbuf_free(m);
}

class ZeroCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_.AddRegion(0x100000, 1 << 20);
    q_ = std::make_unique<test::MockSplitQueue>(mem_, kSize, 0x100000, 0x110000, 0xf0000);
    ring_.Init(q_->Layout(), &mem_.table(), 0, RingOptions{});
    ASSERT_TRUE(zc_.Enable(kSize));  // cap: half the queue
  }
  void TearDown() override {
    zc_.Stop([&](uint16_t h) { ring_.PutUsed(h, 0); });
  }
  uint32_t Dequeue(rte_mbuf** pkts, uint32_t n) {
    MbufSink sink(g_pool, pkts, n);
    sink.EnableZeroCopy(&zc_, &mem_.table(), &stats_);
    (void)DequeuePackets(ring_, config_, sink, n, stats_, scratch_);
    return sink.count();
  }
  uint32_t Reap() {
    const uint32_t n = zc_.Reap([&](uint16_t h) { ring_.PutUsed(h, 0); });
    (void)ring_.PublishUsed();
    return n;
  }
  // A second region, 64 KiB at guest address 0x10000000, mapped from a memfd as a
  // front-end's memory is.
  static constexpr MemoryRegion kMemfdRegion{0x10000000, 1 << 16, 0x7e0000000000ull, 0};
  void MapMemfdRegion() {
    const int fd = memfd_create("zc", MFD_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 1 << 16), 0);
    ASSERT_EQ(mem_.table().Map(kMemfdRegion, fd), ProtocolError::kNone);
    close(fd);
  }
  std::vector<uint8_t> Tx(size_t payload) {
    auto frame = TcpFrame(payload);
    std::vector<uint8_t> tx(12, 0);
    tx.insert(tx.end(), frame.begin(), frame.end());
    return tx;
  }

  static constexpr uint16_t kSize = 16;
  test::HeapGuestMemory mem_;
  std::unique_ptr<test::MockSplitQueue> q_;
  SplitRing ring_;
  ZeroCopyQueue zc_;
  NetQueueConfig config_;
  QueueStats stats_;
  DatapathScratch scratch_;
};

TEST_F(ZeroCopyTest, LargePacketsByReferenceUsedWhenFreed) {
  const auto big = Tx(1446);   // 1500-byte frame: zero-copy
  const auto small = Tx(200);  // 254 bytes: below the threshold, copied
  const uint16_t h_big = q_->AddReadableBytes(big, std::vector<uint32_t>{12, 700});
  q_->Publish(h_big);
  q_->Publish(q_->AddReadableBytes(small));
  rte_mbuf* pkts[4];
  ASSERT_EQ(Dequeue(pkts, 4), 2u);
  (void)ring_.PublishUsed();
  // Only the copied packet went back to the guest.
  ASSERT_EQ(q_->UsedIdx(), 1);
  EXPECT_NE(q_->Used(0).id, h_big);
  rte_mbuf* m = pkts[0];
  EXPECT_EQ(m->pkt_len, 1500u);
  EXPECT_EQ(m->nb_segs, 3);  // copied head, then the two guest pieces
  EXPECT_FALSE(RTE_MBUF_HAS_EXTBUF(m));
  ASSERT_NE(m->next, nullptr);
  EXPECT_TRUE(RTE_MBUF_HAS_EXTBUF(m->next));
  // The payload is the guest's memory itself.
  const VirtqDesc d = q_->GetDesc(q_->GetDesc(h_big).next);
  EXPECT_EQ(rte_pktmbuf_mtod(m->next, uint8_t*), mem_.Host(d.addr) + kCopiedHead);
  std::vector<uint8_t> got(m->pkt_len);
  ASSERT_NE(rte_pktmbuf_read(m, 0, m->pkt_len, got.data()), nullptr);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), big.begin() + 12));
  EXPECT_EQ(Reap(), 0u);
  EXPECT_EQ(zc_.in_flight(), 1u);
  rte_pktmbuf_free(pkts[1]);
  rte_pktmbuf_free(m);
  EXPECT_EQ(Reap(), 1u);
  ASSERT_EQ(q_->UsedIdx(), 2);
  EXPECT_EQ(q_->Used(1).id, h_big);
  EXPECT_EQ(zc_.in_flight(), 0u);
}

TEST_F(ZeroCopyTest, HeadersInOneBufferAreACopyTheGuestCannotRewrite) {
  // The usual layout (virtio-net header and frame in one descriptor, as DPDK's and
  // Linux's drivers post them) takes the fixed-size head copy: the switch's view of the
  // first kCopiedHead bytes must not change when the guest rewrites its buffer, while
  // the rest is the guest's memory itself.
  const auto tx = Tx(1000);
  const uint16_t h = q_->AddReadableBytes(tx);
  q_->Publish(h);
  rte_mbuf* pkts[1];
  ASSERT_EQ(Dequeue(pkts, 1), 1u);
  rte_mbuf* m = pkts[0];
  ASSERT_EQ(m->data_len, kCopiedHead);
  ASSERT_NE(m->next, nullptr);
  ASSERT_TRUE(RTE_MBUF_HAS_EXTBUF(m->next));
  const uint64_t frame_gpa = q_->GetDesc(h).addr + 12;
  EXPECT_EQ(rte_pktmbuf_mtod(m->next, uint8_t*), mem_.Host(frame_gpa) + kCopiedHead);
  mem_.Write(frame_gpa, std::vector<uint8_t>(tx.size() - 12, 0xee));
  std::vector<uint8_t> got(m->pkt_len);
  ASSERT_NE(rte_pktmbuf_read(m, 0, m->pkt_len, got.data()), nullptr);
  EXPECT_TRUE(std::equal(got.begin(), got.begin() + kCopiedHead, tx.begin() + 12))
      << "the copied headers followed the guest's rewrite";
  EXPECT_TRUE(std::all_of(got.begin() + kCopiedHead, got.end(), [](uint8_t b) { return b == 0xee; }))
      << "the payload is not the guest's buffer";
  rte_pktmbuf_free(m);
  EXPECT_EQ(Reap(), 1u);
}

TEST_F(ZeroCopyTest, InFlightCapLeavesTheGuestDescriptorsToCopyWith) {
  // 12 large packets, cap 8: the rest are copied and returned at once, so a consumer
  // that holds every mbuf never starves the guest's TX ring.
  for (int i = 0; i < 12; ++i) q_->Publish(q_->AddReadableBytes(Tx(1000)));
  rte_mbuf* pkts[16];
  ASSERT_EQ(Dequeue(pkts, 16), 12u);
  (void)ring_.PublishUsed();
  EXPECT_EQ(zc_.in_flight(), 8u);
  EXPECT_EQ(q_->UsedIdx(), 4);
  uint32_t external = 0;
  for (int i = 0; i < 12; ++i) external += pkts[i]->nb_segs > 1 && RTE_MBUF_HAS_EXTBUF(pkts[i]->next);
  EXPECT_EQ(external, 8u);
  for (int i = 0; i < 12; ++i) rte_pktmbuf_free(pkts[i]);
  EXPECT_EQ(Reap(), 8u);
  EXPECT_EQ(q_->UsedIdx(), 12);
}

TEST_F(ZeroCopyTest, RegionUnmappedOnlyAfterItsLastBufferIsFreed) {
  ASSERT_NO_FATAL_FAILURE(MapMemfdRegion());
  const auto tx = Tx(1446);
  mem_.Write(0x10000000, tx);
  const test::BufferSpec spec[] = {{static_cast<uint32_t>(tx.size()), false, 0x10000000}};
  q_->Publish(q_->AddChain(spec));
  rte_mbuf* pkts[1];
  ASSERT_EQ(Dequeue(pkts, 1), 1u);
  ASSERT_TRUE(RTE_MBUF_HAS_EXTBUF(pkts[0]->next));
  uint8_t* guest = rte_pktmbuf_mtod(pkts[0]->next, uint8_t*);
  auto* page = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(guest) & ~uintptr_t{4095});
  // The front-end removes the region (REM_MEM_REG / a new SET_MEM_TABLE).
  ASSERT_TRUE(mem_.table().Remove(kMemfdRegion));
  EXPECT_EQ(msync(page, 4096, MS_ASYNC), 0) << "still mapped while the mbuf is in flight";
  std::vector<uint8_t> got(pkts[0]->pkt_len);
  ASSERT_NE(rte_pktmbuf_read(pkts[0], 0, pkts[0]->pkt_len, got.data()), nullptr);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), tx.begin() + 12));
  rte_pktmbuf_free(pkts[0]);
  EXPECT_EQ(Reap(), 1u);  // the slot drops its reference here
  errno = 0;
  EXPECT_EQ(msync(page, 4096, MS_ASYNC), -1);
  EXPECT_EQ(errno, ENOMEM) << "unmapped after the last buffer was freed";
}

TEST_F(ZeroCopyTest, RingStopOrphansInFlightBuffers) {
  q_->Publish(q_->AddReadableBytes(Tx(1000)));
  rte_mbuf* pkts[1];
  ASSERT_EQ(Dequeue(pkts, 1), 1u);
  zc_.Stop([&](uint16_t h) { ring_.PutUsed(h, 0); });
  EXPECT_FALSE(zc_.enabled());
  EXPECT_EQ(zc_.orphans(), 1u);
  EXPECT_EQ(zc_.ReapOrphans(), 0u) << "still held";
  rte_pktmbuf_free(pkts[0]);  // wherever this runs, it only decrements the refcnt
  EXPECT_EQ(zc_.ReapOrphans(), 1u);
  EXPECT_EQ(zc_.orphans(), 0u);
  (void)ring_.PublishUsed();
  EXPECT_EQ(q_->UsedIdx(), 0) << "an orphan's used element is never written";
  ASSERT_TRUE(zc_.Enable(kSize));
}

// A ring whose front-end resumes from its base (GET_VRING_BASE past the drain bound):
// every chain goes back, held ones included, each exactly once; the held ones are
// revoked (this process no longer reads them) and stay orphans until freed.
TEST_F(ZeroCopyTest, StopReturningHeldReturnsEveryChainOnceAndRevokesTheHeldOnes) {
  const uint16_t h0 = q_->AddReadableBytes(Tx(1000));
  const uint16_t h1 = q_->AddReadableBytes(Tx(1000));
  q_->Publish(h0);
  q_->Publish(h1);
  rte_mbuf* pkts[2];
  ASSERT_EQ(Dequeue(pkts, 2), 2u);
  rte_pktmbuf_free(pkts[1]);  // done: returned as usual
  ASSERT_TRUE(ExternalBuffersAreOurs(pkts[0]));
  const uint64_t revocations = ZeroCopyRevocations();
  EXPECT_EQ(zc_.StopReturningHeld([&](uint16_t h) { ring_.PutUsed(h, 0); }), 1u);
  (void)ring_.PublishUsed();
  ASSERT_EQ(q_->UsedIdx(), 2) << "both chains back to the guest";
  EXPECT_EQ(q_->Used(0).id, h1);
  EXPECT_EQ(q_->Used(1).id, h0);
  EXPECT_FALSE(zc_.enabled());
  EXPECT_FALSE(ExternalBuffersAreOurs(pkts[0])) << "revoked: freed unread from now on";
  EXPECT_EQ(ZeroCopyRevocations(), revocations + 1);
  EXPECT_EQ(zc_.orphans(), 1u);
  rte_pktmbuf_free(pkts[0]);
  EXPECT_EQ(zc_.ReapOrphans(), 1u);
  (void)ring_.PublishUsed();
  EXPECT_EQ(q_->UsedIdx(), 2) << "and never a second time";
  ASSERT_TRUE(zc_.Enable(kSize));
}

// A queue that goes away (the process leaves, the Driver is destroyed) while another
// process still holds one of its buffers: the shared info stays allocated, so that
// process's later free decrements memory nobody reuses.
TEST_F(ZeroCopyTest, AQueueDestroyedWithBuffersHeldLeavesTheirSharedInfoAllocated) {
  auto local = std::make_unique<ZeroCopyQueue>();
  ASSERT_TRUE(local->Enable(kSize));
  q_->Publish(q_->AddReadableBytes(Tx(1000)));
  rte_mbuf* pkts[1];
  {
    // The sink reports its burst to the queue when it goes: before the queue does.
    MbufSink sink(g_pool, pkts, 1);
    sink.EnableZeroCopy(local.get(), &mem_.table(), &stats_);
    ASSERT_EQ(DequeuePackets(ring_, config_, sink, 1, stats_, scratch_), 1u);
  }
  const rte_mbuf_ext_shared_info* shinfo = pkts[0]->next->shinfo;
  rte_malloc_socket_stats before{};
  ASSERT_EQ(rte_malloc_get_socket_stats(rte_socket_id(), &before), 0);
  local.reset();
  rte_malloc_socket_stats after{};
  ASSERT_EQ(rte_malloc_get_socket_stats(rte_socket_id(), &after), 0);
  EXPECT_EQ(after.heap_allocsz_bytes, before.heap_allocsz_bytes) << "not freed: still referenced";
  EXPECT_EQ(rte_mbuf_ext_refcnt_read(shinfo), 2);
  rte_pktmbuf_free(pkts[0]);
  EXPECT_EQ(rte_mbuf_ext_refcnt_read(shinfo), 1);
  // The descriptor never goes back: the ring is gone with its queue.
  (void)ring_.PublishUsed();
  EXPECT_EQ(q_->UsedIdx(), 0);
}

TEST_F(ZeroCopyTest, AQueueDestroyedWithNothingHeldFreesItsSharedInfo) {
  rte_malloc_socket_stats before{};
  ASSERT_EQ(rte_malloc_get_socket_stats(rte_socket_id(), &before), 0);
  auto local = std::make_unique<ZeroCopyQueue>();
  ASSERT_TRUE(local->Enable(kSize));
  local.reset();
  rte_malloc_socket_stats after{};
  ASSERT_EQ(rte_malloc_get_socket_stats(rte_socket_id(), &after), 0);
  EXPECT_EQ(after.heap_allocsz_bytes, before.heap_allocsz_bytes);
}

// Completion without function pointers: the external buffers' shared info lives in
// DPDK heap memory, the queue holds one reference of its own, and freeing the mbufs
// (here, or in any process) only decrements it; free_cb is never called.
TEST_F(ZeroCopyTest, FreeingOnlyDecrementsTheSharedRefcount) {
  const auto tx = Tx(1446);
  const uint16_t h = q_->AddReadableBytes(tx, std::vector<uint32_t>{12, 500, 400});
  q_->Publish(h);
  rte_mbuf* pkts[1];
  ASSERT_EQ(Dequeue(pkts, 1), 1u);
  rte_mbuf* m = pkts[0];
  ASSERT_GE(m->nb_segs, 3);
  const rte_mbuf_ext_shared_info* shinfo = m->next->shinfo;
  // In rte_malloc memory (the same address in every process), not this process's heap.
  EXPECT_NE(rte_mem_virt2memseg(shinfo, nullptr), nullptr);
  const uint16_t pieces = static_cast<uint16_t>(m->nb_segs - 1);
  EXPECT_EQ(rte_mbuf_ext_refcnt_read(shinfo), pieces + 1);
  for (rte_mbuf* s = m->next; s != nullptr; s = s->next) EXPECT_EQ(s->shinfo, shinfo);
  EXPECT_TRUE(ExternalBuffersAreOurs(m));
  // Another process's instance tag: a buffer we must not read.
  auto* shared = reinterpret_cast<ZeroCopyShared*>(const_cast<rte_mbuf_ext_shared_info*>(shinfo));
  const uint64_t owner = shared->owner;
  shared->owner = owner ^ 1;
  EXPECT_FALSE(ExternalBuffersAreOurs(m));
  shared->owner = owner;
  // Freeing one piece by hand (as a consumer splitting the chain would): still in flight.
  rte_mbuf* last = m;
  while (last->next->next != nullptr) last = last->next;
  rte_mbuf* tail = last->next;
  last->next = nullptr;
  m->nb_segs = static_cast<uint16_t>(m->nb_segs - 1);
  rte_pktmbuf_free(tail);
  EXPECT_EQ(rte_mbuf_ext_refcnt_read(shinfo), pieces);
  EXPECT_EQ(Reap(), 0u);
  EXPECT_EQ(q_->UsedIdx(), 0);
  rte_pktmbuf_free(m);
  EXPECT_EQ(rte_mbuf_ext_refcnt_read(shinfo), 1) << "ours is left; free_cb never ran";
  const unsigned avail = rte_mempool_avail_count(g_pool);
  EXPECT_EQ(Reap(), 1u);
  ASSERT_EQ(q_->UsedIdx(), 1);
  EXPECT_EQ(q_->Used(0).id, h);
  EXPECT_EQ(rte_mempool_avail_count(g_pool), avail) << "the mbufs went back to the pool when freed";
  EXPECT_EQ(stats_.zero_copy.Get(), 1u);
}

// An indirect mbuf attached to a zero-copy segment (rte_pktmbuf_clone, rte_gso) holds a
// reference too: the descriptor goes back only when the clone is freed as well.
TEST_F(ZeroCopyTest, ClonesHoldTheDescriptorUntilFreed) {
  q_->Publish(q_->AddReadableBytes(Tx(1000)));
  rte_mbuf* pkts[1];
  ASSERT_EQ(Dequeue(pkts, 1), 1u);
  rte_mbuf* clone = rte_pktmbuf_clone(pkts[0], g_pool);
  ASSERT_NE(clone, nullptr);
  rte_pktmbuf_free(pkts[0]);
  EXPECT_EQ(Reap(), 0u);
  rte_pktmbuf_free(clone);
  EXPECT_EQ(Reap(), 1u);
  EXPECT_EQ(q_->UsedIdx(), 1);
}

TEST_F(ZeroCopyTest, CopiedPacketsAreCountedByReason) {
  q_->Publish(q_->AddReadableBytes(Tx(200)));  // 254 bytes: below 512
  for (int i = 0; i < 10; ++i) q_->Publish(q_->AddReadableBytes(Tx(1000)));  // cap 8
  rte_mbuf* pkts[16] = {};
  ASSERT_EQ(Dequeue(pkts, 16), 11u);
  EXPECT_EQ(stats_.zero_copy.Get(), 8u);
  EXPECT_EQ(stats_.zero_copy_copied[static_cast<size_t>(ZeroCopyCopyReason::kBelowThreshold)].Get(), 1u);
  EXPECT_EQ(stats_.zero_copy_copied[static_cast<size_t>(ZeroCopyCopyReason::kCapReached)].Get(), 2u);
  for (auto* m : pkts) {
    if (m != nullptr) rte_pktmbuf_free(m);
  }
  EXPECT_EQ(Reap(), 8u);
}

// A sharer that has not (or has) the other process's acknowledgement for a mapping.
class FakeSharer final : public MappingSharer {
 public:
  void Publish(GuestMapping& m) override { m.share_index = published_++; }
  void Retire(std::unique_ptr<GuestMapping> m) override { retired_.push_back(std::move(m)); }
  [[nodiscard]] bool Shared(const GuestMapping&) const override { return shared_; }
  bool shared_ = false;
  int published_ = 0;
  std::vector<std::unique_ptr<GuestMapping>> retired_;
};

TEST_F(ZeroCopyTest, UnsharedRegionsAreCopiedAndRetiredMappingsGoToTheSharer) {
  FakeSharer sharer;
  mem_.table().set_sharer(&sharer);
  ASSERT_NO_FATAL_FAILURE(MapMemfdRegion());
  ASSERT_EQ(sharer.published_, 1);
  const auto tx = Tx(1446);
  mem_.Write(0x10000000, tx);
  const test::BufferSpec spec[] = {{static_cast<uint32_t>(tx.size()), false, 0x10000000}};
  q_->Publish(q_->AddChain(spec));
  rte_mbuf* pkts[2];
  ASSERT_EQ(Dequeue(pkts, 1), 1u);
  for (rte_mbuf* seg = pkts[0]; seg != nullptr; seg = seg->next) {
    EXPECT_FALSE(RTE_MBUF_HAS_EXTBUF(seg)) << "not acknowledged: copied";
  }
  EXPECT_EQ(stats_.zero_copy_copied[static_cast<size_t>(ZeroCopyCopyReason::kRegionNotShared)].Get(), 1u);
  rte_pktmbuf_free(pkts[0]);
  sharer.shared_ = true;
  q_->Publish(q_->AddChain(spec));
  ASSERT_EQ(Dequeue(pkts, 1), 1u);
  ASSERT_TRUE(RTE_MBUF_HAS_EXTBUF(pkts[0]->next)) << "acknowledged: by reference";
  // The mapping kept a duplicate fd for the other process to open.
  ASSERT_TRUE(mem_.table().Remove(kMemfdRegion));
  EXPECT_TRUE(sharer.retired_.empty()) << "still in flight";
  rte_pktmbuf_free(pkts[0]);
  EXPECT_EQ(Reap(), 1u);
  ASSERT_EQ(sharer.retired_.size(), 1u) << "the last user let go: the sharer unmaps it";
  EXPECT_TRUE(sharer.retired_[0]->fd.valid());
  mem_.table().set_sharer(nullptr);
}

}  // namespace
}  // namespace vswitch::vhost
