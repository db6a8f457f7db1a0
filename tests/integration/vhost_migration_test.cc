// Live migration of a guest between two vswitch devices. QEMU migrates guest RAM by
// tracking what its vCPUs dirty; what vswitch writes into guest memory (used rings, RX
// buffers) only reaches the destination through the dirty log that vswitch keeps
// (VHOST_USER_PROTOCOL_F_LOG_SHMFD, SET_LOG_BASE, VHOST_F_LOG_ALL). QEMU refuses to
// migrate a vhost-user device without that log. After the move the guest's rings must be
// consistent: frames toward it are counted exactly, its own frames come out of the new
// device.
#include <gtest/gtest.h>
#include <signal.h>


#include "guest_console.h"
#include "test_group.h"
#include "virtio_user.h"

namespace vswitch::test {
namespace {

constexpr const char* kGuestMac = "52:54:00:00:00:14";

long long LastStat(const std::string& console, const std::string& key) {
  return ConsoleValue(console, "VSW-STATS", key);
}

TEST(VhostMigrationTest, GuestMovesBetweenDevicesWithItsRingsIntact) {
  TestGroup group;
  ASSERT_EQ(group.Vswitch({"up"}).exit_code, 0) << group.Log("vhost");
  ASSERT_EQ(group.Vswitch({"stop", "switching"}).exit_code, 0);
  const std::string guest = SourceDir() + "/tests/peers/guest/";
  const std::string append = "vsw.ip=10.0.0.2/24 vsw.bgping=10.0.0.1 vsw.bgping_interval=0.3 vsw.loop=1 vsw.period=1";
  const std::string src_console = group.dir() / "src.console", dst_console = group.dir() / "dst.console";
  Process source({guest + "run-guest.sh", "--socket", group.socket(0), "--mac", kGuestMac, "--console",
                  src_console, "--qmp", group.dir() / "src.qmp", "--timeout", "300", "--append", append},
                 group.dir() / "src.log");
  ASSERT_TRUE(WaitFor([&] { return ReadFile(src_console).find("VSW-READY eth0 up") != std::string::npos; },
                      std::chrono::seconds(90)))
      << ReadFile(src_console) << source.Log();
  const std::string port = std::to_string(40000 + getpid() % 20000);
  Process destination({guest + "run-guest.sh", "--socket", group.socket(1), "--mac", kGuestMac, "--console",
                       dst_console, "--qmp", group.dir() / "dst.qmp", "--timeout", "300", "--append", append,
                       "--", "-incoming", "tcp:127.0.0.1:" + port},
                      group.dir() / "dst.log");
  // The destination listens once it has set up its devices (and met vswitch on device 1).
  ASSERT_TRUE(WaitFor([&] {
    return RunCommand({"/usr/bin/python3", guest + "qmp.py", group.dir() / "dst.qmp", "execute", "query-status"},
                      std::chrono::seconds(5)).output.find("inmigrate") != std::string::npos;
  }, std::chrono::seconds(60))) << destination.Log();
  // Traffic toward the guest while it migrates: vswitch writes RX buffers and used
  // entries that only the dirty log carries over.
  Process injector({BinaryDir() + "/tests/ring_probe/vswitch-ring-probe", "--file-prefix", group.prefix(),
                    "--device", "0", "--inject", "400", "--size", "200", "--dst", kGuestMac,
                    "--timeout-ms", "20000"},
                   group.dir() / "inject.log");
  const CommandResult migrate = RunCommand(
      {"/usr/bin/python3", guest + "qmp.py", group.dir() / "src.qmp", "migrate", "tcp:127.0.0.1:" + port, "120"},
      std::chrono::seconds(150));
  ASSERT_EQ(migrate.exit_code, 0) << migrate.output << source.Log() << destination.Log() << group.Log("vhost");
  EXPECT_NE(migrate.output.find("\"completed\""), std::string::npos) << migrate.output;
  (void)injector.Wait(std::chrono::seconds(30));
  EXPECT_NE(group.Log("vhost").find("dirty log"), std::string::npos)
      << "vswitch should report the dirty log it was given:\n" << group.Log("vhost");

  // The destination now runs the guest on device 1.
  ASSERT_TRUE(WaitFor([&] { return group.Status(".devices[1].ready") == "true"; }, std::chrono::seconds(30)))
      << group.Log("vhost") << destination.Log();
  (void)RingProbe(group.prefix(), {"--device", "1", "--dump", "100000", "--timeout-ms", "300"});
  const CommandResult arp = RingProbe(group.prefix(), {"--device", "1", "--dump", "2", "--timeout-ms", "30000"});
  ASSERT_EQ(arp.exit_code, 0) << arp.output << ReadFile(dst_console);
  for (const auto& f : ProbeFrames(arp.output)) EXPECT_EQ(f.substr(0, 28), "ffffffffffff5254000000140806") << f;

  // Exactly N frames toward the migrated guest are counted by its driver.
  ASSERT_TRUE(WaitFor([&] { return LastStat(ReadFile(dst_console), "rx_packets") >= 0; }, std::chrono::seconds(20)))
      << ReadFile(dst_console);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long long before = LastStat(ReadFile(dst_console), "rx_packets");
  const CommandResult inject = RingProbe(group.prefix(), {"--device", "1", "--inject", "50", "--size", "150",
                                                          "--dst", kGuestMac});
  ASSERT_EQ(inject.exit_code, 0) << inject.output;
  EXPECT_TRUE(WaitFor([&] { return LastStat(ReadFile(dst_console), "rx_packets") == before + 50; },
                      std::chrono::seconds(20)))
      << "before " << before << "\n" << ReadFile(dst_console);
  EXPECT_EQ(ReadFile(dst_console).find("VSW-BOOT"), std::string::npos) << "the guest was not rebooted";
  EXPECT_EQ(group.RoleState("vhost"), "up");
}

}  // namespace
}  // namespace vswitch::test
