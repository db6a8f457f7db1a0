#include "hugepage_check.h"

#include <gtest/gtest.h>

#include "mac_table.h"

namespace vswitch {
namespace {

constexpr const char* kMounted = "nodev /dev/hugepages hugetlbfs rw,relatime 0 0\n";

TEST(HugepageCheckTest, SaysWhatToRun) {
  EXPECT_NE(CheckHugepages("HugePages_Total: 1024\nHugePages_Free: 1024\n", "proc /proc proc rw 0 0\n")
                .find("deploy/vswitch hugepages"),
            std::string::npos);
  EXPECT_NE(CheckHugepages("HugePages_Total:       0\nHugePages_Free:        0\n", kMounted)
                .find("no hugepages are reserved"),
            std::string::npos);
  EXPECT_NE(CheckHugepages("HugePages_Total:    1024\nHugePages_Free:        0\n", kMounted)
                .find("in use"),
            std::string::npos);
  EXPECT_EQ(CheckHugepages("HugePages_Total:    1024\nHugePages_Free:      900\n", kMounted), "");
}

TEST(MacTextTest, RoundTripsInWireOrder) {
  const auto mac = MacFromString("52:54:00:12:34:56");
  ASSERT_TRUE(mac);
  uint8_t b[6];
  MacToBytes(*mac, b);
  EXPECT_EQ(b[0], 0x52);
  EXPECT_EQ(b[5], 0x56);
  EXPECT_EQ(MacToString(*mac), "52:54:00:12:34:56");
  EXPECT_EQ(MacFromBytes(b), *mac);
  EXPECT_FALSE(MacFromString("52:54:00:12:34"));
  EXPECT_FALSE(MacFromString("52:54:00:12:34:5g"));
  EXPECT_FALSE(MacFromString("52:54:00:12:34:56:"));
}

}  // namespace
}  // namespace vswitch
