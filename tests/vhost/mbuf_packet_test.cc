// The mbuf side of the datapath, with EAL in-process (no hugepages): packets copied
// both ways through the split ring, and the virtio-net header translated to and from
// mbuf offload flags.
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "feature_bits.h"
#include "mbuf_packet.h"
#include "mock_split_queue.h"
#include "test_env.h"

namespace vswitch::vhost {
namespace {

rte_mempool* g_pool = nullptr;

class Eal : public ::testing::Environment {
 public:
  void SetUp() override {
    prefix_ = vswitch::test::UniqueName("vshmbuf");
    const std::string prefix = "--file-prefix=" + prefix_;
    std::vector<std::string> args = {"test", "--no-huge", "--no-pci", "-m", "64", "-l", "0",
                                     prefix, "--log-level=lib.eal:error"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0);
    // Small data room (512 B) so large packets need mbuf chains.
    g_pool = rte_pktmbuf_pool_create("t", 1023, 0, 0, 512 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
    ASSERT_NE(g_pool, nullptr);
  }
  void TearDown() override {
    rte_eal_cleanup();
    vswitch::test::RemoveDpdkLeftovers(prefix_);
  }

 private:
  std::string prefix_;
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new Eal);

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

}  // namespace
}  // namespace vswitch::vhost
