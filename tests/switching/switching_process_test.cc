// vswitch-switching with real peers: a whole group (deploy/vswitch up), DPDK virtio-user
// guests (dpdk-testpmd) on the vhost-user sockets, and the port as a net_tap interface
// that scapy (Debian's /usr/bin/python3) writes 802.1Q frames into and sniffs. Counters
// are read the way an operator reads them: testpmd's own port stats, the kernel's tap
// statistics, `deploy/vswitch status --json`, and vswitch-monitor's /metrics.
//
// testpmd's txonly frames are 64 bytes. The guests run rxonly with --tx-first: a single
// burst of --burst frames to --eth-peer, then they only receive, so counts are exact.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process.h"
#include "test_env.h"
#include "test_group.h"
#include "virtio_user.h"

namespace vswitch::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kMacA = "02:00:00:00:00:0a";  // device 0, VLAN 1000
constexpr const char* kMacB = "02:00:00:00:00:0b";  // device 1, VLAN 1001
constexpr const char* kHost = "02:00:00:00:00:99";  // a host behind the port
constexpr int kFrameBytes = 64;

uint64_t KernelStat(const std::string& iface, const std::string& stat) {
  return std::stoull("0" + ReadFile("/sys/class/net/" + iface + "/statistics/" + stat));
}

// A group with the port up and quiet (no IPv6 frames from the kernel).
class Switch {
 public:
  using Overrides = std::map<std::string, std::string>;
  explicit Switch(Overrides overrides = {}) {
    group_ = std::make_unique<TestGroup>(overrides);
    up_ = group_->Vswitch({"up"});
    if (up_.exit_code != 0) return;
    (void)group_->TapUp();
  }
  [[nodiscard]] bool ok() const { return up_.exit_code == 0; }
  [[nodiscard]] std::string why() const { return up_.output + group_->Log("switching"); }
  TestGroup& g() { return *group_; }

  double Metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    return group_->Metric(name, labels);
  }
  double PortDrops(const std::string& reason) {
    return Metric("vswitch_port_drops_total", {{"reason", reason}});
  }
  double DeviceDrops(int device, const std::string& direction, const std::string& reason) {
    return Metric("vswitch_device_drops_total", {{"device", std::to_string(device)}, {"stage", "switching"},
                                                 {"direction", direction}, {"reason", reason}});
  }
  bool WaitRegistered(const std::string& mac, int vlan) {
    const std::string line = "mac " + mac + " and vlan " + std::to_string(vlan) + " registered";
    return WaitFor([&] { return group_->Log("switching").find(line) != std::string::npos; }, 30s);
  }

 private:
  std::unique_ptr<TestGroup> group_;
  CommandResult up_;
};

// A guest that sends one burst of `burst` 64-byte frames to `peer`, then only receives.
std::unique_ptr<VirtioUser> Guest(Switch& s, int device, const std::string& mac, int burst,
                                  const std::string& peer = "02:00:00:00:00:00") {
  return std::make_unique<VirtioUser>(
      s.g().dir(), s.g().socket(device), "rxonly", mac, "",
      std::vector<std::string>{"--tx-first", "--burst=" + std::to_string(burst), "--eth-peer=0," + peer});
}

bool WaitStat(VirtioUser& guest, const std::string& key, long long want, std::chrono::milliseconds t = 20s) {
  return WaitFor([&] { return guest.LastStat(key) == want; }, t);
}

// scapy: sends the frames a Python expression builds, on the group's tap.
CommandResult Scapy(Switch& s, const std::string& frames_expr) {
  return RunCommand({"/usr/bin/python3", "-c",
                     "import sys\nfrom scapy.all import Ether, Dot1Q, Raw, sendp\n"
                     "frames = " + frames_expr + "\nsendp(frames, iface=sys.argv[1], verbose=False)\n",
                     s.g().iface()},
                    60s);
}

// scapy sniffing the tap (the frames vswitch transmits) until stopped; prints one line
// per frame: "F <vlan or -> <src> <dst> <len>" (len without the tag).
class Sniffer {
 public:
  Sniffer(Switch& s, const std::string& name) {
    log_ = s.g().dir() / (name + ".sniff");
    process_ = Process({"/usr/bin/python3", "-u", "-c",
                        "import sys\nfrom scapy.all import sniff, Dot1Q\n"
                        "def show(p):\n"
                        "    v = p[Dot1Q].vlan if Dot1Q in p else '-'\n"
                        "    n = len(p) - (4 if Dot1Q in p else 0)\n"
                        "    print('F', v, p.src, p.dst, n, flush=True)\n"
                        "sniff(iface=sys.argv[1], prn=show, store=False,\n"
                        "      started_callback=lambda: print('SNIFFING', flush=True))\n",
                        s.g().iface()},
                       log_);
    ok_ = WaitFor([&] { return ReadFile(log_).find("SNIFFING") != std::string::npos; }, 20s);
  }
  ~Sniffer() { process_.Stop(SIGTERM, 5s); }
  [[nodiscard]] bool ok() const { return ok_; }
  // Frames seen so far matching "F <vlan> <src> <dst> <len>".
  int Count(const std::string& vlan, const std::string& src, const std::string& dst, int len) const {
    std::istringstream in(ReadFile(log_));
    std::string line;
    const std::string want = "F " + vlan + " " + src + " " + dst + " " + std::to_string(len);
    int n = 0;
    while (std::getline(in, line)) n += line == want ? 1 : 0;
    return n;
  }
  [[nodiscard]] std::string Text() const { return ReadFile(log_); }

 private:
  std::string log_;
  Process process_;
  bool ok_ = false;
};

// vm2vm 1, and vm2vm 2 on a port without VMDQ (no hardware to loop frames back: the
// switch does it in software and says so once in its log): every byte from A reaches B
// and the port sees none of it. With direct-vm2vm 1 (the default) vswitch-vhost delivers
// a frame itself once both MACs are learned, else switching does: A's one burst can go
// either way, so the two stages' counts add up to the frames; with direct-vm2vm 0 every
// frame goes through switching.
void GuestToGuestSkipsThePort(const std::string& vm2vm, const std::string& direct) {
  Switch s(Switch::Overrides{{"switching.vm2vm", vm2vm}, {"switching.direct-vm2vm", direct}});
  ASSERT_TRUE(s.ok()) << s.why();
  auto b = Guest(s, 1, kMacB, 32);  // registers B (its burst goes to the port)
  ASSERT_TRUE(s.WaitRegistered(kMacB, 1001)) << s.g().Log("switching") << b->process().Log();
  ASSERT_TRUE(WaitStat(*b, "TX-packets:", 32));
  EXPECT_TRUE(WaitFor([&] { return s.g().Status(".devices[1].mac") == kMacB; }, 10s));
  EXPECT_EQ(s.g().Status(".devices[1].vlan"), "1001");
  std::this_thread::sleep_for(500ms);
  const uint64_t port_before = KernelStat(s.g().iface(), "rx_packets");

  constexpr int kFrames = 256;
  auto a = Guest(s, 0, kMacA, kFrames, kMacB);
  ASSERT_TRUE(s.WaitRegistered(kMacA, 1000)) << s.g().Log("switching");
  ASSERT_TRUE(WaitStat(*a, "TX-packets:", kFrames)) << a->process().Log();
  EXPECT_TRUE(WaitStat(*b, "RX-packets:", kFrames)) << b->process().Log() << s.g().Log("switching");
  EXPECT_EQ(b->LastStat("RX-bytes:"), kFrames * kFrameBytes);
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(KernelStat(s.g().iface(), "rx_packets"), port_before) << "the port saw guest-to-guest frames";
  const auto into_b = [&](const std::string& stage) {
    return s.Metric("vswitch_device_packets_total", {{"device", "1"}, {"stage", stage}, {"direction", "rx"}});
  };
  EXPECT_EQ(into_b("vhost"), kFrames);
  EXPECT_EQ(into_b("switching") + into_b("direct"), kFrames);
  if (direct == "0") {
    EXPECT_EQ(into_b("direct"), 0);
  }
  EXPECT_NE(s.g().Log("switching").find(direct == "1" ? "direct guest-to-guest delivery by vswitch-vhost: on"
                                                      : "direct guest-to-guest delivery by vswitch-vhost: off"),
            std::string::npos)
      << s.g().Log("switching");
  if (vm2vm == "2") {
    EXPECT_NE(s.g().Log("switching").find("--vm2vm 2 loops guest-to-guest frames back in software"),
              std::string::npos)
        << s.g().Log("switching");
  }
}

TEST(SwitchingProcessTest, Vm2vm1GuestToGuestSkipsThePortAndEveryByteArrives) { GuestToGuestSkipsThePort("1", "1"); }

TEST(SwitchingProcessTest, Vm2vm2WithoutVmdqSwitchesInSoftware) { GuestToGuestSkipsThePort("2", "1"); }

TEST(SwitchingProcessTest, Vm2vm1WithoutDirectDeliveryEveryFrameGoesThroughSwitching) {
  GuestToGuestSkipsThePort("1", "0");
}

TEST(SwitchingProcessTest, DirectDeliveryIsOnByDefault) {
  Switch s;
  ASSERT_TRUE(s.ok()) << s.why();
  EXPECT_TRUE(WaitFor([&] {
    return s.g().Log("switching").find("direct guest-to-guest delivery by vswitch-vhost: on") !=
           std::string::npos;
  }, 10s)) << s.g().Log("switching");
}

// Once switching has learned both guests, vswitch-vhost delivers A's frames to B itself:
// B keeps receiving while vswitch-switching is killed and while it starts again, and
// those frames are counted in stage "direct", not "switching".
TEST(SwitchingProcessTest, LearnedGuestsKeepTalkingWhileSwitchingIsDown) {
  Switch s(Switch::Overrides{{"switching.direct-vm2vm", "1"}});
  ASSERT_TRUE(s.ok()) << s.why();
  auto b = Guest(s, 1, kMacB, 8);
  ASSERT_TRUE(s.WaitRegistered(kMacB, 1001)) << s.g().Log("switching");
  // A sends without pause (txonly) to B.
  VirtioUser a(s.g().dir(), s.g().socket(0), "txonly", kMacA, "", {"--eth-peer=0," + std::string(kMacB)});
  ASSERT_TRUE(s.WaitRegistered(kMacA, 1000)) << s.g().Log("switching") << a.process().Log();
  ASSERT_TRUE(WaitFor([&] { return b->LastStat("RX-packets:") > 10000; }, 20s)) << b->process().Log();
  const auto direct_into_b = [&] {
    return s.Metric("vswitch_device_packets_total", {{"device", "1"}, {"stage", "direct"}, {"direction", "rx"}});
  };
  EXPECT_TRUE(WaitFor([&] { return direct_into_b() > 1000; }, 10s)) << direct_into_b();

  const pid_t switching = s.g().RolePid("switching");
  ASSERT_GT(switching, 0);
  ASSERT_EQ(kill(switching, SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&] { return kill(switching, 0) != 0; }, 10s));
  const double switched_before = s.Metric("vswitch_device_packets_total",
                                          {{"device", "1"}, {"stage", "switching"}, {"direction", "rx"}});
  const long long rx_before = b->LastStat("RX-packets:");
  // testpmd prints its stats every second: wait for two more prints.
  EXPECT_TRUE(WaitFor([&] { return b->LastStat("RX-packets:") > rx_before + 10000; }, 10s))
      << "B stopped receiving when switching went down: " << rx_before << " -> " << b->LastStat("RX-packets:");
  EXPECT_EQ(s.Metric("vswitch_device_packets_total", {{"device", "1"}, {"stage", "switching"}, {"direction", "rx"}}),
            switched_before);

  // A new switching instance takes over without interrupting them.
  const CommandResult restart = s.g().Vswitch({"restart", "switching"});
  ASSERT_EQ(restart.exit_code, 0) << restart.output;
  const long long rx_restarted = b->LastStat("RX-packets:");
  EXPECT_TRUE(WaitFor([&] { return b->LastStat("RX-packets:") > rx_restarted + 10000; }, 10s))
      << s.g().Log("switching");
}

TEST(SwitchingProcessTest, Vm2vm0GuestToGuestLeavesTaggedOnThePort) {
  Switch s(Switch::Overrides{{"switching.vm2vm", "0"}});
  ASSERT_TRUE(s.ok()) << s.why();
  Sniffer sniff(s, "port");
  ASSERT_TRUE(sniff.ok()) << sniff.Text();
  auto b = Guest(s, 1, kMacB, 8);
  ASSERT_TRUE(s.WaitRegistered(kMacB, 1001)) << s.g().Log("switching");
  constexpr int kFrames = 128;
  auto a = Guest(s, 0, kMacA, kFrames, kMacB);
  ASSERT_TRUE(WaitStat(*a, "TX-packets:", kFrames)) << a->process().Log();
  // Both guests' frames left on the port, each tagged with its device's VLAN.
  EXPECT_TRUE(WaitFor([&] { return sniff.Count("1000", kMacA, kMacB, kFrameBytes) == kFrames; }, 20s))
      << sniff.Text().substr(0, 2000);
  EXPECT_EQ(sniff.Count("1001", kMacB, "02:00:00:00:00:00", kFrameBytes), 8);
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(b->LastStat("RX-packets:"), 0) << "vm2vm 0: nothing goes guest to guest";
}

TEST(SwitchingProcessTest, TapPortTagsUntagsAndFloodsPerVlan) {
  Switch s;
  ASSERT_TRUE(s.ok()) << s.why();
  Sniffer sniff(s, "port");
  ASSERT_TRUE(sniff.ok()) << sniff.Text();
  auto a = Guest(s, 0, kMacA, 16);
  auto b = Guest(s, 1, kMacB, 16);
  ASSERT_TRUE(s.WaitRegistered(kMacA, 1000));
  ASSERT_TRUE(s.WaitRegistered(kMacB, 1001));
  // Device 0's frames come out tagged 1000, device 1's tagged 1001.
  EXPECT_TRUE(WaitFor([&] {
    return sniff.Count("1000", kMacA, "02:00:00:00:00:00", 64) == 16 &&
           sniff.Count("1001", kMacB, "02:00:00:00:00:00", 64) == 16;
  }, 20s)) << sniff.Text() << "A sent " << a->LastStat("TX-packets:") << ", B sent " << b->LastStat("TX-packets:")
           << ", port_tx drops " << s.Metric("vswitch_device_drops_total", {{"reason", "port_tx"}});
  const double unknown_before = s.PortDrops("unknown_destination");

  // 20 unicast frames to A on VLAN 1000 (118 bytes tagged): A gets them untagged (114).
  ASSERT_EQ(Scapy(s, "[Ether(src='" + std::string(kHost) + "', dst='" + kMacA +
                         "')/Dot1Q(vlan=1000)/Raw(bytes(range(100)))] * 20").exit_code, 0);
  EXPECT_TRUE(WaitStat(*a, "RX-packets:", 20)) << a->process().Log() << s.g().Log("switching");
  EXPECT_EQ(a->LastStat("RX-bytes:"), 20 * 114);
  // Broadcast on VLAN 1000 reaches device 0 only; on VLAN 1001 device 1 only.
  ASSERT_EQ(Scapy(s, "[Ether(src='" + std::string(kHost) +
                         "', dst='ff:ff:ff:ff:ff:ff')/Dot1Q(vlan=1000)/Raw(b'x' * 50)] * 5 + "
                         "[Ether(src='" + kHost + "', dst='ff:ff:ff:ff:ff:ff')/Dot1Q(vlan=1001)/Raw(b'y' * 50)] * 7")
                .exit_code, 0);
  EXPECT_TRUE(WaitStat(*a, "RX-packets:", 25)) << a->process().Log();
  EXPECT_TRUE(WaitStat(*b, "RX-packets:", 7)) << b->process().Log();
  EXPECT_EQ(b->LastStat("RX-bytes:"), 7 * 64);
  // A's MAC on B's VLAN, an untagged frame and an unknown MAC: counted, delivered nowhere.
  ASSERT_EQ(Scapy(s, "[Ether(src='" + std::string(kHost) + "', dst='" + kMacA + "')/Dot1Q(vlan=1001)/Raw(b'z' * 50),"
                     " Ether(src='" + kHost + "', dst='" + kMacA + "', type=0x88b5)/Raw(b'z' * 50),"
                     " Ether(src='" + kHost + "', dst='02:00:00:00:00:77')/Dot1Q(vlan=1000)/Raw(b'z' * 50)]")
                .exit_code, 0);
  EXPECT_TRUE(WaitFor([&] { return s.PortDrops("unknown_destination") == unknown_before + 3; }, 10s))
      << s.PortDrops("unknown_destination");
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(a->LastStat("RX-packets:"), 25);
  EXPECT_EQ(b->LastStat("RX-packets:"), 7);
}

TEST(SwitchingProcessTest, BadInputIsCountedAndDroppedAndTrafficGoesOn) {
  Switch s;
  ASSERT_TRUE(s.ok()) << s.why();
  auto b = Guest(s, 1, kMacB, 4);
  ASSERT_TRUE(s.WaitRegistered(kMacB, 1001));
  // Device 0's guest uses B's MAC: its registration is refused, its frames are dropped.
  auto spoof = Guest(s, 0, kMacB, 40, kHost);
  ASSERT_TRUE(WaitFor([&] {
    return s.g().Log("switching").find("mac 02:00:00:00:00:0b refused: already registered by device 1") !=
           std::string::npos;
  }, 20s)) << s.g().Log("switching");
  EXPECT_TRUE(WaitFor([&] { return s.DeviceDrops(0, "tx", "spoofed_source") == 40; }, 10s))
      << s.DeviceDrops(0, "tx", "spoofed_source");
  EXPECT_EQ(s.g().Status(".devices[0].mac"), "null");
  EXPECT_EQ(s.g().Status(".devices[1].mac"), kMacB) << "B keeps its MAC";

  const std::string to_b = "Ether(src='" + std::string(kHost) + "', dst='" + kMacB + "')";
  // The kernel side of the tap must carry the oversized frames to the port (MTU 1500).
  ASSERT_EQ(RunCommand({"ip", "link", "set", s.g().iface(), "mtu", "2000"}).exit_code, 0);
  const CommandResult sent = Scapy(s, "[" + to_b + "/Dot1Q(vlan=1001)/Dot1Q(vlan=5)/Raw(b'q' * 50)] * 3 + "  // QinQ
                     "[Ether(src='" + kHost + "', dst='" + kMacB + "', type=0x8100)/Raw(b'\\x03')] * 2 + "  // runt
                     "[" + to_b + "/Dot1Q(vlan=1001)/Raw(b'o' * 1600)] * 4 + "  // oversize
                     "[" + to_b + "/Dot1Q(vlan=1001)/Raw(b'g' * 100)] * 6");     // good
  ASSERT_EQ(sent.exit_code, 0) << sent.output;
  EXPECT_TRUE(WaitStat(*b, "RX-packets:", 6)) << b->process().Log() << s.g().Log("switching");
  EXPECT_EQ(b->LastStat("RX-bytes:"), 6 * 114);
  EXPECT_TRUE(WaitFor([&] { return s.PortDrops("double_vlan") == 3; }, 10s)) << s.PortDrops("double_vlan");
  EXPECT_EQ(s.PortDrops("runt"), 2);
  EXPECT_EQ(s.PortDrops("oversize"), 4);
  EXPECT_EQ(s.g().RoleState("switching"), "up");
  EXPECT_EQ(spoof->LastStat("RX-packets:"), 0);
}

TEST(SwitchingProcessTest, RxRetryThenDropWhenTheGuestDoesNotRead) {
  Switch s(Switch::Overrides{{"switching.rx-retry-num", "3"}, {"switching.rx-retry-delay", "20"}, {"primary.ring-size", "256"}});
  ASSERT_TRUE(s.ok()) << s.why();
  // testpmd interactive, never told to start: its port is up, its RX queue never read.
  const std::string prefix = UniqueName("vuidle");
  Process idle({"bash", "-c",
                "sleep 120 | exec dpdk-testpmd --no-pci --single-file-segments --file-prefix=" + prefix +
                    " -l 0,1 --main-lcore 1 -m 256 --no-telemetry --vdev net_virtio_user0,path=" +
                    s.g().socket(0) + ",mac=" + kMacA + " -- -i --total-num-mbufs=8192"},
               s.g().dir() / "idle.log");
  ASSERT_TRUE(WaitFor([&] { return s.g().Status(".devices[0].ready") == "true"; }, 30s)) << idle.Log();
  constexpr int kFrames = 1500;
  ASSERT_EQ(Scapy(s, "[Ether(src='" + std::string(kHost) + "', dst='ff:ff:ff:ff:ff:ff')/Dot1Q(vlan=1000)/Raw(b'r' * 50)] * " +
                         std::to_string(kFrames)).exit_code, 0);
  double queued = 0, full = 0;
  ASSERT_TRUE(WaitFor([&] {
    queued = s.Metric("vswitch_device_packets_total", {{"device", "0"}, {"stage", "switching"}, {"direction", "rx"}});
    full = s.DeviceDrops(0, "rx", "ring_full");
    return queued + full == kFrames;
  }, 30s)) << queued << " + " << full;
  // The guest's RX ring and the 255-entry to_vm ring filled, then each flush waited 3 x 20 us.
  EXPECT_GT(full, 0);
  EXPECT_LT(queued, kFrames);
  // Every flush that found the ring full retried 3 times before dropping: the retries
  // show per device in Prometheus, and the log says how long it waited.
  EXPECT_GE(s.Metric("vswitch_device_rx_retries_total", {{"device", "0"}, {"stage", "switching"}}), 3);
  EXPECT_NE(s.g().Log("switching").find("device 0: to_vm ring full, frames dropped after 3 retries 20 us apart"),
            std::string::npos) << s.g().Log("switching");
  idle.Stop(SIGKILL, 5s);
  RemoveDpdkLeftovers(prefix);
}

TEST(SwitchingProcessTest, StatsAndRestartKeepTheLearnedTable) {
  Switch s(Switch::Overrides{{"switching.stats", "1"}});
  ASSERT_TRUE(s.ok()) << s.why();
  auto b = Guest(s, 1, kMacB, 32);
  ASSERT_TRUE(s.WaitRegistered(kMacB, 1001));
  auto a = Guest(s, 0, kMacA, 100, kMacB);
  ASSERT_TRUE(WaitStat(*b, "RX-packets:", 100)) << s.g().Log("switching");
  // --stats 1: per device TX and RX totals, as vhost-switch prints them.
  ASSERT_TRUE(WaitFor([&] {
    const std::string log = s.g().Log("switching");
    return log.find("Statistics for device 0") != std::string::npos &&
           log.find("RX successful:                  100") != std::string::npos &&
           log.find("TX total:                       100") != std::string::npos;
  }, 10s)) << s.g().Log("switching");

  // kill -9 and start again: the table in the primary's memory survives.
  const pid_t old = s.g().RolePid("switching");
  ASSERT_GT(old, 0);
  ASSERT_EQ(kill(old, SIGKILL), 0);
  ASSERT_TRUE(s.g().WaitRoleState("switching", "down"));
  EXPECT_EQ(s.g().Status(".devices[1].mac"), kMacB);
  const CommandResult r = s.g().Vswitch({"restart", "switching"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(s.g().WaitRoleState("switching", "up"));
  const std::string log = s.g().Log("switching");
  const std::string second = log.substr(log.rfind("starting vswitch-switching"));
  EXPECT_NE(second.find("device 1: kept mac 02:00:00:00:00:0b and vlan 1001 from the table"), std::string::npos)
      << second;
  EXPECT_NE(second.find("device 0: kept mac 02:00:00:00:00:0a"), std::string::npos) << second;
  EXPECT_EQ(second.find("registered"), std::string::npos) << "nothing had to be learned again";

  // Traffic resumes: a new burst from the port to B, switched by the new instance.
  ASSERT_EQ(Scapy(s, "[Ether(src='" + std::string(kHost) + "', dst='" + kMacB +
                         "')/Dot1Q(vlan=1001)/Raw(b'k' * 100)] * 30").exit_code, 0);
  EXPECT_TRUE(WaitStat(*b, "RX-packets:", 130)) << s.g().Log("switching");

  // The guest leaves: its MAC is unregistered and the table forgets it.
  a.reset();
  EXPECT_TRUE(WaitFor([&] { return s.g().Status(".devices[0].mac") == "null"; }, 20s));
  EXPECT_NE(s.g().Log("switching").find("mac 02:00:00:00:00:0a and vlan 1000 unregistered"), std::string::npos);
}

}  // namespace
}  // namespace vswitch::test
