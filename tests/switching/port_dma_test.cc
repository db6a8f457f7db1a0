#include "port_dma.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "test_env.h"

namespace vswitch {
namespace {

// A chain as vswitch-vhost's dequeue zero-copy builds it: a pool mbuf with the copied
// headers, then a segment attached to guest memory. In IOVA-as-VA mode the guest
// segment carries its virtual address as IOVA, which no IOMMU mapping backs.
struct ZeroCopyChain {
  ZeroCopyChain() {
    head.buf_addr = head_data;
    head.buf_iova = 0x1000;  // pool memory: registered for DMA
    head.next = &guest;
    head.nb_segs = 2;
    guest.buf_addr = guest_data;
    guest.buf_iova = static_cast<rte_iova_t>(reinterpret_cast<uintptr_t>(guest_data));
    guest.ol_flags = RTE_MBUF_F_EXTERNAL;
    guest.next = nullptr;
  }
  rte_mbuf head{};
  rte_mbuf guest{};
  uint8_t head_data[128] = {};
  uint8_t guest_data[1024] = {};
};

TEST(PortDmaTest, BusDecidesHowThePortReads) {
  EXPECT_EQ(PortAccessOfBus("vdev"), PortAccess::kVirtualAddress);
  EXPECT_EQ(PortAccessOfBus("pci"), PortAccess::kDma);
  EXPECT_EQ(PortAccessOfBus("auxiliary"), PortAccess::kDma);
  EXPECT_EQ(PortAccessOfBus(""), PortAccess::kDma);
}

TEST(PortDmaTest, GuestMemoryIsCopiedForAPciPortEvenWithAnIova) {
  ZeroCopyChain c;
  EXPECT_TRUE(MustCopyToPort(PortAccessOfBus("pci"), &c.head));
}

TEST(PortDmaTest, GuestMemoryWithoutIovaIsCopiedForAPciPort) {
  ZeroCopyChain c;
  c.guest.buf_iova = RTE_BAD_IOVA;  // IOVA-as-PA: no IOVA at all
  EXPECT_TRUE(MustCopyToPort(PortAccess::kDma, &c.head));
}

TEST(PortDmaTest, GuestMemoryGoesByReferenceToAVirtualPort) {
  ZeroCopyChain c;
  EXPECT_FALSE(MustCopyToPort(PortAccessOfBus("vdev"), &c.head));
  c.guest.buf_iova = RTE_BAD_IOVA;
  EXPECT_FALSE(MustCopyToPort(PortAccessOfBus("vdev"), &c.head));
}

TEST(PortDmaTest, PoolMemoryIsNotCopied) {
  ZeroCopyChain c;
  c.head.next = nullptr;  // the headers alone: a copied (not zero-copy) packet
  c.head.nb_segs = 1;
  EXPECT_FALSE(MustCopyToPort(PortAccess::kDma, &c.head));
}

// README's status list says where zero-copy packets reach the port by reference; it must
// say what MustCopyToPort does.
TEST(PortDmaTest, ReadmeClaimMatchesTheDecision) {
  std::ifstream in(test::SourceDir() + "/README.md");
  ASSERT_TRUE(in) << "cannot read README.md under " << test::SourceDir();
  std::stringstream text;
  text << in.rdbuf();
  std::string readme = text.str();
  for (char& ch : readme) {
    if (ch == '\n') ch = ' ';
  }
  // Lines are wrapped at any space: compare with single spaces.
  std::string flat;
  for (char ch : readme) {
    if (ch == ' ' && !flat.empty() && flat.back() == ' ') continue;
    flat.push_back(ch);
  }
  EXPECT_EQ(flat.find("IOVA-as-VA NICs"), std::string::npos)
      << "README still claims zero-copy on IOVA-as-VA NICs";
  const std::string by_reference =
      "reach the port by reference only when it is a virtual port (DPDK's vdev bus";
  const std::string copied = "a port that DMAs (a PCI NIC) gets a copy";
  EXPECT_NE(flat.find(by_reference), std::string::npos) << "README lacks: " << by_reference;
  EXPECT_NE(flat.find(copied), std::string::npos) << "README lacks: " << copied;
  ZeroCopyChain c;
  EXPECT_FALSE(MustCopyToPort(PortAccessOfBus("vdev"), &c.head)) << by_reference;
  EXPECT_TRUE(MustCopyToPort(PortAccessOfBus("pci"), &c.head)) << copied;
}

}  // namespace
}  // namespace vswitch
