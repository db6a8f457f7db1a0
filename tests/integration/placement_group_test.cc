// Where the group's roles run when their CPUs are `auto`, as `deploy/vswitch status`
// reports it, and the per-second rates `status --rates` computes, with a testpmd guest
// sending through the group.
#include <gtest/gtest.h>

#include "cpu_placement.h"
#include "test_group.h"
#include "virtio_user.h"

namespace vswitch::test {
namespace {

const std::map<std::string, std::string> kAllAuto = {{"eal.primary-cpu", "auto"},
                                                     {"eal.vhost-cpu", "auto"},
                                                     {"eal.switching-cpu", "auto"},
                                                     {"eal.monitor-cpu", "auto"}};

TEST(PlacementGroupTest, AutoCpusFollowTheAffinityMaskAndStatusShowsThem) {
  TestGroup group(kAllAuto);
  const CommandResult up = group.Vswitch({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.output << group.Log("primary");
  // deploy/vswitch starts every role with this process's affinity, so each one placed
  // itself from the same mask; DPDK pins its main thread to exactly that CPU.
  const auto placed = PlaceRoles(AllowedCpus());
  for (Role role : kAllRoles) {
    const std::string name(RoleName(role));
    EXPECT_EQ(group.Status(".roles." + name + ".cpus"),
              std::to_string(placed[static_cast<size_t>(role)]))
        << name;
  }
  if (AllowedCpus().size() >= 2) {
    // The pollers leave the first CPU to the guests.
    EXPECT_NE(placed[static_cast<size_t>(Role::kVhost)], AllowedCpus().front());
    EXPECT_NE(placed[static_cast<size_t>(Role::kSwitching)], AllowedCpus().front());
  }
  const CommandResult human = group.Vswitch({"status"});
  ASSERT_EQ(human.exit_code, 0) << human.output;
  EXPECT_NE(human.output.find("CPUS"), std::string::npos) << human.output;
}

TEST(PlacementGroupTest, RatesArePerSecondDeltasPerDeviceAndPort) {
  TestGroup group(kAllAuto);
  ASSERT_EQ(group.Vswitch({"up"}).exit_code, 0) << group.Log("primary");

  // Idle: every rate is there and 0 or more (the tap port may see the kernel's own frames).
  const std::string idle = group.Status(
      "[.rates.interval_s > 0, (.rates.devices | length), "
      "([.rates.devices[], .rates.port | .[] | select(type == \"number\" and . >= 0)] | length)]"
      " | map(tostring) | join(\" \")",
      {"--rates", "1"});
  EXPECT_EQ(idle, "true 2 14") << "2 devices x 5 fields (id included) + 4 port rates";

  // A guest sending 64-byte frames from vm0: its device's TX rate (from the guest) is
  // positive, and the bits are the packets' bytes times 8 (at least 60 bytes each).
  VirtioUser guest(group.dir(), group.socket(0), "txonly", "52:54:00:00:00:31");
  ASSERT_TRUE(WaitFor([&] { return group.Status(".devices[0].tx_packets > 0") == "true"; },
                      std::chrono::seconds(30)))
      << guest.process().Log();
  const std::string busy = group.Status(
      "[.rates.devices[0].tx_pps > 0, .rates.devices[0].tx_bps >= .rates.devices[0].tx_pps * 480,"
      " .rates.devices[1].tx_pps == 0] | map(tostring) | join(\" \")",
      {"--rates", "1"});
  EXPECT_EQ(busy, "true true true") << group.Status(".rates", {"--rates", "1"});

  // The human form prints the rates next to the totals, the port included.
  const CommandResult human = group.Vswitch({"status", "--rates", "1"});
  ASSERT_EQ(human.exit_code, 0) << human.output;
  EXPECT_NE(human.output.find("TX pkt/s"), std::string::npos) << human.output;
  EXPECT_NE(human.output.find("RX bit/s"), std::string::npos) << human.output;
  EXPECT_NE(human.output.find("\nport "), std::string::npos) << human.output;
}

}  // namespace
}  // namespace vswitch::test
