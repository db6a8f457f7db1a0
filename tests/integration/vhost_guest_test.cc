// vswitch-vhost against a real Linux guest: the Debian cloud kernel's virtio_net driver
// under QEMU (TCG), through the guest kit in tests/peers/guest. Frames the guest sends
// arrive on the device's from_vm ring; frames put on its to_vm ring show in the guest's
// own rx counters.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>


#include "guest_console.h"
#include "process.h"
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

namespace vswitch::test {
namespace {

// Packed virtqueues under a running guest (packed=on; the group offers them with
// vhost.packed 1). QEMU cannot tell a new back-end where a packed ring stood after the old
// one went without answering GET_VRING_BASE: it sends a stale base (docs/architecture.md
// "Resuming a packed ring"), so traffic resumes only if vswitch-vhost's next instance
// takes the position its predecessor recorded. The guest's RX and TX rings both go past
// a lap (wrap counter flipped) before the first restart; after a graceful restart and
// after kill -9 + restart, frames arrive again both ways, exactly as many and as long as
// sent towards the guest, and as the guest built them towards us.
TEST(VhostGuestTest, PackedRingsResumeAcrossVhostRestarts) {
  constexpr const char* kNeighMac = "020000000001";
  constexpr int kBatch = 100;
  constexpr int kFrameBytes = 120;
  TestGroup group(std::map<std::string, std::string>{{"vhost.packed", "1"}});
  ASSERT_EQ(group.Vswitch({"up"}).exit_code, 0) << group.Log("vhost");
  ASSERT_EQ(group.Vswitch({"stop", "switching"}).exit_code, 0);
  const std::string console = group.dir() / "guest.console";
  // Pings every 20 ms to a neighbour with a static ARP entry: a steady stream of ICMP
  // echo requests, enough to take the TX ring (256) round within seconds.
  Process guest({SourceDir() + "/tests/peers/guest/run-guest.sh", "--socket", group.socket(0), "--mac", kGuestMac,
                 "--packed", "--reconnect", "1", "--console", console, "--timeout", "330", "--append",
                 "vsw.ip=10.0.0.2/24 vsw.neigh=10.0.0.1@02:00:00:00:00:01 vsw.bgping=10.0.0.1 "
                 "vsw.bgping_interval=0.02 vsw.loop=1 vsw.period=1"},
                group.dir() / "qemu.log");
  ASSERT_TRUE(WaitFor([&] { return ReadFile(console).find("VSW-READY eth0 up") != std::string::npos; },
                      std::chrono::seconds(90)))
      << ReadFile(console) << guest.Log() << group.Log("vhost");

  // The features of each connection vswitch-vhost logged (" ready, features 0x...").
  const auto connections = [&] {
    std::vector<uint64_t> out;
    const std::string log = group.Log("vhost");
    for (size_t p = log.find(" ready, features 0x"); p != std::string::npos;
         p = log.find(" ready, features 0x", p + 1)) {
      out.push_back(std::stoull(log.substr(p + 19, 16), nullptr, 16));
    }
    return out;
  };
  ASSERT_TRUE(WaitFor([&] { return !connections().empty(); }, std::chrono::seconds(10))) << group.Log("vhost");
  // VIRTIO_F_RING_PACKED (bit 34) negotiated.
  ASSERT_NE(connections().back() & (1ull << 34), 0u) << group.Log("vhost");

  const std::string probe = BinaryDir() + "/tests/ring_probe/vswitch-ring-probe";
  // What the guest counted before our frames (nothing else is sent to it).
  EXPECT_TRUE(WaitFor([&] { return ConsoleValue(ReadFile(console), "VSW-STATS", "rx_packets") >= 0; },
                      std::chrono::seconds(10)));
  const std::string at_start = ReadFile(console);
  const long long rx_base = ConsoleValue(at_start, "VSW-STATS", "rx_packets");
  const long long rx_bytes_base = ConsoleValue(at_start, "VSW-STATS", "rx_bytes");
  ASSERT_GE(rx_base, 0) << at_start;
  long long rx_expected = rx_base;
  // Towards the guest: a batch of frames, all counted by its driver, every byte.
  const auto to_guest = [&](const std::string& when) {
    const CommandResult inject = RunCommand({probe, "--file-prefix", group.prefix(), "--device", "0", "--inject",
                                             std::to_string(kBatch), "--size", std::to_string(kFrameBytes), "--dst",
                                             kGuestMac},
                                            std::chrono::seconds(30));
    ASSERT_EQ(inject.exit_code, 0) << when << "\n" << inject.output;
    rx_expected += kBatch;
    EXPECT_TRUE(WaitFor([&] { return ConsoleValue(ReadFile(console), "VSW-STATS", "rx_packets") >= rx_expected; },
                        std::chrono::seconds(30)))
        << when << ": the guest counted " << ConsoleValue(ReadFile(console), "VSW-STATS", "rx_packets") << " of "
        << rx_expected << "\n" << group.Log("vhost");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // one more stats line: nothing beyond
    const std::string text = ReadFile(console);
    EXPECT_EQ(ConsoleValue(text, "VSW-STATS", "rx_packets"), rx_expected) << when;
    EXPECT_EQ(ConsoleValue(text, "VSW-STATS", "rx_bytes"), rx_bytes_base + (rx_expected - rx_base) * kFrameBytes)
        << when;
  };
  // From the guest: after what queued up is drained, its echo requests arrive, as it built
  // them (to the neighbour, from its MAC, IPv4 ICMP echo 10.0.0.2 -> 10.0.0.1).
  const auto from_guest = [&](const std::string& when) {
    (void)RunCommand({probe, "--file-prefix", group.prefix(), "--device", "0", "--dump", "1000000", "--timeout-ms",
                      "300"});
    const CommandResult r = RunCommand({probe, "--file-prefix", group.prefix(), "--device", "0", "--dump", "20",
                                        "--timeout-ms", "30000"},
                                       std::chrono::seconds(40));
    ASSERT_EQ(r.exit_code, 0) << when << "\n" << r.output << group.Log("vhost");
    const auto frames = ProbeFrames(r.output);
    EXPECT_EQ(frames.size(), 20u) << when << "\n" << r.output;
    for (const auto& f : frames) {
      ASSERT_GE(f.size(), 2u * 42) << f;
      EXPECT_EQ(f.substr(0, 28), std::string(kNeighMac) + "5254000000140800") << when << ": " << f;
      EXPECT_EQ(f.substr(46, 2), "01") << when << ": " << f;              // ICMP
      EXPECT_EQ(f.substr(52, 16), "0a0000020a000001") << when << ": " << f;  // 10.0.0.2 -> 10.0.0.1
      EXPECT_EQ(f.substr(68, 2), "08") << when << ": " << f;              // echo request
    }
  };

  // Both rings a lap on: 3 batches (300 frames) through the 256-entry RX ring, and 300
  // echo requests through the TX ring.
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(to_guest("before any restart, batch " + std::to_string(i)));
  EXPECT_TRUE(WaitFor([&] { return ConsoleValue(ReadFile(console), "VSW-STATS", "tx_packets") >= 300; },
                      std::chrono::seconds(60)))
      << ReadFile(console);
  ASSERT_NO_FATAL_FAILURE(from_guest("before any restart"));

  for (const bool kill9 : {false, true}) {
    const std::string when = kill9 ? "after kill -9 and restart" : "after restart";
    SCOPED_TRACE(when);
    const size_t before = connections().size();
    const pid_t old_vhost = group.RolePid("vhost");
    ASSERT_GT(old_vhost, 0);
    if (kill9) {
      ASSERT_EQ(kill(old_vhost, SIGKILL), 0);
      ASSERT_TRUE(WaitFor([&] { return PidExited(old_vhost); }, std::chrono::seconds(10)));
    }
    const CommandResult restart = group.Vswitch({"restart", "vhost"});
    ASSERT_EQ(restart.exit_code, 0) << restart.output << group.Log("vhost");
    ASSERT_NE(group.RolePid("vhost"), old_vhost);
    // QEMU reconnects within its reconnect period (1 s).
    ASSERT_TRUE(WaitFor([&] { return connections().size() > before; }, std::chrono::seconds(30)))
        << group.Log("vhost") << ReadFile(console);
    EXPECT_NE(connections().back() & (1ull << 34), 0u) << group.Log("vhost");
    ASSERT_NO_FATAL_FAILURE(to_guest(when));
    ASSERT_NO_FATAL_FAILURE(from_guest(when));
  }
  const std::string log = group.Log("vhost");
  std::istringstream lines(log);
  std::string line;
  int resumed = 0;
  while (std::getline(lines, line)) {
    if (line.find("packed ring") == std::string::npos) continue;
    std::printf("%s\n", line.c_str());
    resumed += line.find("resuming the packed ring") != std::string::npos ? 1 : 0;
  }
  // QEMU's base was stale after each restart; both rings (RX 0, TX 1) took the record.
  EXPECT_GE(resumed, 4) << log;
  EXPECT_TRUE(guest.Running()) << "the guest kept running";
  const std::string text = ReadFile(console);
  EXPECT_EQ(text.find("VSW-BOOT", text.find("VSW-BOOT") + 1), std::string::npos) << "booted once";
}

}  // namespace
}  // namespace vswitch::test
