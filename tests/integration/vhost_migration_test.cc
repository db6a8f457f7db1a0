// Live migration of a guest between two vswitch devices. QEMU migrates guest RAM by
// tracking what its vCPUs dirty; what vswitch writes into guest memory (used rings, RX
// buffers) only reaches the destination through the dirty log that vswitch keeps
// (VHOST_USER_PROTOCOL_F_LOG_SHMFD, SET_LOG_BASE, VHOST_F_LOG_ALL). QEMU refuses to
// migrate a vhost-user device without that log. After the move the guest's rings must be
// consistent: frames toward it are counted exactly, its own frames come out of the new
// device.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "guest_console.h"
#include "test_group.h"
#include "virtio_user.h"

namespace vswitch::test {
namespace {

constexpr const char* kGuestMac = "52:54:00:00:00:14";

long long LastStat(const std::string& console, const std::string& key) {
  return ConsoleValue(console, "VSW-STATS", key);
}

// `qmp.py SOCKET execute COMMAND [ARGS]`: the command's JSON return, "" on failure.
std::string Qmp(const std::string& qmp, const std::string& command, const std::string& args = "") {
  std::vector<std::string> argv = {"/usr/bin/python3", SourceDir() + "/tests/peers/guest/qmp.py", qmp,
                                    "execute", command};
  if (!args.empty()) argv.push_back(args);
  const CommandResult r = RunCommand(argv, std::chrono::seconds(10));
  return r.exit_code == 0 ? r.output : "";
}

std::string MigrationStatus(const std::string& qmp) {
  const std::string out = Qmp(qmp, "query-migrate");
  for (const char* s : {"setup", "active", "device", "completed", "failed", "cancelled"}) {
    if (out.find("\"status\": \"" + std::string(s) + "\"") != std::string::npos) return s;
  }
  return out;
}

// Frames from the kernel's side of the port's tap, one every `gap_s` seconds, to `dst` on
// VLAN 1000 (device 0's: devices are tagged as in vhost-switch), ethertype 0x88b5 (local
// experimental: the guest's driver counts them, no stack answers).
constexpr const char* kPortSender = R"PY(
import socket, sys, time
iface, dst, n, gap = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
head = (bytes.fromhex(dst.replace(':', '')) + bytes.fromhex('020000000099') +
        b'\x81\x00' + (1000).to_bytes(2, 'big') + b'\x88\xb5')
for i in range(n):
    s.send(head + i.to_bytes(4, 'big') + bytes(56))
    time.sleep(gap)
print('SENT', n, flush=True)
)PY";

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

// The whole group (switching on): while QEMU copies the guest's memory, the guest keeps
// its device and its MAC. QEMU sets VHOST_F_LOG_ALL when migration starts; if that
// restarted the device, vswitch-switching would take it for a reconnect, unregister the
// guest's MAC and drop the port's frames to it as unknown destinations until the guest
// sent again.
TEST(VhostMigrationTest, PortTrafficReachesTheGuestWhileItsMemoryIsCopied) {
  TestGroup group;
  ASSERT_EQ(group.Vswitch({"up"}).exit_code, 0) << group.Log("vhost");
  ASSERT_TRUE(group.TapUp());
  const std::string guest = SourceDir() + "/tests/peers/guest/";
  const std::string append = "vsw.ip=10.0.0.2/24 vsw.bgping=10.0.0.1 vsw.bgping_interval=0.3 vsw.loop=1 vsw.period=1";
  const std::string src_console = group.dir() / "src.console", dst_console = group.dir() / "dst.console";
  const std::string src_qmp = group.dir() / "src.qmp", dst_qmp = group.dir() / "dst.qmp";
  Process source({guest + "run-guest.sh", "--socket", group.socket(0), "--mac", kGuestMac, "--console",
                  src_console, "--qmp", src_qmp, "--timeout", "300", "--append", append},
                 group.dir() / "src.log");
  ASSERT_TRUE(WaitFor([&] { return ReadFile(src_console).find("VSW-READY eth0 up") != std::string::npos; },
                      std::chrono::seconds(90)))
      << ReadFile(src_console) << source.Log();
  // Switching learned the guest (its background pings): the port's frames have a route.
  ASSERT_TRUE(WaitFor([&] { return group.Status(".devices[0].mac") == kGuestMac; }, std::chrono::seconds(30)))
      << group.Log("switching");
  const std::string port = std::to_string(40000 + getpid() % 20000);
  Process destination({guest + "run-guest.sh", "--socket", group.socket(1), "--mac", kGuestMac, "--console",
                       dst_console, "--qmp", dst_qmp, "--timeout", "300", "--append", append,
                       "--", "-incoming", "tcp:127.0.0.1:" + port},
                      group.dir() / "dst.log");
  ASSERT_TRUE(WaitFor([&] { return Qmp(dst_qmp, "query-status").find("inmigrate") != std::string::npos; },
                      std::chrono::seconds(60))) << destination.Log();

  const std::map<std::string, std::string> device0 = {{"device", "0"}};
  const std::map<std::string, std::string> unknown = {{"reason", "unknown_destination"}};
  const double connections_before = group.Metric("vswitch_device_connections_total", device0);
  const double unknown_before = group.Metric("vswitch_port_drops_total", unknown);
  ASSERT_EQ(connections_before, 1.0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // a fresh VSW-STATS line
  const long long rx_before = LastStat(ReadFile(src_console), "rx_packets");
  ASSERT_GE(rx_before, 0) << ReadFile(src_console);

  // A slow copy (4 MB/s) keeps the pre-copy phase going while the port sends.
  ASSERT_NE(Qmp(src_qmp, "migrate-set-parameters", R"({"max-bandwidth": 4194304})"), "");
  ASSERT_NE(Qmp(src_qmp, "migrate", R"({"uri": "tcp:127.0.0.1:)" + port + R"("})"), "");
  ASSERT_TRUE(WaitFor([&] { return MigrationStatus(src_qmp) == "active"; }, std::chrono::seconds(20)))
      << MigrationStatus(src_qmp);
  constexpr int kFrames = 300;
  const CommandResult sent = RunCommand({"/usr/bin/python3", "-c", kPortSender, group.iface(), kGuestMac,
                                         std::to_string(kFrames), "0.01"},
                                        std::chrono::seconds(30));
  ASSERT_NE(sent.output.find("SENT 300"), std::string::npos) << sent.output;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the last frames cross the switch
  ASSERT_EQ(MigrationStatus(src_qmp), "active")
      << "the copy ended before the port stopped sending: the test did not test the copy phase";
  EXPECT_EQ(group.Metric("vswitch_port_drops_total", unknown), unknown_before)
      << "frames from the port to the guest were dropped during the copy\n" << group.Log("switching");
  EXPECT_EQ(group.Metric("vswitch_device_connections_total", device0), connections_before)
      << "the device restarted when migration started\n" << group.Log("vhost");
  EXPECT_NE(group.Log("vhost").find("dirty logging started"), std::string::npos) << group.Log("vhost");

  // Let the copy finish; the guest, now behind device 1, counted every frame.
  ASSERT_NE(Qmp(src_qmp, "migrate-set-parameters", R"({"max-bandwidth": 1073741824})"), "");
  ASSERT_TRUE(WaitFor([&] { return MigrationStatus(src_qmp) == "completed"; }, std::chrono::seconds(120)))
      << MigrationStatus(src_qmp) << source.Log() << destination.Log();
  ASSERT_TRUE(WaitFor([&] { return LastStat(ReadFile(dst_console), "rx_packets") >= rx_before + kFrames; },
                      std::chrono::seconds(30)))
      << "before " << rx_before << "\n" << ReadFile(dst_console);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(LastStat(ReadFile(dst_console), "rx_packets"), rx_before + kFrames) << ReadFile(dst_console);
  EXPECT_EQ(ReadFile(dst_console).find("VSW-BOOT"), std::string::npos) << "the guest was not rebooted";
}

}  // namespace
}  // namespace vswitch::test
