// Packed virtqueues (VIRTIO 1.2 2.8) through the whole group: vswitch-primary,
// vswitch-vhost offering packed rings ([vhost] packed = 1), vswitch-switching switching
// between guests in software (vm2vm 1) and vswitch-monitor, whose /metrics the counters
// are read from. Two DPDK virtio-user guests in testpmd ask for packed rings
// (packed_vq=1) and send each other numbered frames at the same time, both ways, fed and
// drained through net_pcap ports (pcap_guest.h): every frame one guest sent must arrive at
// the other exactly once with identical bytes, and the group's counters must count
// exactly those frames, per queue pair.
//
// The cases cover what the issue names, each value at least once: vswitch-vhost as the
// vhost-user server (the guests connect) and as the client (the guests listen: server=1),
// one and two queue pairs, in_order 0 and 1, mrg_rxbuf 0 and 1, virtio-user's vectorized
// packed path; and both ways between guests, through switching's rings (direct-vm2vm 0)
// and vswitch-vhost's direct path (the default).
//
// Frames go in rounds, each at most what a guest's ring holds: a testpmd io guest frees
// what its TX ring refuses, so more frames in flight than the ring holds could be lost by
// the guest itself, not the group, and the counts could not be exact. Small rings
// (queue_size 128) let the rounds wrap every ring at least once, most of them several
// times (each wrap flips the ring's wrap counters).
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "pattern_pcap.h"
#include "pcap_guest.h"
#include "process.h"
#include "test_env.h"
#include "test_group.h"

namespace vswitch::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kMacA = "02:00:00:00:00:0a";  // device 0
constexpr const char* kMacB = "02:00:00:00:00:0b";  // device 1
constexpr const char* kHost = "02:00:00:00:00:99";  // behind the port, never learned

constexpr uint64_t kRingPacked = 1ull << 34;  // VIRTIO_F_RING_PACKED
constexpr uint64_t kInOrder = 1ull << 35;     // VIRTIO_F_IN_ORDER
constexpr uint64_t kMrgRxbuf = 1ull << 15;    // VIRTIO_NET_F_MRG_RXBUF

// Each guest's virtio rings (virtio-user queue_size).
constexpr int kQueueSize = 128;
constexpr int kRounds = 6;
// Frames per queue pair per round and direction. The largest case (mergeable, sizes
// below) needs 80 RX buffers of testpmd's 2 KB mbufs on the receiver and, without
// indirect descriptors, 100 TX descriptors on the sender: within the 128 of a ring.
constexpr int kFramesPerQueue = 40;

// Sizes cycled through by frame index. Without mergeable RX buffers a guest takes up to
// 1514 bytes (one 2 KB buffer); with them, frames span several buffers (9000 bytes: five).
const std::vector<uint32_t> kSizesSingleBuffer = {64, 1514, 777, 60, 128, 1000};
const std::vector<uint32_t> kSizesMergeable = {64, 1514, 9000, 3001, 128, 4000};

struct PackedCase {
  const char* name;
  bool client;       // vswitch-vhost connects ([vhost] client); the guests listen (server=1)
  int queues;        // queue pairs per guest
  int in_order;      // virtio-user in_order=
  int mrg_rxbuf;     // virtio-user mrg_rxbuf=
  bool vectorized;   // virtio-user vectorized=1
  bool direct;       // [switching] direct-vm2vm
};
// gtest names a failed case by this instead of the struct's bytes.
void PrintTo(const PackedCase& c, std::ostream* os) { *os << c.name; }

// DPDK's vectorized packed ring path needs AVX512F; without it virtio-user takes the
// scalar one.
bool CpuHasAvx512f() { return ReadFile("/proc/cpuinfo").find(" avx512f") != std::string::npos; }

// The virtio PMD's lines about the ring paths it took, for the test's output.
std::string PathLines(const std::string& log) {
  std::string out;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("packed ring") != std::string::npos && line.find("path") != std::string::npos) out += "\n  " + line;
  }
  return out;
}

class PackedGroup {
 public:
  explicit PackedGroup(const PackedCase& c) {
    std::map<std::string, std::string> o = {
        {"vhost.packed", "1"},
        // Offered; each guest takes it or not (mrg_rxbuf=).
        {"vhost.mergeable", "1"},
        {"switching.vm2vm", "1"},
        {"switching.direct-vm2vm", c.direct ? "1" : "0"},
        // vhost and switching share CPU 1 and the guests' busy polling has CPU 0, as
        // deploy/vswitch places the roles on two CPUs (kill_restart_group_test.cc).
        {"eal.switching-cpu", "1"},
    };
    if (c.client) o["vhost.client"] = "true";
    group_ = std::make_unique<TestGroup>(o);
    up_ = group_->Vswitch({"up"});
    if (up_.exit_code != 0) return;
    (void)group_->TapUp();
  }
  [[nodiscard]] bool ok() const { return up_.exit_code == 0; }
  [[nodiscard]] std::string why() const { return up_.output + group_->Log("primary") + group_->Log("vhost"); }
  TestGroup& g() { return *group_; }

  double Packets(int device, const std::string& stage, const std::string& direction, int queue = -1) {
    std::map<std::string, std::string> labels = {
        {"device", std::to_string(device)}, {"stage", stage}, {"direction", direction}};
    if (queue >= 0) labels["queue"] = std::to_string(queue);
    return group_->Metric("vswitch_device_packets_total", labels);
  }
  double Drops(int device) { return group_->Metric("vswitch_device_drops_total", {{"device", std::to_string(device)}}); }
  double ToPort() { return group_->Metric("vswitch_port_switched_packets_total", {{"direction", "tx"}}); }

  std::string Report() {
    std::ostringstream s;
    for (int d : {0, 1}) {
      s << "device " << d << ": vhost tx " << Packets(d, "vhost", "tx") << ", switching tx "
        << Packets(d, "switching", "tx") << ", switching rx " << Packets(d, "switching", "rx") << ", direct rx "
        << Packets(d, "direct", "rx") << ", vhost rx " << Packets(d, "vhost", "rx") << ", drops " << Drops(d) << "\n";
    }
    s << "to the port " << ToPort() << "\n";
    return s.str();
  }
  // The drop counters that are not 0, for failure messages.
  std::string NonZeroDrops() {
    std::ostringstream s;
    std::istringstream in(group_->Scrape());
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("vswitch_device_drops_total{", 0) == 0 && line.substr(line.rfind(' ') + 1) != "0") s << line << "\n";
    }
    return s.str();
  }
  bool WaitRegistered(const std::string& mac) {
    return WaitFor([&] { return group_->Log("switching").find("mac " + mac + " and vlan") != std::string::npos; }, 30s);
  }
  // The features of the last "device ready" line for `socket` in vswitch-vhost's log (the
  // library's line, as jumbo_group_test.cc reads it); 0 when there is none.
  uint64_t ReadyFeatures(const std::string& socket) {
    const std::string log = group_->Log("vhost");
    const std::string key = "device ready on " + socket + ", features 0x";
    const auto at = log.rfind(key);
    return at == std::string::npos ? 0 : std::stoull(log.substr(at + key.size(), 16), nullptr, 16);
  }

 private:
  std::unique_ptr<TestGroup> group_;
  CommandResult up_;
};

PcapGuest::Options GuestOptions(const PackedCase& c) {
  PcapGuest::Options o;
  o.queues = c.queues;
  o.vdev_extra = ",packed_vq=1,queue_size=" + std::to_string(kQueueSize) + ",in_order=" + std::to_string(c.in_order) +
                 ",mrg_rxbuf=" + std::to_string(c.mrg_rxbuf) + (c.client ? ",server=1" : "") +
                 (c.vectorized ? ",vectorized=1" : "");
  // The virtio PMD's INFO lines name the paths it took (checked below).
  o.eal_extra = {"--log-level=pmd.net.virtio.*:info"};
  // DPDK caps SIMD at 256 bits on x86 unless told otherwise, and its vectorized packed
  // path needs 512 (AVX512F): without this it falls back to the scalar path silently.
  if (c.vectorized) o.eal_extra.push_back("--force-max-simd-bitwidth=512");
  return o;
}

// The frames a guest sends on `queue` in `round`: indexes numbered across rounds and queue
// pairs, sizes cycled (`offset` gives the two guests different sizes at the same index).
std::vector<PatternFrame> RoundFrames(const PackedCase& c, int round, int queue, size_t offset) {
  const std::vector<uint32_t>& sizes = c.mrg_rxbuf ? kSizesMergeable : kSizesSingleBuffer;
  std::vector<PatternFrame> frames;
  const auto first = static_cast<uint32_t>((round * c.queues + queue) * kFramesPerQueue);
  for (uint32_t k = 0; k < kFramesPerQueue; ++k) {
    const uint32_t index = first + k;
    frames.push_back({index, sizes[(index + offset) % sizes.size()]});
  }
  return frames;
}

// Every frame of every out file `to` recorded, checked against what `from` sent.
PatternCheck CheckArrived(PcapGuest& to, const std::string& from, const std::vector<PatternFrame>& sent) {
  PatternCheck check(to.mac(), from);
  for (const std::string& file : to.OutFiles()) {
    bool ok = false;
    check.Add(ReadPcapFrames(file, &ok));
    EXPECT_TRUE(ok) << file << " is not a pcap";
  }
  const std::vector<uint32_t> missing = check.Missing(sent);
  EXPECT_EQ(check.good(), static_cast<int>(sent.size())) << check.Summary();
  EXPECT_TRUE(missing.empty()) << missing.size() << " frames from " << from << " never arrived, the first index "
                               << (missing.empty() ? 0 : missing.front()) << "; " << check.Summary();
  EXPECT_EQ(check.bad(), 0) << check.Summary();
  EXPECT_EQ(check.duplicates(), 0) << check.Summary();
  EXPECT_EQ(check.Unexpected(sent), 0) << "frames of another size than sent: " << check.Summary();
  return check;
}

class PackedGroupTest : public testing::TestWithParam<PackedCase> {};

TEST_P(PackedGroupTest, BothWaysByteForByte) {
  const PackedCase& c = GetParam();
  PackedGroup s(c);
  ASSERT_TRUE(s.ok()) << s.why();
  PcapGuest a(s.g().dir(), "a", s.g().socket(0), kMacA, GuestOptions(c));
  PcapGuest b(s.g().dir(), "b", s.g().socket(1), kMacB, GuestOptions(c));

  // Each guest first sends one frame toward the port (on queue pair 0), so switching
  // learns both MACs before any frame goes from one guest to the other.
  for (PcapGuest* g : {&a, &b}) {
    for (int q = 0; q < c.queues; ++q) {
      ASSERT_TRUE(g->Load(q, kHost, q == 0 ? std::vector<PatternFrame>{PatternFrame{0, 64}} : std::vector<PatternFrame>{}));
    }
    g->Start();
  }
  ASSERT_TRUE(s.WaitRegistered(kMacA)) << s.g().Log("switching") << s.g().Log("vhost") << a.Log();
  ASSERT_TRUE(s.WaitRegistered(kMacB)) << s.g().Log("switching") << s.g().Log("vhost") << b.Log();

  // Both devices run packed rings with exactly the features each guest asked for.
  for (int d : {0, 1}) {
    const uint64_t f = s.ReadyFeatures(s.g().socket(d));
    EXPECT_NE(f & kRingPacked, 0u) << "device " << d << " features 0x" << std::hex << f << "\n" << s.g().Log("vhost");
    EXPECT_EQ((f & kInOrder) != 0, c.in_order == 1) << "device " << d << " features 0x" << std::hex << f;
    EXPECT_EQ((f & kMrgRxbuf) != 0, c.mrg_rxbuf == 1) << "device " << d << " features 0x" << std::hex << f;
    EXPECT_EQ(s.g().Metric("vswitch_device_feature_negotiated", {{"device", std::to_string(d)}, {"feature", "ring_packed"}}), 1)
        << "device " << d;
    EXPECT_TRUE(WaitFor([&] {
      return s.g().Metric("vswitch_device_queue_pairs", {{"device", std::to_string(d)}}) == c.queues;
    }, 10s)) << "device " << d << ": " << s.g().Metric("vswitch_device_queue_pairs", {{"device", std::to_string(d)}});
  }
  // And each guest says so from its side: its packed ring paths (the vectorized ones when
  // asked for and the CPU has AVX512F; DPDK falls back to the scalar ones otherwise, and
  // says that instead).
  const bool vector_paths = c.vectorized && CpuHasAvx512f();
  for (PcapGuest* g : {&a, &b}) {
    const std::string log = g->Log();
    const std::string tx = vector_paths ? "using packed ring vectorized Tx path on port 0"
                                        : "using packed ring standard Tx path on port 0";
    const std::string rx = vector_paths ? "using packed ring vectorized Rx path on port 0"
                           : c.mrg_rxbuf ? "using packed ring mergeable buffer Rx path on port 0"
                                         : "using packed ring standard Rx path on port 0";
    EXPECT_NE(log.find(tx), std::string::npos) << g->mac() << ": " << tx << "\n" << log;
    EXPECT_NE(log.find(rx), std::string::npos) << g->mac() << ": " << rx << "\n" << log;
    if (c.vectorized && !vector_paths) {
      EXPECT_NE(log.find("disabled packed ring vectorized path for requirements not met"), std::string::npos) << log;
    }
  }
  std::printf("%s: guest A's virtio PMD:%s\n", c.name, PathLines(a.Log()).c_str());

  // The rounds, both ways at once. Frames per queue pair are counted from what each
  // guest's out file for that queue pair recorded, before the next round renames it.
  std::vector<PatternFrame> sent_a, sent_b;
  std::vector<int> arrived_a(c.queues, 0), arrived_b(c.queues, 0);
  const int per_round = kFramesPerQueue * c.queues;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    for (int q = 0; q < c.queues; ++q) {
      const auto from_a = RoundFrames(c, round, q, 0), from_b = RoundFrames(c, round, q, 3);
      ASSERT_TRUE(a.Load(q, kMacB, from_a));
      ASSERT_TRUE(b.Load(q, kMacA, from_b));
      sent_a.insert(sent_a.end(), from_a.begin(), from_a.end());
      sent_b.insert(sent_b.end(), from_b.begin(), from_b.end());
    }
    // Neither guest forwards again before both restarted port 1, so nothing is sent
    // before the receiver's out files are fresh.
    ASSERT_TRUE(a.Reopen());
    ASSERT_TRUE(b.Reopen());
    ASSERT_TRUE(WaitFor([&] { return a.Reopened() && b.Reopened(); }, 20s)) << a.Log() << b.Log();
    ASSERT_TRUE(a.Resume());
    ASSERT_TRUE(b.Resume());
    ASSERT_TRUE(WaitFor([&] { return b.Received(kMacA) >= per_round && a.Received(kMacB) >= per_round; }, 30s))
        << "B got " << b.Received(kMacA) << ", A got " << a.Received(kMacB) << " of " << per_round << "\n"
        << s.Report() << s.NonZeroDrops() << s.g().Log("vhost") << a.Log() << b.Log();
    for (int q = 0; q < c.queues; ++q) {
      arrived_b[q] += b.ReceivedOn(q, kMacA);
      arrived_a[q] += a.ReceivedOn(q, kMacB);
    }
  }
  const int n = per_round * kRounds;

  // The group counted exactly these frames: each guest's learning frame and its frames to
  // the other taken from its TX rings, the other's put into its RX rings, nothing dropped,
  // nothing but the two learning frames sent to the port.
  EXPECT_TRUE(WaitFor([&] {
    return s.Packets(0, "vhost", "tx") == n + 1 && s.Packets(1, "vhost", "tx") == n + 1 &&
           s.Packets(0, "vhost", "rx") == n && s.Packets(1, "vhost", "rx") == n;
  }, 10s)) << s.Report();
  EXPECT_EQ(s.Drops(0), 0) << s.NonZeroDrops();
  EXPECT_EQ(s.Drops(1), 0) << s.NonZeroDrops();
  EXPECT_EQ(s.ToPort(), 2) << s.Report();
  for (int d : {0, 1}) {
    if (c.direct) {
      // vswitch-vhost delivers between learned guests itself; what the receiver had no
      // room for at that moment goes through switching (docs/architecture.md).
      EXPECT_GT(s.Packets(d, "direct", "rx"), 0) << s.Report();
      EXPECT_EQ(s.Packets(d, "direct", "rx") + s.Packets(d, "switching", "rx"), n) << s.Report();
    } else {
      EXPECT_EQ(s.Packets(d, "switching", "rx"), n) << s.Report();
      EXPECT_EQ(s.Packets(d, "direct", "rx"), 0) << s.Report();
    }
  }
  // Per queue pair: what each guest sent on queue pair q left through its TX queue q
  // (plus the learning frame on 0); what vswitch-vhost put into a guest's RX queue q is
  // what that guest recorded from it; with two queue pairs both carried frames each way.
  for (int q = 0; q < c.queues; ++q) {
    SCOPED_TRACE("queue pair " + std::to_string(q));
    const double sent_per_queue = kFramesPerQueue * kRounds + (q == 0 ? 1 : 0);
    EXPECT_EQ(s.Packets(0, "vhost", "tx", q), sent_per_queue) << s.Report();
    EXPECT_EQ(s.Packets(1, "vhost", "tx", q), sent_per_queue) << s.Report();
    EXPECT_EQ(s.Packets(1, "vhost", "rx", q), arrived_b[q]) << s.Report();
    EXPECT_EQ(s.Packets(0, "vhost", "rx", q), arrived_a[q]) << s.Report();
    if (c.queues > 1) {
      EXPECT_GT(arrived_b[q], 0);
      EXPECT_GT(arrived_a[q], 0);
    }
  }

  // Every byte: the guests close their files, then every frame is compared.
  a.Stop();
  b.Stop();
  const PatternCheck at_b = CheckArrived(b, kMacA, sent_a);
  const PatternCheck at_a = CheckArrived(a, kMacB, sent_b);
  std::printf("%s: %d frames each way in %d rounds over %d queue pair(s), features 0x%llx / 0x%llx; "
              "A->B %s; B->A %s\n",
              c.name, n, kRounds, c.queues, static_cast<unsigned long long>(s.ReadyFeatures(s.g().socket(0))),
              static_cast<unsigned long long>(s.ReadyFeatures(s.g().socket(1))), at_b.Summary().c_str(),
              at_a.Summary().c_str());
  EXPECT_EQ(s.g().RoleState("vhost"), "up");
  EXPECT_EQ(s.g().RoleState("switching"), "up");
}

INSTANTIATE_TEST_SUITE_P(
    PackedRings, PackedGroupTest,
    testing::Values(
        //        name                               client queues in_order mrg  vectorized direct
        PackedCase{"ServerInOrder0Mrg0",              false, 1,     0,       0,   false,     false},
        PackedCase{"ServerInOrder1Mrg1Direct",        false, 1,     1,       1,   false,     true},
        PackedCase{"ClientInOrder0Mrg1",              true,  1,     0,       1,   false,     false},
        PackedCase{"ClientInOrder1Mrg0Direct",        true,  1,     1,       0,   false,     true},
        PackedCase{"ServerTwoQueuePairsInOrder0Mrg1", false, 2,     0,       1,   false,     false},
        // The vectorized packed path wants IN_ORDER, and takes RX only without mergeable
        // buffers.
        PackedCase{"ClientTwoQueuePairsVectorized",   true,  2,     1,       0,   true,      false}),
    [](const testing::TestParamInfo<PackedCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace vswitch::test
