// The pcap pattern helper the byte-for-byte group tests rely on (tests/support/
// pattern_pcap.h): what it writes reads back, and its check finds a changed byte, a cut
// frame, a duplicate and a missing frame, so a test built on it can fail.
#include <gtest/gtest.h>

#include <fstream>

#include "pattern_pcap.h"
#include "test_env.h"

namespace vswitch::test {
namespace {

constexpr const char* kA = "02:00:00:00:00:0a";
constexpr const char* kB = "02:00:00:00:00:0b";

TEST(PatternPcapTest, FrameBytesFollowThePattern) {
  const std::string f = PatternFrameBytes(kB, kA, 0x01020304, 64);
  ASSERT_EQ(f.size(), 64u);
  EXPECT_EQ(f.substr(0, 12), std::string("\x02\x00\x00\x00\x00\x0b\x02\x00\x00\x00\x00\x0a", 12));
  EXPECT_EQ(f.substr(12, 6), std::string("\x88\xb5\x01\x02\x03\x04", 6));
  // Byte k = (index * 7 + k) & 0xff from k = 18, as jumbo_group_test.cc's scapy frames.
  EXPECT_EQ(static_cast<unsigned char>(f[18]), (0x01020304u * 7 + 18) & 0xff);
  EXPECT_EQ(static_cast<unsigned char>(f[63]), (0x01020304u * 7 + 63) & 0xff);
}

TEST(PatternPcapTest, WrittenFramesReadBackAndCheckGood) {
  TempDir dir;
  const std::vector<PatternFrame> frames = {{0, 60}, {1, 1514}, {2, 9000}, {7, 64}};
  ASSERT_TRUE(WritePatternPcap(dir / "f.pcap", kB, kA, frames));
  bool ok = false;
  const auto read = ReadPcapFrames(dir / "f.pcap", &ok);
  ASSERT_TRUE(ok);
  ASSERT_EQ(read.size(), 4u);
  EXPECT_EQ(read[2], PatternFrameBytes(kB, kA, 2, 9000));
  PatternCheck c(kB, kA);
  EXPECT_EQ(c.Add(read), 4);
  EXPECT_EQ(c.good(), 4);
  EXPECT_EQ(c.bad(), 0);
  EXPECT_EQ(c.duplicates(), 0);
  EXPECT_TRUE(c.Missing(frames).empty());
  EXPECT_EQ(c.Unexpected(frames), 0);
  EXPECT_EQ(c.good_by_size().at(9000), 1);
}

TEST(PatternPcapTest, CheckFindsChangedCutDuplicatedMissingAndForeignFrames) {
  std::vector<std::string> got = {PatternFrameBytes(kB, kA, 0, 100), PatternFrameBytes(kB, kA, 1, 100),
                                  PatternFrameBytes(kB, kA, 2, 100), PatternFrameBytes(kB, kA, 0, 100),
                                  PatternFrameBytes(kA, kB, 5, 100)};
  got[1][50] ^= 1;               // one bit of frame 1
  got[2].resize(99);             // frame 2 cut by a byte: still the pattern, another size
  PatternCheck c(kB, kA);
  c.Add(got);
  EXPECT_EQ(c.bad(), 1) << c.Summary();
  EXPECT_EQ(c.duplicates(), 1) << c.Summary();
  EXPECT_EQ(c.foreign(), 1) << c.Summary();
  const std::vector<PatternFrame> sent = {{0, 100}, {1, 100}, {2, 100}, {3, 100}};
  EXPECT_EQ(c.Missing(sent), (std::vector<uint32_t>{1, 3}));
  EXPECT_EQ(c.Unexpected(sent), 1) << "frame 2 arrived at 99 bytes";
  // A frame to another destination is not good either.
  PatternCheck other(kA, kA);
  other.Add({PatternFrameBytes(kB, kA, 0, 100)});
  EXPECT_EQ(other.bad(), 1);
}

TEST(PatternPcapTest, ReadsWhatIsCompleteOfAFileBeingWritten) {
  TempDir dir;
  ASSERT_TRUE(WritePatternPcap(dir / "f.pcap", kB, kA, {{0, 200}, {1, 200}}));
  std::string bytes = ReadFile(dir / "f.pcap");
  bytes.resize(bytes.size() - 10);
  std::ofstream(dir / "cut.pcap", std::ios::binary) << bytes;
  bool ok = false;
  EXPECT_EQ(ReadPcapFrames(dir / "cut.pcap", &ok).size(), 1u);
  EXPECT_TRUE(ok);
  EXPECT_TRUE(ReadPcapFrames(dir / "missing.pcap", &ok).empty());
  EXPECT_FALSE(ok);
  WriteFile(dir / "text", "not a pcap file at all, long enough for a header");
  EXPECT_TRUE(ReadPcapFrames(dir / "text", &ok).empty());
  EXPECT_FALSE(ok);
}

}  // namespace
}  // namespace vswitch::test
