// Dequeue zero-copy across the process group (docs/architecture.md "Dequeue zero-copy
// across processes"): the group with --dequeue-zero-copy, DPDK virtio-user guests
// (testpmd) and the net_tap port. Guest A replays a pcap that scapy wrote (testpmd io
// mode, a net_pcap port as its second port), so every frame carries a known pattern:
// 1514-byte frames (1518 on the wire with the FCS; the port's MTU is 1500) and 64-byte
// ones. Guest B writes what it receives into a pcap (same trick), which scapy checks byte
// for byte. Counters are read from vswitch-monitor's /metrics, as an operator would.
#include <gtest/gtest.h>
#include <signal.h>

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
constexpr const char* kHost = "02:00:00:00:00:99";  // behind the port, never learned
constexpr int kLarge = 1514;
constexpr int kSmall = 64;

// Frame i: dst, src, ethertype 0x88b5, a 4-byte big-endian index, then (i * 7 + k) & 0xff.
const char* const kPattern =
    "import struct\n"
    "def payload(i, size):\n"
    "    return struct.pack('>I', i) + bytes(((i * 7 + k) & 0xff) for k in range(size - 18))\n";

CommandResult Python(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/python3", "-c", std::string(kPattern) + script};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, 120s);
}

// Writes `count` frames dst <- src into `path`: every `small_every`-th one 64 bytes, the
// others 1514 (small_every 0: all large).
void WritePcap(const std::string& path, const std::string& dst, const std::string& src, int count,
               int small_every) {
  const CommandResult r = Python(
      "import sys\nfrom scapy.all import Ether, Raw, wrpcap\n"
      "dst, src, n, every = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])\n"
      "frames = []\n"
      "for i in range(n):\n"
      "    size = " + std::to_string(kSmall) + " if every and i % every == every - 1 else " +
          std::to_string(kLarge) + "\n"
      "    frames.append(Ether(dst=dst, src=src, type=0x88b5) / Raw(payload(i, size)))\n"
      "wrpcap(sys.argv[5], frames)\n",
      {dst, src, std::to_string(count), std::to_string(small_every), path});
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

// Checks every frame of a pcap (or of what `sniff` saw) against the pattern. Prints
// "GOOD <n> LARGE <n> SMALL <n> BAD <n> DUP <n>" (and the first bad frame).
const char* const kCheck =
    "def check(frames, dst, src, vlan):\n"
    "    from scapy.all import Dot1Q\n"
    "    good = large = small = bad = dup = 0\n"
    "    seen = set()\n"
    "    first_bad = ''\n"
    "    for p in frames:\n"
    "        raw = bytes(p)\n"
    "        if vlan is not None:\n"
    "            if Dot1Q not in p or p[Dot1Q].vlan != vlan:\n"
    "                continue\n"
    "            raw = raw[:12] + raw[16:]\n"
    "        if raw[6:12] != bytes.fromhex(src.replace(':', '')):\n"
    "            continue\n"
    "        i = struct.unpack('>I', raw[14:18])[0]\n"
    "        want = bytes.fromhex(dst.replace(':', '') + src.replace(':', '')) + b'\\x88\\xb5' + payload(i, len(raw))\n"
    "        if raw == want and len(raw) in (64, 1514):\n"
    "            good += 1\n"
    "            large += len(raw) == 1514\n"
    "            small += len(raw) == 64\n"
    "            dup += i in seen\n"
    "            seen.add(i)\n"
    "        else:\n"
    "            bad += 1\n"
    "            first_bad = first_bad or raw.hex()\n"
    "    print('GOOD', good, 'LARGE', large, 'SMALL', small, 'BAD', bad, 'DUP', dup, first_bad[:200])\n";

struct Checked {
  int good = -1, large = -1, small = -1, bad = -1, dup = -1;
  std::string text;
};

Checked ParseCheck(const CommandResult& r) {
  Checked c;
  c.text = r.output;
  const auto at = r.output.rfind("GOOD ");
  if (r.exit_code != 0 || at == std::string::npos) return c;
  std::istringstream in(r.output.substr(at));
  std::string word;
  in >> word >> c.good >> word >> c.large >> word >> c.small >> word >> c.bad >> word >> c.dup;
  return c;
}

Checked CheckPcap(const std::string& path, const std::string& dst, const std::string& src) {
  return ParseCheck(Python(std::string(kCheck) +
                               "import sys\nfrom scapy.all import rdpcap\n"
                               "check(rdpcap(sys.argv[1]), sys.argv[2], sys.argv[3], None)\n",
                           {path, dst, src}));
}

class ZeroCopyGroup {
 public:
  ZeroCopyGroup() {
    group_ = std::make_unique<TestGroup>(std::map<std::string, std::string>{
        {"vhost.dequeue-zero-copy", "true"}, {"switching.vm2vm", "1"}});
    up_ = group_->Vswitch({"up"});
    if (up_.exit_code != 0) return;
    (void)group_->TapUp("2000");
  }
  [[nodiscard]] bool ok() const { return up_.exit_code == 0; }
  [[nodiscard]] std::string why() const { return up_.output + group_->Log("primary") + group_->Log("vhost"); }
  TestGroup& g() { return *group_; }

  double Metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    return group_->Metric(name, labels);
  }
  double ByReference(int device) {
    return Metric("vswitch_zero_copy_packets_total", {{"device", std::to_string(device)}});
  }
  double Copied(int device, const std::string& reason) {
    return Metric("vswitch_zero_copy_copied_total", {{"device", std::to_string(device)}, {"reason", reason}});
  }
  double VhostPackets(int device, const std::string& direction) {
    return Metric("vswitch_device_packets_total",
                  {{"device", std::to_string(device)}, {"stage", "vhost"}, {"direction", direction}});
  }
  // Every counter of device 0's zero-copy, for failure messages.
  std::string ZeroCopyReport(int device) {
    std::ostringstream s;
    s << "by_reference " << ByReference(device);
    for (const char* r : {"below_threshold", "cap_reached", "region_not_acknowledged", "other"}) {
      s << ", " << r << " " << Copied(device, r);
    }
    s << ", vhost tx " << VhostPackets(device, "tx") << ", mappings " << Metric("vswitch_zero_copy_mappings")
      << ", refusals " << Metric("vswitch_zero_copy_mapping_refusals_total");
    return s.str();
  }
  bool WaitRegistered(const std::string& mac) {
    return WaitFor([&] { return group_->Log("switching").find("mac " + mac + " and vlan") != std::string::npos; }, 30s);
  }

 private:
  std::unique_ptr<TestGroup> group_;
  CommandResult up_;
};

// A guest whose port 1 is a pcap: io mode sends `in` out of the virtio port and writes
// what the virtio port receives into `out`. The pcap must not be flushed at start
// (--no-flush-rx), and forwarding starts 2 s after testpmd, interactively: started at
// launch, testpmd was seen to publish the pcap's first frames in the virtio TX ring (its
// avail index) only when it exited, after vswitch had stopped the ring, with or without
// zero-copy.
std::unique_ptr<VirtioUser> PcapGuest(ZeroCopyGroup& s, int device, const std::string& mac,
                                      const std::string& in, const std::string& out, bool loop = false) {
  return std::make_unique<VirtioUser>(
      s.g().dir(), s.g().socket(device), "io", mac, "", std::vector<std::string>{"--no-flush-rx"},
      std::vector<std::string>{"--vdev", "net_pcap0,rx_pcap=" + in + ",tx_pcap=" + out +
                                             (loop ? ",infinite_rx=1" : "")},
      2s);
}

// (a) vm2vm 1: every byte A sends reaches B, and the large frames went by reference.
TEST(ZeroCopyGroupTest, GuestToGuestByReferenceEveryByteArrives) {
  ZeroCopyGroup s;
  ASSERT_TRUE(s.ok()) << s.why();
  EXPECT_EQ(s.g().Log("vhost").find("copied (zero-copy is single-process only"), std::string::npos);
  // B announces itself with one frame, then records what it receives.
  const std::string b_in = s.g().dir() / "b_in.pcap", b_out = s.g().dir() / "b_out.pcap";
  WritePcap(b_in, kHost, kMacB, 1, 1);  // one 64-byte frame
  auto b = PcapGuest(s, 1, kMacB, b_in, b_out);
  ASSERT_TRUE(s.WaitRegistered(kMacB)) << s.g().Log("switching") << s.g().Log("vhost") << b->process().Log();

  // 64 frames, every 4th one 64 bytes: 48 large, 16 small. Fewer large frames than the
  // in-flight cap (half of a 256-entry queue), so none is copied for the cap.
  constexpr int kFrames = 64, kSmallEvery = 4;
  constexpr int kLargeFrames = kFrames - kFrames / kSmallEvery;
  const std::string a_in = s.g().dir() / "a_in.pcap", a_out = s.g().dir() / "a_out.pcap";
  WritePcap(a_in, kMacB, kMacA, kFrames, kSmallEvery);
  auto a = PcapGuest(s, 0, kMacA, a_in, a_out);
  ASSERT_TRUE(WaitFor([&] { return s.VhostPackets(0, "tx") == kFrames; }, 30s))
      << s.ZeroCopyReport(0) << a->process().Log() << s.g().Log("vhost");
  ASSERT_TRUE(WaitFor([&] { return s.VhostPackets(1, "rx") == kFrames; }, 20s))
      << s.VhostPackets(1, "rx") << s.g().Log("switching");
  // What left A above the threshold went by reference; the small ones were copied.
  EXPECT_TRUE(WaitFor([&] { return s.ByReference(0) == kLargeFrames; }, 5s)) << s.ZeroCopyReport(0);
  EXPECT_EQ(s.Copied(0, "below_threshold"), kFrames / kSmallEvery) << s.ZeroCopyReport(0);
  EXPECT_EQ(s.Copied(0, "region_not_acknowledged"), 0) << s.ZeroCopyReport(0);
  EXPECT_GE(s.Metric("vswitch_zero_copy_mappings"), 2) << "both guests' memory mapped in switching";
  EXPECT_EQ(s.Metric("vswitch_zero_copy_mapping_refusals_total"), 0);
  EXPECT_NE(s.g().Log("switching").find("guest memory mapping(s) of vswitch-vhost pid"), std::string::npos);

  // B wrote what it received; its pcap is complete once testpmd closed the port.
  b->process().Stop(SIGINT, 10s);
  const Checked c = CheckPcap(b_out, kMacB, kMacA);
  EXPECT_EQ(c.good, kFrames) << c.text;
  EXPECT_EQ(c.large, kLargeFrames) << c.text;
  EXPECT_EQ(c.small, kFrames / kSmallEvery) << c.text;
  EXPECT_EQ(c.bad, 0) << c.text;
  EXPECT_EQ(c.dup, 0) << c.text;
  // Every mbuf came back: the descriptors went back to A and nothing is held.
  EXPECT_EQ(s.g().RoleState("vhost"), "up");
  EXPECT_EQ(s.g().RoleState("switching"), "up");
}

// (b) To the port: the frames leave on the tap tagged and intact, read from guest memory
// by vswitch-switching through its own mapping.
TEST(ZeroCopyGroupTest, ToThePortFramesArriveIntact) {
  ZeroCopyGroup s;
  ASSERT_TRUE(s.ok()) << s.why();
  const std::string sniff_out = s.g().dir() / "sniff.pcap";
  Process sniffer({"/usr/bin/python3", "-u", "-c",
                   "import sys\nfrom scapy.all import AsyncSniffer, wrpcap\nimport time, signal\n"
                   "t = AsyncSniffer(iface=sys.argv[1], store=True)\n"
                   "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])\n"
                   "t.start()\ntime.sleep(1)\nprint('SNIFFING', flush=True)\n"
                   "signal.sigwait([signal.SIGTERM])\n"
                   "wrpcap(sys.argv[2], t.stop())\nprint('SAVED', flush=True)\n",
                   s.g().iface(), sniff_out},
                  s.g().dir() / "sniff.log");
  ASSERT_TRUE(WaitFor([&] { return ReadFile(s.g().dir() / "sniff.log").find("SNIFFING") != std::string::npos; }, 30s))
      << ReadFile(s.g().dir() / "sniff.log");
  constexpr int kFrames = 64, kSmallEvery = 8;
  constexpr int kLargeFrames = kFrames - kFrames / kSmallEvery;
  const std::string a_in = s.g().dir() / "a_in.pcap", a_out = s.g().dir() / "a_out.pcap";
  WritePcap(a_in, kHost, kMacA, kFrames, kSmallEvery);
  auto a = PcapGuest(s, 0, kMacA, a_in, a_out);
  ASSERT_TRUE(WaitFor([&] { return s.VhostPackets(0, "tx") == kFrames; }, 30s)) << s.ZeroCopyReport(0);
  ASSERT_TRUE(WaitFor([&] {
    return s.Metric("vswitch_port_switched_packets_total", {{"direction", "tx"}}) == kFrames;
  }, 20s)) << s.g().Log("switching");
  EXPECT_TRUE(WaitFor([&] { return s.ByReference(0) == kLargeFrames; }, 5s)) << s.ZeroCopyReport(0);
  EXPECT_EQ(s.Copied(0, "below_threshold"), kFrames / kSmallEvery) << s.ZeroCopyReport(0);
  std::this_thread::sleep_for(1s);
  ASSERT_EQ(kill(sniffer.pid(), SIGTERM), 0);
  ASSERT_TRUE(WaitFor([&] { return ReadFile(s.g().dir() / "sniff.log").find("SAVED") != std::string::npos; }, 30s))
      << ReadFile(s.g().dir() / "sniff.log");
  const Checked c = ParseCheck(Python(std::string(kCheck) +
                                          "import sys\nfrom scapy.all import rdpcap\n"
                                          "check(rdpcap(sys.argv[1]), sys.argv[2], sys.argv[3], 1000)\n",
                                      {sniff_out, kHost, kMacA}));
  EXPECT_EQ(c.good, kFrames) << c.text;
  EXPECT_EQ(c.large, kLargeFrames) << c.text;
  EXPECT_EQ(c.bad, 0) << c.text;
  EXPECT_EQ(c.dup, 0) << c.text;
}

// (c) kill -9 vswitch-switching while A streams (by reference) to B, restart it: vhost
// copies while nobody maps the guest memory, the new instance maps the table before it
// reads a ring, zero-copy resumes, A never stops sending and neither process crashes.
TEST(ZeroCopyGroupTest, SwitchingKilledUnderTrafficRestartsAndZeroCopyResumes) {
  ZeroCopyGroup s;
  ASSERT_TRUE(s.ok()) << s.why();
  auto b = std::make_unique<VirtioUser>(
      s.g().dir(), s.g().socket(1), "rxonly", kMacB, "",
      std::vector<std::string>{"--tx-first", "--burst=4", std::string("--eth-peer=0,") + kHost});
  ASSERT_TRUE(s.WaitRegistered(kMacB)) << s.g().Log("switching");
  const std::string a_in = s.g().dir() / "a_in.pcap", a_out = s.g().dir() / "a_out.pcap";
  WritePcap(a_in, kMacB, kMacA, 256, 16);  // replayed forever
  auto a = PcapGuest(s, 0, kMacA, a_in, a_out, /*loop=*/true);
  ASSERT_TRUE(WaitFor([&] { return s.ByReference(0) > 2000 && s.VhostPackets(1, "rx") > 2000; }, 30s))
      << s.ZeroCopyReport(0) << s.g().Log("switching");
  const pid_t vhost = s.g().RolePid("vhost");
  const pid_t old = s.g().RolePid("switching");
  ASSERT_GT(old, 0);
  ASSERT_EQ(kill(old, SIGKILL), 0);
  ASSERT_TRUE(s.g().WaitRoleState("switching", "down"));
  // Nobody consumes from_vm now: the packets in flight by reference stay held (in the
  // full ring, or lost with the dead process), so the cap stops zero-copy and vhost
  // copies (then drops on the full ring); A goes on sending.
  const double tx_down = s.VhostPackets(0, "tx");
  const double copied_down = s.Copied(0, "cap_reached") + s.Copied(0, "region_not_acknowledged");
  std::this_thread::sleep_for(1500ms);
  EXPECT_GT(s.VhostPackets(0, "tx"), tx_down + 1000) << "guest A's TX ring starved while switching was down";
  EXPECT_GT(s.Copied(0, "cap_reached") + s.Copied(0, "region_not_acknowledged"), copied_down + 1000)
      << s.ZeroCopyReport(0);

  const CommandResult r = s.g().Vswitch({"restart", "switching"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(s.g().WaitRoleState("switching", "up"));
  const double zc_up = s.ByReference(0), rx_up = s.VhostPackets(1, "rx"), tx_up = s.VhostPackets(0, "tx");
  EXPECT_TRUE(WaitFor([&] { return s.ByReference(0) > zc_up + 2000; }, 20s))
      << "zero-copy did not resume: " << s.ZeroCopyReport(0) << s.g().Log("switching");
  EXPECT_TRUE(WaitFor([&] { return s.VhostPackets(1, "rx") > rx_up + 2000; }, 20s)) << "B gets traffic again";
  EXPECT_TRUE(WaitFor([&] { return s.VhostPackets(0, "tx") > tx_up + 2000; }, 20s)) << "A keeps sending";
  const std::string log = s.g().Log("switching");
  const std::string second = log.substr(log.rfind("starting vswitch-switching"));
  EXPECT_NE(second.find("guest memory mapping(s) of vswitch-vhost pid " + std::to_string(vhost) + " mapped"),
            std::string::npos) << second;
  // Small frames are copied and counted as such throughout.
  EXPECT_GT(s.Copied(0, "below_threshold"), 0) << s.ZeroCopyReport(0);
  EXPECT_EQ(s.Metric("vswitch_zero_copy_mapping_refusals_total"), 0);
  // No crash: the same vhost, the new switching, both up a while later.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(s.g().RolePid("vhost"), vhost);
  EXPECT_EQ(s.g().RoleState("vhost"), "up");
  EXPECT_EQ(s.g().RoleState("switching"), "up");
  EXPECT_EQ(s.Metric("vswitch_role_deaths_total", {{"role", "vhost"}}), 0);
  EXPECT_EQ(s.Metric("vswitch_role_deaths_total", {{"role", "switching"}}), 1);
  EXPECT_TRUE(a->process().Running()) << a->process().Log();
}

// A vswitch-vhost instance dies (kill -9) with zero-copy packets in the rings: switching
// drops that instance's mappings once it is gone, frees what is left of its packets
// unread (stale_zero_copy), stays up, and maps the next instance's memory.
TEST(ZeroCopyGroupTest, VhostKilledSwitchingDropsItsMappingsAndMapsTheNextInstance) {
  ZeroCopyGroup s;
  ASSERT_TRUE(s.ok()) << s.why();
  const pid_t switching = s.g().RolePid("switching");
  const pid_t old_vhost = s.g().RolePid("vhost");
  {
    auto b = std::make_unique<VirtioUser>(
        s.g().dir(), s.g().socket(1), "rxonly", kMacB, "",
        std::vector<std::string>{"--tx-first", "--burst=4", std::string("--eth-peer=0,") + kHost});
    ASSERT_TRUE(s.WaitRegistered(kMacB)) << s.g().Log("switching");
    const std::string a_in = s.g().dir() / "a_in.pcap", a_out = s.g().dir() / "a_out.pcap";
    WritePcap(a_in, kMacB, kMacA, 256, 0);
    auto a = PcapGuest(s, 0, kMacA, a_in, a_out, /*loop=*/true);
    ASSERT_TRUE(WaitFor([&] { return s.ByReference(0) > 2000; }, 30s)) << s.ZeroCopyReport(0);
    ASSERT_EQ(kill(old_vhost, SIGKILL), 0);
    ASSERT_TRUE(s.g().WaitRoleState("vhost", "down"));
    const std::string gone = "0 guest memory mapping(s) of vswitch-vhost pid " + std::to_string(old_vhost) + " mapped";
    EXPECT_TRUE(WaitFor([&] { return s.g().Log("switching").find(gone) != std::string::npos; }, 10s))
        << s.g().Log("switching");
    EXPECT_EQ(s.Metric("vswitch_zero_copy_mappings"), 0);
  }  // the guests leave too
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(s.g().RolePid("switching"), switching);
  EXPECT_EQ(s.g().RoleState("switching"), "up");

  const CommandResult r = s.g().Vswitch({"restart", "vhost"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const pid_t vhost = s.g().RolePid("vhost");
  ASSERT_NE(vhost, old_vhost);
  const std::string b_in = s.g().dir() / "b2_in.pcap", b_out = s.g().dir() / "b2_out.pcap";
  WritePcap(b_in, kHost, kMacB, 1, 1);
  auto b = PcapGuest(s, 1, kMacB, b_in, b_out);
  ASSERT_TRUE(WaitFor([&] { return s.g().Status(".devices[1].mac") == kMacB; }, 30s)) << s.g().Log("switching");
  const double zc = s.ByReference(0), rx = s.VhostPackets(1, "rx");
  const std::string a_in = s.g().dir() / "a2_in.pcap", a_out = s.g().dir() / "a2_out.pcap";
  WritePcap(a_in, kMacB, kMacA, 32, 0);
  auto a = PcapGuest(s, 0, kMacA, a_in, a_out);
  ASSERT_TRUE(WaitFor([&] { return s.VhostPackets(1, "rx") == rx + 32; }, 30s))
      << s.VhostPackets(1, "rx") - rx << s.g().Log("switching");
  EXPECT_TRUE(WaitFor([&] { return s.ByReference(0) == zc + 32; }, 5s)) << s.ZeroCopyReport(0);
  EXPECT_NE(s.g().Log("switching").find("mapping(s) of vswitch-vhost pid " + std::to_string(vhost) + " mapped"),
            std::string::npos);
  b->process().Stop(SIGINT, 10s);
  const Checked c = CheckPcap(b_out, kMacB, kMacA);
  EXPECT_EQ(c.good, 32) << c.text;
  EXPECT_EQ(c.bad, 0) << c.text;
  EXPECT_EQ(s.g().RolePid("switching"), switching) << "switching never crashed";
  EXPECT_EQ(s.Metric("vswitch_role_deaths_total", {{"role", "switching"}}), 0);
}

}  // namespace
}  // namespace vswitch::test
