// vswitch-vhost against a real Linux guest: the Debian cloud kernel's virtio_net driver
// under QEMU (TCG), through the guest kit in tests/peers/guest. Frames the guest sends
// arrive on the device's from_vm ring; frames put on its to_vm ring show in the guest's
// own rx counters.
#include <gtest/gtest.h>
#include <signal.h>


#include "guest_console.h"
#include "test_group.h"
#include "virtio_user.h"

namespace vswitch::test {
namespace {

constexpr const char* kGuestMac = "52:54:00:00:00:14";

TEST(VhostGuestTest, LinuxGuestTrafficBothWays) {
  TestGroup group;
  ASSERT_EQ(group.Vswitch({"up"}).exit_code, 0) << group.Log("vhost");
  ASSERT_EQ(group.Vswitch({"stop", "switching"}).exit_code, 0);

  const std::string console = group.dir() / "guest.console";
  Process guest({SourceDir() + "/tests/peers/guest/run-guest.sh", "--socket", group.socket(0),
                 "--mac", kGuestMac, "--console", console, "--timeout", "150", "--append",
                 "vsw.ip=10.0.0.2/24 vsw.arping=10.0.0.1 vsw.arping_count=3 vsw.wait=12 vsw.period=1"},
                group.dir() / "qemu.log");
  ASSERT_TRUE(WaitFor([&] { return ReadFile(console).find("VSW-READY eth0 up") != std::string::npos; },
                      std::chrono::seconds(90)))
      << ReadFile(console) << guest.Log() << group.Log("vhost");
  // status.json lags the device by up to the primary's refresh period (see below).
  EXPECT_TRUE(WaitFor([&] { return group.Status(".devices[0].ready") == "true"; }, std::chrono::seconds(10)))
      << group.Log("vhost");

  // The guest's ARP requests (it has nobody to ask) come out on from_vm.
  const CommandResult dump = RunCommand({BinaryDir() + "/tests/ring_probe/vswitch-ring-probe",
                                         "--file-prefix", group.prefix(), "--device", "0", "--dump", "3",
                                         "--timeout-ms", "30000"},
                                        std::chrono::seconds(40));
  ASSERT_EQ(dump.exit_code, 0) << dump.output << ReadFile(console);
  for (const auto& f : ProbeFrames(dump.output)) {
    EXPECT_EQ(f.substr(0, 24), "ffffffffffff525400000014") << f;  // broadcast, from the guest
    EXPECT_EQ(f.substr(24, 4), "0806") << f;                      // ARP
    EXPECT_NE(f.find("0a000002"), std::string::npos) << f;         // sender 10.0.0.2
  }

  // 25 frames towards the guest: its driver counts them.
  const CommandResult inject = RunCommand({BinaryDir() + "/tests/ring_probe/vswitch-ring-probe",
                                           "--file-prefix", group.prefix(), "--device", "0", "--inject",
                                           "25", "--size", "120", "--dst", kGuestMac},
                                          std::chrono::seconds(30));
  ASSERT_EQ(inject.exit_code, 0) << inject.output;
  ASSERT_TRUE(WaitFor([&] { return ReadFile(console).find("VSW-DONE") != std::string::npos; },
                      std::chrono::seconds(90)))
      << ReadFile(console);
  const std::string text = ReadFile(console);
  EXPECT_EQ(ConsoleValue(text, "VSW-STATS", "rx_packets"), 25) << text;
  EXPECT_EQ(ConsoleValue(text, "VSW-STATS", "rx_bytes"), 25 * 120) << text;
  EXPECT_GE(ConsoleValue(text, "VSW-STATS", "tx_packets"), 3) << text;
  // The status file is a snapshot rewritten every 250 ms.
  EXPECT_TRUE(WaitFor([&] { return group.Status(".devices[0].rx_packets") == "25"; }, std::chrono::seconds(5)))
      << group.Status(".devices[0].rx_packets");
  EXPECT_GE(std::stoll(group.Status(".devices[0].tx_packets")), 3);
  EXPECT_TRUE(guest.Wait(std::chrono::seconds(30)).has_value()) << "the guest powers off by itself";
}

}  // namespace
}  // namespace vswitch::test

namespace vswitch::test {
namespace {

// Restarting vswitch-vhost must not need a guest reboot: QEMU's client chardev reconnects
// (reconnect=1) and the guest's driver carries on with the same memory and rings.
TEST(VhostGuestTest, VhostRestartWithoutGuestReboot) {
  TestGroup group;
  ASSERT_EQ(group.Vswitch({"up"}).exit_code, 0) << group.Log("vhost");
  ASSERT_EQ(group.Vswitch({"stop", "switching"}).exit_code, 0);
  const std::string console = group.dir() / "guest.console";
  Process guest({SourceDir() + "/tests/peers/guest/run-guest.sh", "--socket", group.socket(0),
                 "--mac", kGuestMac, "--reconnect", "1", "--console", console, "--timeout", "200",
                 "--append", "vsw.ip=10.0.0.2/24 vsw.bgping=10.0.0.1 vsw.bgping_interval=0.2 vsw.loop=1"},
                group.dir() / "qemu.log");
  ASSERT_TRUE(WaitFor([&] { return ReadFile(console).find("VSW-READY eth0 up") != std::string::npos; },
                      std::chrono::seconds(90)))
      << ReadFile(console) << guest.Log();
  const std::string probe = BinaryDir() + "/tests/ring_probe/vswitch-ring-probe";
  const auto dump_arp = [&] {
    const CommandResult r = RunCommand({probe, "--file-prefix", group.prefix(), "--device", "0", "--dump", "2",
                                        "--timeout-ms", "30000"},
                                       std::chrono::seconds(40));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const auto frames = ProbeFrames(r.output);
    for (const auto& f : frames) EXPECT_EQ(f.substr(0, 28), "ffffffffffff5254000000140806") << f;
    return frames.size();
  };
  EXPECT_EQ(dump_arp(), 2u);
  const pid_t old_vhost = group.RolePid("vhost");
  const CommandResult restart = group.Vswitch({"restart", "vhost"});
  ASSERT_EQ(restart.exit_code, 0) << restart.output;
  ASSERT_NE(group.RolePid("vhost"), old_vhost);
  ASSERT_TRUE(WaitFor([&] { return group.Status(".devices[0].ready") == "true"; }, std::chrono::seconds(30)))
      << group.Log("vhost") << ReadFile(console);
  // Drain what queued up around the restart, then the guest's traffic must flow again.
  (void)RunCommand({probe, "--file-prefix", group.prefix(), "--device", "0", "--dump", "1000000",
                    "--timeout-ms", "500"});
  EXPECT_EQ(dump_arp(), 2u) << group.Log("vhost");
  EXPECT_TRUE(guest.Running()) << "the guest kept running: no reboot";
  EXPECT_EQ(ReadFile(console).find("VSW-BOOT", ReadFile(console).find("VSW-BOOT") + 1), std::string::npos)
      << "booted once";
}

}  // namespace
}  // namespace vswitch::test

namespace vswitch::test {
namespace {

// vswitch in client mode, QEMU's chardev in server mode: when the guest's QEMU goes away
// and a new one comes up on the same socket, vswitch reconnects by itself.
TEST(VhostGuestTest, ClientModeFollowsTheFrontendAcrossRestarts) {
  TestGroup group(std::map<std::string, std::string>{{"vhost.client", "true"}});
  ASSERT_EQ(group.Vswitch({"up"}).exit_code, 0) << group.Log("vhost");
  ASSERT_EQ(group.Vswitch({"stop", "switching"}).exit_code, 0);
  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE("QEMU run " + std::to_string(run));
    const std::string console = group.dir() / ("guest" + std::to_string(run) + ".console");
    Process guest({SourceDir() + "/tests/peers/guest/run-guest.sh", "--socket", group.socket(0), "--server",
                   "--mac", kGuestMac, "--console", console, "--timeout", "200", "--append",
                   "vsw.ip=10.0.0.2/24 vsw.bgping=10.0.0.1 vsw.bgping_interval=0.2 vsw.loop=1"},
                  group.dir() / ("qemu" + std::to_string(run) + ".log"));
    ASSERT_TRUE(WaitFor([&] { return ReadFile(console).find("VSW-READY eth0 up") != std::string::npos; },
                        std::chrono::seconds(90)))
        << ReadFile(console) << guest.Log() << group.Log("vhost");
    // The guest's link comes up before QEMU has sent the last vring message, and the
    // primary rewrites status.json on its own period: wait for the device, do not race it.
    EXPECT_TRUE(WaitFor([&] { return group.Status(".devices[0].ready") == "true"; }, std::chrono::seconds(10)))
        << group.Log("vhost");
    (void)RingProbe(group.prefix(), {"--device", "0", "--dump", "100000", "--timeout-ms", "300"});
    const CommandResult r = RingProbe(group.prefix(), {"--device", "0", "--dump", "2", "--timeout-ms", "30000"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (const auto& f : ProbeFrames(r.output)) EXPECT_EQ(f.substr(0, 28), "ffffffffffff5254000000140806") << f;
    guest.Stop(SIGKILL);  // the frontend dies without a word
    EXPECT_TRUE(WaitFor([&] { return group.Status(".devices[0].ready") == "false"; }, std::chrono::seconds(10)))
        << group.Log("vhost");
  }
  EXPECT_EQ(group.RoleState("vhost"), "up");
  EXPECT_EQ(group.Status(".devices[0].client"), "true");
}

}  // namespace
}  // namespace vswitch::test
