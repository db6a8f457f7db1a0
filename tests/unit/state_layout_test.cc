#include "state_layout.h"

#include <gtest/gtest.h>

#include <memory>

namespace vswitch {
namespace {

std::unique_ptr<SharedState> FreshState() {
  auto s = std::make_unique<SharedState>();
  s->magic = kStateMagic;
  s->layout_version = kLayoutVersion;
  s->layout_size = sizeof(SharedState);
  return s;
}

TEST(StateLayoutTest, MatchingLayoutAttaches) { EXPECT_EQ(CheckLayout(*FreshState()), ""); }

TEST(StateLayoutTest, OtherVersionIsRefusedWithWhatToDo) {
  auto s = FreshState();
  s->layout_version = kLayoutVersion + 1;
  const std::string err = CheckLayout(*s);
  EXPECT_NE(err.find("layout version mismatch"), std::string::npos) << err;
  EXPECT_NE(err.find("deploy/vswitch down"), std::string::npos) << err;
  s = FreshState();
  s->layout_size = sizeof(SharedState) - kCacheLine;
  EXPECT_NE(CheckLayout(*s).find("mismatch"), std::string::npos);
  s = FreshState();
  s->magic = 0;
  EXPECT_NE(CheckLayout(*s).find("magic"), std::string::npos);
}

TEST(StateLayoutTest, EveryWriterOwnsWholeCacheLines) {
  // Blocks written by different processes never share a cache line.
  EXPECT_EQ(offsetof(SharedState, roles) % kCacheLine, 0u);
  EXPECT_EQ(offsetof(SharedState, devices) % kCacheLine, 0u);
  EXPECT_EQ(offsetof(SharedState, l2) % kCacheLine, 0u);
  EXPECT_EQ(offsetof(SharedState, port) % kCacheLine, 0u);
  EXPECT_EQ(offsetof(DeviceCounters, vhost_tx) % kCacheLine, 0u);
  EXPECT_EQ(offsetof(DeviceCounters, switch_rx) % kCacheLine, 0u);
  EXPECT_EQ(offsetof(DeviceCounters, vhost_zero_copy) % kCacheLine, 0u);
  // Zero-copy: vhost writes the mappings table, switching the acknowledgement.
  EXPECT_EQ(offsetof(SharedState, mappings) % kCacheLine, 0u);
  EXPECT_EQ(offsetof(SharedState, mapping_ack) % kCacheLine, 0u);
  EXPECT_GE(offsetof(SharedState, mapping_ack), offsetof(SharedState, mappings) + sizeof(MappingTable));
  EXPECT_EQ(alignof(SharedState), kCacheLine);
}

TEST(StateLayoutTest, EveryZeroCopyCopyReasonHasANameAndHelp) {
  for (const auto& info : kZeroCopyCopyReasons) {
    EXPECT_FALSE(info.name.empty());
    EXPECT_GT(info.help.size(), 20u);
    EXPECT_EQ(info.name.find(' '), std::string_view::npos) << "label value: " << info.name;
  }
}

TEST(StateLayoutTest, BumpAddsForTheSingleWriter) {
  Counter c{5};
  Bump(c);
  Bump(c, 10);
  EXPECT_EQ(c.load(), 16u);
}

TEST(StateLayoutTest, EveryDropReasonHasANameAndHelp) {
  for (const auto& info : kDropReasons) {
    EXPECT_FALSE(info.name.empty());
    EXPECT_GT(info.help.size(), 20u);
    EXPECT_EQ(info.name.find(' '), std::string_view::npos) << "label value: " << info.name;
  }
}

}  // namespace
}  // namespace vswitch
