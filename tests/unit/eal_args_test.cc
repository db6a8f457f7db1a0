#include "eal_args.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace vswitch {
namespace {

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(EalArgsTest, PciAddressesAndVdevs) {
  EXPECT_TRUE(IsPciAddress("0000:01:00.0"));
  EXPECT_TRUE(IsPciAddress("01:00.1"));
  EXPECT_FALSE(IsPciAddress("net_tap0,iface=vsw0"));
  EXPECT_FALSE(IsPciAddress("0000:01:00.8"));
  EXPECT_EQ(PortDeviceName("net_tap0,iface=vsw0"), "net_tap0");
  EXPECT_EQ(PortDeviceName("net_af_packet0"), "net_af_packet0");
  EXPECT_EQ(PortDeviceName("01:00.0"), "0000:01:00.0");
}

TEST(EalArgsTest, PrimaryCreatesTheVdevSecondariesDoNot) {
  Config c;
  c.eal.file_prefix = "grp";
  c.eal.memory_mb = 512;
  c.role = Role::kPrimary;
  const auto p = BuildEalArgs(c, "net_tap0,iface=x");
  EXPECT_TRUE(Has(p, "--proc-type=primary"));
  EXPECT_TRUE(Has(p, "--file-prefix=grp"));
  EXPECT_TRUE(Has(p, "--vdev=net_tap0,iface=x"));
  EXPECT_TRUE(Has(p, "--no-pci"));
  EXPECT_TRUE(Has(p, "512"));
  c.role = Role::kSwitching;
  const auto s = BuildEalArgs(c, "net_tap0,iface=x");
  EXPECT_TRUE(Has(s, "--proc-type=secondary"));
  EXPECT_FALSE(Has(s, "--vdev=net_tap0,iface=x"));
  EXPECT_FALSE(Has(s, "512"));
}

TEST(EalArgsTest, EveryRoleHasItsOwnLcoreOnItsCpu) {
  Config c;
  c.eal.cpu = {0, 1, 1, 0};
  std::vector<std::string> lcores;
  for (Role r : kAllRoles) {
    c.role = r;
    for (const auto& a : BuildEalArgs(c, "net_null0")) {
      if (a.rfind("--lcores=", 0) == 0) lcores.push_back(a);
    }
  }
  EXPECT_EQ(lcores, (std::vector<std::string>{"--lcores=0@0", "--lcores=1@1", "--lcores=2@1",
                                              "--lcores=3@0"}));
}

TEST(EalArgsTest, PciPortIsAllowListedEverywhere) {
  Config c;
  c.role = Role::kVhost;
  const auto s = BuildEalArgs(c, "0000:03:00.0");
  EXPECT_TRUE(Has(s, "-a"));
  EXPECT_TRUE(Has(s, "0000:03:00.0"));
  EXPECT_FALSE(Has(s, "--no-pci"));
}

}  // namespace
}  // namespace vswitch
