// Jumbo frames across the process group (docs/switching.md "Frame sizes"): DPDK
// virtio-user guests in testpmd, fed and drained through net_pcap ports (io mode, as in
// zero_copy_group_test.cc). Guest A replays 9000-byte frames scapy wrote; guest B writes
// what it receives into a pcap, which scapy checks byte for byte. Guest to guest (vm2vm 1)
// the limit is what the receiving guest negotiated (mergeable RX buffers), not the port's
// MTU: through vswitch-switching and through vswitch-vhost's direct path, copied and with
// dequeue zero-copy. Toward the port, the MTU the primary set ([primary] mtu, auto:
// jumbo with mergeable on, clamped to the port's maximum). Counters are read from
// vswitch-monitor's /metrics, as an operator would.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "process.h"
#include "test_env.h"
#include "test_group.h"
#include "virtio_user.h"

namespace vswitch::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kMacA = "02:00:00:00:00:0a";  // device 0
constexpr const char* kMacB = "02:00:00:00:00:0b";  // device 1
constexpr const char* kHost = "02:00:00:00:00:99";  // behind the port, never learned
constexpr int kJumbo = 9000;

// Frame i of `size` bytes: dst, src, ethertype 0x88b5, a 4-byte big-endian index, then
// (i * 7 + k) & 0xff.
const char* const kPattern =
    "import struct\n"
    "def frame(dst, src, i, size):\n"
    "    head = bytes.fromhex(dst.replace(':', '') + src.replace(':', '')) + b'\\x88\\xb5'\n"
    "    return head + struct.pack('>I', i) + bytes(((i * 7 + k) & 0xff) for k in range(size - 18))\n";

CommandResult Python(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/python3", "-c", std::string(kPattern) + script};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, 120s);
}

// Writes one frame dst <- src per entry of `sizes` into `path` (frame i has size sizes[i]).
void WritePcap(const std::string& path, const std::string& dst, const std::string& src,
               const std::vector<int>& sizes) {
  std::string list;
  for (int s : sizes) list += (list.empty() ? "" : ",") + std::to_string(s);
  const CommandResult r = Python(
      "import sys\nfrom scapy.all import Ether, wrpcap\n"
      "dst, src = sys.argv[1], sys.argv[2]\n"
      "sizes = [int(s) for s in sys.argv[3].split(',')]\n"
      "wrpcap(sys.argv[4], [Ether(frame(dst, src, i, n)) for i, n in enumerate(sizes)])\n",
      {dst, src, list, path});
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

// What B's pcap holds: frames from `src` that equal the pattern byte for byte, by size,
// and every other frame from `src` (bad).
struct Received {
  std::map<int, int> good_by_size;
  int bad = -1;
  int dup = -1;
  std::string text;
};

Received CheckPcap(const std::string& path, const std::string& dst, const std::string& src) {
  const CommandResult r = Python(
      "import sys\nfrom scapy.all import rdpcap\n"
      "dst, src = sys.argv[2], sys.argv[3]\n"
      "good, bad, dup, seen, first_bad = {}, 0, 0, set(), ''\n"
      "for p in rdpcap(sys.argv[1]):\n"
      "    raw = bytes(p)\n"
      "    if raw[6:12] != bytes.fromhex(src.replace(':', '')):\n"
      "        continue\n"
      "    i = struct.unpack('>I', raw[14:18])[0]\n"
      "    if raw == frame(dst, src, i, len(raw)):\n"
      "        good[len(raw)] = good.get(len(raw), 0) + 1\n"
      "        dup += i in seen\n"
      "        seen.add(i)\n"
      "    else:\n"
      "        bad += 1\n"
      "        first_bad = first_bad or ('%d bytes: %s' % (len(raw), raw[:64].hex()))\n"
      "print('SIZES', ' '.join('%d:%d' % kv for kv in sorted(good.items())) or '-', 'BAD', bad, 'DUP', dup, first_bad)\n",
      {path, dst, src});
  Received c;
  c.text = r.output;
  const auto at = r.output.rfind("SIZES ");
  if (r.exit_code != 0 || at == std::string::npos) return c;
  std::istringstream in(r.output.substr(at + 6));
  std::string item;
  while (in >> item && item != "BAD") {
    const auto colon = item.find(':');
    if (colon != std::string::npos) c.good_by_size[std::stoi(item.substr(0, colon))] = std::stoi(item.substr(colon + 1));
  }
  in >> c.bad >> item >> c.dup;
  return c;
}

struct GroupSetup {
  bool mergeable = true;
  bool zero_copy = false;
  bool direct = false;
  std::string mtu;  // [primary] mtu; empty: the default (auto)
  bool packed = false;  // [vhost] packed = 1 and the guests ask for packed rings (packed_vq=1)
};

class JumboGroup {
 public:
  explicit JumboGroup(const GroupSetup& setup) {
    std::map<std::string, std::string> o = {
        {"vhost.mergeable", setup.mergeable ? "1" : "0"},
        {"vhost.dequeue-zero-copy", setup.zero_copy ? "true" : "false"},
        {"switching.vm2vm", "1"},
        {"switching.direct-vm2vm", setup.direct ? "1" : "0"},
        {"vhost.packed", setup.packed ? "1" : "0"},
    };
    if (!setup.mtu.empty()) o["primary.mtu"] = setup.mtu;
    packed_ = setup.packed;
    group_ = std::make_unique<TestGroup>(o);
    up_ = group_->Vswitch({"up"});
    if (up_.exit_code != 0) return;
    (void)group_->TapUp();
  }
  [[nodiscard]] bool ok() const { return up_.exit_code == 0; }
  [[nodiscard]] std::string why() const { return up_.output + group_->Log("primary") + group_->Log("vhost"); }
  TestGroup& g() { return *group_; }
  [[nodiscard]] bool packed() const { return packed_; }

  double Packets(int device, const std::string& stage, const std::string& direction) {
    return group_->Metric("vswitch_device_packets_total",
                          {{"device", std::to_string(device)}, {"stage", stage}, {"direction", direction}});
  }
  double Drops(int device, const std::string& stage, const std::string& direction, const std::string& reason) {
    return group_->Metric("vswitch_device_drops_total", {{"device", std::to_string(device)}, {"stage", stage},
                                                         {"direction", direction}, {"reason", reason}});
  }
  std::string Report() {
    std::ostringstream s;
    s << "A vhost tx " << Packets(0, "vhost", "tx") << ", A switching tx " << Packets(0, "switching", "tx")
      << ", A switching tx oversize " << Drops(0, "switching", "tx", "oversize") << ", B switching rx "
      << Packets(1, "switching", "rx") << ", B switching rx oversize " << Drops(1, "switching", "rx", "oversize")
      << ", B direct rx " << Packets(1, "direct", "rx") << ", B vhost rx " << Packets(1, "vhost", "rx")
      << ", B vhost rx oversize " << Drops(1, "vhost", "rx", "oversize") << ", A vhost tx invalid_descriptor "
      << Drops(0, "vhost", "tx", "invalid_descriptor") << ", A vhost tx bad_address " << Drops(0, "vhost", "tx", "bad_address")
      << ", A vhost tx no_mbuf " << Drops(0, "vhost", "tx", "no_mbuf") << ", zero-copy by reference "
      << group_->Metric("vswitch_zero_copy_packets_total", {{"device", "0"}}) << "\n"
      << group_->Log("switching");
    return s.str();
  }
  bool WaitRegistered(const std::string& mac) {
    return WaitFor([&] { return group_->Log("switching").find("mac " + mac + " and vlan") != std::string::npos; }, 30s);
  }

 private:
  std::unique_ptr<TestGroup> group_;
  CommandResult up_;
  bool packed_ = false;
};

// A guest whose port 1 is a pcap: io mode sends `in` out of the virtio port and writes
// what the virtio port receives into `out`; forwarding starts 2 s after testpmd (see
// zero_copy_group_test.cc PcapGuest). virtio-user negotiates mergeable RX buffers when
// the back-end offers them (mrg_rxbuf=1 is its default, said here for the reader).
// Commands go to testpmd through `<in>.cmd` (Replay).
std::unique_ptr<VirtioUser> PcapGuest(JumboGroup& s, int device, const std::string& mac,
                                      const std::string& in, const std::string& out) {
  return std::make_unique<VirtioUser>(
      s.g().dir(), s.g().socket(device), "io", mac, std::string(",mrg_rxbuf=1") + (s.packed() ? ",packed_vq=1" : ""),
      std::vector<std::string>{"--no-flush-rx"},
      std::vector<std::string>{"--vdev", "net_pcap0,rx_pcap=" + in + ",tx_pcap=" + out}, 2s, in + ".cmd");
}

// The guest's pcap port reads its file when it starts: restarting it sends `in` again,
// now with whatever file is at that path.
bool Replay(VirtioUser& guest) {
  for (const char* c : {"stop", "port stop 1", "port start 1", "start"}) {
    if (!guest.Command(c)) return false;
  }
  return true;
}

// A sends one small frame toward the port, so switching has learned A before it sends
// `sizes` to B (with direct-vm2vm on, those can then all go direct).
std::unique_ptr<VirtioUser> StartLearnedSender(JumboGroup& s, const std::vector<int>& sizes) {
  const std::string a_in = s.g().dir() / "a_in.pcap", a_out = s.g().dir() / "a_out.pcap";
  WritePcap(a_in, kHost, kMacA, {64});
  auto a = PcapGuest(s, 0, kMacA, a_in, a_out);
  EXPECT_TRUE(s.WaitRegistered(kMacA)) << s.g().Log("switching") << a->process().Log();
  const std::string next = s.g().dir() / "a_next.pcap";
  WritePcap(next, kMacB, kMacA, sizes);
  EXPECT_EQ(std::rename(next.c_str(), a_in.c_str()), 0);
  EXPECT_TRUE(Replay(*a));
  return a;
}

// B announces its MAC with one small frame toward the port, then records what it gets.
std::unique_ptr<VirtioUser> StartReceiver(JumboGroup& s, std::string* out) {
  const std::string in = s.g().dir() / "b_in.pcap";
  *out = s.g().dir() / "b_out.pcap";
  WritePcap(in, kHost, kMacB, {64});
  auto b = PcapGuest(s, 1, kMacB, in, *out);
  EXPECT_TRUE(s.WaitRegistered(kMacB)) << s.g().Log("switching") << s.g().Log("vhost") << b->process().Log();
  return b;
}

class JumboGuestToGuestTest : public testing::TestWithParam<GroupSetup> {};

// 9000-byte frames from A reach B whole (the port's MTU does not apply between guests).
TEST_P(JumboGuestToGuestTest, NineThousandByteFramesArriveByteForByte) {
  JumboGroup s(GetParam());
  ASSERT_TRUE(s.ok()) << s.why();
  std::string b_out;
  auto b = StartReceiver(s, &b_out);
  // 8 jumbo frames between small ones, sent once switching has learned A.
  std::vector<int> sizes = {64};
  for (int i = 0; i < 8; ++i) sizes.push_back(kJumbo);
  sizes.push_back(1514);
  const int frames = static_cast<int>(sizes.size());
  auto a = StartLearnedSender(s, sizes);
  ASSERT_TRUE(WaitFor([&] { return s.Packets(0, "vhost", "tx") == frames + 1; }, 30s))
      << s.Report() << a->process().Log() << s.g().Log("vhost");
  ASSERT_TRUE(WaitFor([&] { return s.Packets(1, "vhost", "rx") == frames; }, 20s)) << s.Report();
  EXPECT_EQ(s.Drops(1, "switching", "rx", "oversize"), 0) << s.Report();
  EXPECT_EQ(s.Drops(0, "switching", "tx", "oversize"), 0) << s.Report();
  if (GetParam().direct) {
    EXPECT_EQ(s.Packets(1, "direct", "rx"), frames) << s.Report();
  } else {
    EXPECT_EQ(s.Packets(1, "switching", "rx"), frames) << s.Report();
    EXPECT_EQ(s.Packets(1, "direct", "rx"), 0) << s.Report();
  }
  if (GetParam().zero_copy) {
    // vswitch-vhost forwards the counter about every 100 ms.
    EXPECT_TRUE(WaitFor([&] { return s.g().Metric("vswitch_zero_copy_packets_total", {{"device", "0"}}) >= 8; }, 5s))
        << "jumbo frames by reference: " << s.g().Metric("vswitch_zero_copy_copied_total", {{"device", "0"}})
        << " copied; " << s.Report();
  }
  b->process().Stop(SIGINT, 10s);  // its pcap is complete once testpmd closed the port
  Received c = CheckPcap(b_out, kMacB, kMacA);
  EXPECT_EQ(c.good_by_size[kJumbo], 8) << c.text;
  EXPECT_EQ(c.good_by_size[64], 1) << c.text;
  EXPECT_EQ(c.good_by_size[1514], 1) << c.text;
  EXPECT_EQ(c.bad, 0) << c.text;
  EXPECT_EQ(c.dup, 0) << c.text;
  EXPECT_EQ(s.g().RoleState("vhost"), "up");
  EXPECT_EQ(s.g().RoleState("switching"), "up");
  if (GetParam().packed) {
    // Both guests run packed rings: the library's "device ready" lines say bit 34.
    const std::string log = s.g().Log("vhost");
    size_t packed_devices = 0;
    for (size_t at = log.find("device ready on"); at != std::string::npos; at = log.find("device ready on", at + 1)) {
      const auto f = log.find("features 0x", at);
      if (f != std::string::npos && (std::stoull(log.substr(f + 11, 16), nullptr, 16) & (1ull << 34)) != 0) ++packed_devices;
    }
    EXPECT_GE(packed_devices, 2u) << log;
  }
}

INSTANTIATE_TEST_SUITE_P(
    CopyZeroCopySwitchingDirect, JumboGuestToGuestTest,
    testing::Values(GroupSetup{true, false, false, ""}, GroupSetup{true, true, false, ""},
                    GroupSetup{true, false, true, ""}, GroupSetup{true, true, true, ""},
                    // Packed virtqueues (VIRTIO 1.2 2.8) on both guests.
                    GroupSetup{true, false, false, "", true}, GroupSetup{true, true, true, "", true}),
    [](const testing::TestParamInfo<GroupSetup>& info) {
      return std::string(info.param.packed ? "Packed" : "") + (info.param.zero_copy ? "ZeroCopy" : "Copy") +
             (info.param.direct ? "Direct" : "ThroughSwitching");
    });

// A guest without mergeable RX buffers (1526-byte buffers) cannot take a 9000-byte frame:
// switching drops it and counts it as oversize against that guest, never truncates it;
// the frames it can take still arrive. Direct-vm2vm on: the direct path leaves such a
// frame to switching, which counts it.
TEST(JumboGroupTest, ToAGuestWithoutMergeableBuffersIsDroppedAndCounted) {
  JumboGroup s(GroupSetup{false, false, true, ""});
  ASSERT_TRUE(s.ok()) << s.why();
  std::string b_out;
  auto b = StartReceiver(s, &b_out);
  const std::vector<int> sizes = {64, kJumbo, 1514, kJumbo, 1515, kJumbo, 64};
  auto a = StartLearnedSender(s, sizes);
  ASSERT_TRUE(WaitFor([&] { return s.Packets(0, "vhost", "tx") == 8; }, 30s)) << s.Report() << a->process().Log();
  ASSERT_TRUE(WaitFor([&] { return s.Drops(1, "switching", "rx", "oversize") == 4; }, 20s)) << s.Report();
  ASSERT_TRUE(WaitFor([&] { return s.Packets(1, "vhost", "rx") == 3; }, 20s)) << s.Report();
  EXPECT_EQ(s.Drops(0, "switching", "tx", "oversize"), 0) << "B's limit, not A's drop: " << s.Report();
  EXPECT_EQ(s.Drops(1, "vhost", "rx", "oversize"), 0) << "refused before it reached B's queue: " << s.Report();
  EXPECT_NE(s.g().Log("switching").find("device 1: frames larger than 1514 bytes dropped (oversize)"),
            std::string::npos) << s.g().Log("switching");
  b->process().Stop(SIGINT, 10s);
  Received c = CheckPcap(b_out, kMacB, kMacA);
  EXPECT_EQ(c.good_by_size[64], 2) << c.text;
  EXPECT_EQ(c.good_by_size[1514], 1) << c.text;
  EXPECT_EQ(c.good_by_size.count(kJumbo), 0u) << c.text;
  EXPECT_EQ(c.bad, 0) << "nothing truncated: " << c.text;
  EXPECT_EQ(s.g().RoleState("vhost"), "up");
  EXPECT_EQ(s.g().RoleState("switching"), "up");
}

// [primary] mtu = auto with mergeable on asks for 9710 and gets what the port takes (the
// kernel side of the tap shows it); frames up to that MTU + 14 leave on the port, larger
// ones are counted as oversize against the sender.
TEST(JumboGroupTest, PortMtuFollowsMergeableAndLargerFramesAreCounted) {
  JumboGroup s(GroupSetup{true, false, false, ""});
  ASSERT_TRUE(s.ok()) << s.why();
  const std::string primary = s.g().Log("primary");
  const auto at = primary.find(" MTU ");
  ASSERT_NE(at, std::string::npos) << primary;
  const int mtu = std::stoi(primary.substr(at + 5));
  EXPECT_NE(primary.find("MTU " + std::to_string(mtu) + " (asked 9710"), std::string::npos) << primary;
  EXPECT_GT(mtu, 1500) << "the tap takes more than the default: " << primary;
  int kernel_mtu = 0;
  std::istringstream(ReadFile("/sys/class/net/" + s.g().iface() + "/mtu")) >> kernel_mtu;
  EXPECT_EQ(kernel_mtu, mtu) << "the port's side of the tap";
  EXPECT_EQ(s.g().Status(".port_mtu"), std::to_string(mtu)) << "deploy/vswitch status --json";
  EXPECT_NE(s.g().Log("switching").find("max frame toward the port " + std::to_string(mtu + 14) + " bytes"),
            std::string::npos) << s.g().Log("switching");

  const std::vector<int> sizes = {64, mtu + 14, mtu + 15, kJumbo};
  const std::string a_in = s.g().dir() / "a_in.pcap", a_out = s.g().dir() / "a_out.pcap";
  WritePcap(a_in, kHost, kMacA, sizes);
  auto a = PcapGuest(s, 0, kMacA, a_in, a_out);
  ASSERT_TRUE(WaitFor([&] { return s.Packets(0, "vhost", "tx") == 4; }, 30s)) << s.Report() << a->process().Log();
  EXPECT_TRUE(WaitFor([&] { return s.Drops(0, "switching", "tx", "oversize") == 2; }, 20s)) << s.Report();
  EXPECT_TRUE(WaitFor([&] {
    return s.g().Metric("vswitch_port_switched_packets_total", {{"direction", "tx"}}) == 2;
  }, 20s)) << "the 64-byte and the MTU + 14 frames: " << s.Report();
  EXPECT_NE(s.g().Log("switching").find("device 0: frames larger than " + std::to_string(mtu + 14) +
                                        " bytes toward the port dropped (oversize): the port's MTU is " +
                                        std::to_string(mtu)),
            std::string::npos) << s.g().Log("switching");
}

// An explicit [primary] mtu wins over auto.
TEST(JumboGroupTest, ExplicitPortMtuIsSetAndPublished) {
  JumboGroup s(GroupSetup{true, false, false, "1400"});
  ASSERT_TRUE(s.ok()) << s.why();
  EXPECT_NE(s.g().Log("primary").find("MTU 1400 (asked 1400"), std::string::npos) << s.g().Log("primary");
  int kernel_mtu = 0;
  std::istringstream(ReadFile("/sys/class/net/" + s.g().iface() + "/mtu")) >> kernel_mtu;
  EXPECT_EQ(kernel_mtu, 1400);
  EXPECT_EQ(s.g().Status(".port_mtu"), "1400");
  EXPECT_NE(s.g().Log("switching").find("max frame toward the port 1414 bytes"), std::string::npos)
      << s.g().Log("switching");
}

}  // namespace
}  // namespace vswitch::test
