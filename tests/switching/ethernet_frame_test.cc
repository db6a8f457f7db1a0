#include "ethernet_frame.h"

#include <gtest/gtest.h>

#include <vector>

namespace vswitch {
namespace {

std::vector<uint8_t> Frame(std::vector<uint16_t> types, size_t total = 64) {
  std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a};
  for (size_t i = 0; i < types.size(); ++i) {
    f.push_back(static_cast<uint8_t>(types[i] >> 8));
    f.push_back(static_cast<uint8_t>(types[i]));
    if (i + 1 < types.size()) {  // a tag's TCI follows its TPID: VLAN 1000 + i, PCP 5
      const uint16_t tci = static_cast<uint16_t>((5 << 13) | (1000 + i));
      f.push_back(static_cast<uint8_t>(tci >> 8));
      f.push_back(static_cast<uint8_t>(tci));
    }
  }
  f.resize(std::max(total, f.size()), 0);
  return f;
}

FrameInfo Parse(const std::vector<uint8_t>& f, size_t len) {
  return ParseFrame({f.data(), std::min<size_t>(len, kParseBytes)}, static_cast<uint32_t>(len));
}

TEST(EthernetFrameTest, UntaggedFrame) {
  const auto f = Frame({0x0800});
  const FrameInfo i = Parse(f, f.size());
  EXPECT_EQ(i.status, FrameStatus::kOk);
  EXPECT_FALSE(i.tagged);
  EXPECT_EQ(i.ether_type, 0x0800);
  EXPECT_EQ(MacToString(i.dst), "02:00:00:00:00:0b");
  EXPECT_EQ(MacToString(i.src), "02:00:00:00:00:0a");
  EXPECT_EQ(i.length, 64u);
}

TEST(EthernetFrameTest, OneTagGivesItsVlanIdWithoutPriorityBits) {
  const auto f = Frame({0x8100, 0x0806});
  const FrameInfo i = Parse(f, f.size());
  EXPECT_EQ(i.status, FrameStatus::kOk);
  EXPECT_TRUE(i.tagged);
  EXPECT_EQ(i.vlan_id, 1000);
  EXPECT_EQ(i.ether_type, 0x0806);
}

TEST(EthernetFrameTest, StackedTagsAreDoubleVlan) {
  for (auto types : {std::vector<uint16_t>{0x8100, 0x8100, 0x0800}, {0x88a8, 0x8100, 0x0800},
                     {0x9100, 0x8100, 0x0800}, {0x8100, 0x88a8, 0x0800}}) {
    const auto f = Frame(types);
    EXPECT_EQ(Parse(f, f.size()).status, FrameStatus::kDoubleVlan) << std::hex << types[0] << " " << types[1];
  }
}

TEST(EthernetFrameTest, RuntsAreShorterThanTheirHeader) {
  const auto f = Frame({0x0800});
  EXPECT_EQ(Parse(f, 13).status, FrameStatus::kRunt);
  EXPECT_EQ(Parse(f, 0).status, FrameStatus::kRunt);
  EXPECT_EQ(Parse(f, 14).status, FrameStatus::kOk);
  const auto t = Frame({0x8100, 0x0800});
  EXPECT_EQ(Parse(t, 17).status, FrameStatus::kRunt) << "the announced tag is cut off";
  EXPECT_EQ(Parse(t, 18).status, FrameStatus::kOk);
}

TEST(EthernetFrameTest, PortStrippedTagCountsAsTheOuterTag) {
  const auto f = Frame({0x0800});
  FrameInfo i = ParseFrame({f.data(), kParseBytes}, 60, true, (3 << 13) | 1001);
  EXPECT_EQ(i.status, FrameStatus::kOk);
  EXPECT_TRUE(i.tagged);
  EXPECT_EQ(i.vlan_id, 1001);
  const auto inner = Frame({0x8100, 0x0800});
  i = ParseFrame({inner.data(), kParseBytes}, 64, true, 1001);
  EXPECT_EQ(i.status, FrameStatus::kDoubleVlan) << "a tag left after the port stripped one";
}

TEST(EthernetFrameTest, AddressClasses) {
  EXPECT_TRUE(IsMulticast(*MacFromString("ff:ff:ff:ff:ff:ff")));
  EXPECT_TRUE(IsBroadcast(*MacFromString("ff:ff:ff:ff:ff:ff")));
  EXPECT_TRUE(IsMulticast(*MacFromString("01:00:5e:00:00:01")));
  EXPECT_TRUE(IsMulticast(*MacFromString("33:33:00:00:00:01")));
  EXPECT_FALSE(IsMulticast(*MacFromString("52:54:00:00:00:14")));
  EXPECT_FALSE(IsValidSource(0));
  EXPECT_FALSE(IsValidSource(*MacFromString("01:00:5e:00:00:01")));
  EXPECT_TRUE(IsValidSource(*MacFromString("52:54:00:00:00:14")));
}

TEST(EthernetFrameTest, OversizeIgnoresTheTagAndSegmentationOffload) {
  FrameInfo f;
  f.length = 1514;
  EXPECT_FALSE(IsOversize(f, 1514, false));
  f.length = 1515;
  EXPECT_TRUE(IsOversize(f, 1514, false));
  EXPECT_FALSE(IsOversize(f, 1514, true));
  f.length = 1518;
  f.tagged = true;
  EXPECT_FALSE(IsOversize(f, 1514, false));
  f.length = 1519;
  EXPECT_TRUE(IsOversize(f, 1514, false));
}

}  // namespace
}  // namespace vswitch
