// The library against a vhost-user front-end someone else wrote: DPDK's virtio-user PMD
// in dpdk-testpmd (testing.md "Peer 1"). Our harness (vswitch-vhost-harness, core 1)
// and testpmd (forwarding on core 0) run as separate processes with their own file
// prefixes; every process is stopped by pid and every leftover removed.
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "process.h"
#include "test_env.h"

namespace vswitch::test {
namespace {

using namespace std::chrono_literals;

std::map<std::string, std::string> ParseCounters(const std::string& log, const std::string& tag) {
  std::map<std::string, std::string> out;
  std::istringstream in(log);
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.rfind(tag + " ", 0) == 0) last = line;
  }
  std::istringstream words(last);
  std::string w;
  while (words >> w) {
    const auto eq = w.find('=');
    if (eq != std::string::npos) out[w.substr(0, eq)] = w.substr(eq + 1);
  }
  return out;
}

uint64_t U(const std::map<std::string, std::string>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? ~0ull : std::stoull(it->second);
}

// testpmd's "Accumulated forward statistics for all ports" block, printed on exit.
struct TestpmdTotals {
  uint64_t rx = ~0ull;
  uint64_t tx = ~0ull;
};

TestpmdTotals ParseTestpmd(const std::string& log) {
  TestpmdTotals t;
  const auto pos = log.rfind("Accumulated forward statistics");
  if (pos == std::string::npos) return t;
  const std::string tail = log.substr(pos);
  std::smatch m;
  if (std::regex_search(tail, m, std::regex(R"(RX-packets:\s+(\d+))"))) t.rx = std::stoull(m[1]);
  if (std::regex_search(tail, m, std::regex(R"(TX-packets:\s+(\d+))"))) t.tx = std::stoull(m[1]);
  return t;
}

// testpmd counts a packet as sent once it is in the virtio TX ring. When it exits it
// disables the ring right after it stops forwarding, so up to one ring (queue_size,
// 256 by default) of sent packets may never be handed to the back-end. On its RX side
// one more 32-packet burst can be in flight at that moment (seen: exactly 288 =
// 256 + 32 short in every macswap run). The bound is per ring, for the direction
// testpmd transmits.
constexpr uint64_t kRingSize = 256 + 32;

::testing::AssertionResult AllButLastRing(uint64_t received, uint64_t sent, uint64_t rings = 1) {
  if (received <= sent && sent - received <= rings * kRingSize) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "received " << received << " of " << sent
                                       << " sent (at most " << rings * kRingSize << " may be left in rings)";
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) ++n;
  return n;
}

class VirtioUserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RemoveDpdkLeftovers(harness_prefix_);
    RemoveDpdkLeftovers(testpmd_prefix_);
  }
  void TearDown() override {
    harness_.Stop(SIGKILL);
    testpmd_.Stop(SIGKILL);
    RemoveDpdkLeftovers(harness_prefix_);
    RemoveDpdkLeftovers(testpmd_prefix_);
    EXPECT_TRUE(HugepageFiles(harness_prefix_).empty());
    EXPECT_TRUE(HugepageFiles(testpmd_prefix_).empty());
  }

  void StartHarness(std::vector<std::string> args) {
    std::vector<std::string> argv = {VSWITCH_VHOST_HARNESS, "--socket", sock_, "--file-prefix",
                                     harness_prefix_, "--lcore", "1", "-m", "256"};
    argv.insert(argv.end(), args.begin(), args.end());
    // A test that starts several harnesses in turn appends to one log: wait for this
    // one's line (its socket exists then), not an earlier one's.
    const size_t started = Count(ReadFile(dir_ / "harness.log"), "HARNESS_EVENT started");
    harness_ = Process(argv, dir_ / "harness.log");
    ASSERT_GT(harness_.pid(), 0);
    ASSERT_TRUE(WaitFor([&] { return Count(harness_.Log(), "HARNESS_EVENT started") > started; }, 20s))
        << harness_.Log();
  }

  void StartTestpmd(const std::string& vdev_extra, std::vector<std::string> args) {
    const std::string log = dir_ / ("testpmd" + std::to_string(++testpmd_runs_) + ".log");
    std::vector<std::string> argv = {
        "/usr/bin/dpdk-testpmd", "--no-pci", "--single-file-segments",
        "--file-prefix=" + testpmd_prefix_, "-l", "0,1", "--main-lcore", "1", "-m", "256",
        "--vdev", "net_virtio_user0,path=" + sock_ + vdev_extra, "--", "--stats-period", "1"};
    argv.insert(argv.end(), args.begin(), args.end());
    testpmd_ = Process(argv, log);
    ASSERT_GT(testpmd_.pid(), 0);
  }

  // Lets traffic run for `seconds` after both sides are up.
  void Run(int new_devices, std::chrono::seconds seconds) {
    ASSERT_TRUE(WaitFor([&] { return Count(harness_.Log(), "HARNESS_EVENT new_device") >= static_cast<size_t>(new_devices); }, 30s))
        << harness_.Log() << "\n---\n" << testpmd_.Log();
    std::this_thread::sleep_for(seconds);
  }

  // SIGINT makes testpmd stop forwarding and print its totals before it closes the port.
  TestpmdTotals StopTestpmd() {
    testpmd_.Stop(SIGINT, 20s);
    const std::string log = testpmd_.Log();
    return ParseTestpmd(log);
  }

  std::map<std::string, std::string> StopHarness() {
    const int status = harness_.Stop(SIGTERM, 20s);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << harness_.Log();
    return ParseCounters(harness_.Log(), "HARNESS");
  }

  TempDir dir_;
  std::string sock_ = dir_ / "vm0.sock";
  std::string harness_prefix_ = UniqueName("vshh");
  std::string testpmd_prefix_ = UniqueName("vsht");
  Process harness_;
  Process testpmd_;
  int testpmd_runs_ = 0;
};

// (a) Server mode: virtio-user txonly -> our sink, every packet with exactly the bytes
// testpmd generated (length, IPv4/UDP header fields and checksum).
TEST_F(VirtioUserTest, ServerModeGuestTxReachesSinkIntact) {
  StartHarness({"--mode", "sink", "--check-txonly", "--size", "64"});
  StartTestpmd(",queues=1", {"--forward-mode=txonly", "--txpkts=64"});
  Run(1, 3s);
  const TestpmdTotals tp = StopTestpmd();
  // Give the harness time to drain what testpmd put on the ring before it left.
  ASSERT_TRUE(WaitFor([&] { return harness_.Log().find("destroy_device") != std::string::npos; }, 10s));
  const auto h = StopHarness();
  ASSERT_NE(tp.tx, ~0ull) << testpmd_.Log();
  EXPECT_GT(tp.tx, 10000u);
  EXPECT_TRUE(AllButLastRing(U(h, "rx_packets"), tp.tx)) << harness_.Log();
  EXPECT_EQ(U(h, "rx_ok"), U(h, "rx_packets"));
  EXPECT_EQ(U(h, "rx_bad"), 0u);
  EXPECT_EQ(U(h, "rx_bytes"), U(h, "rx_packets") * 64);
  EXPECT_EQ(U(h, "ring_drops"), 0u);
  std::printf("guest TX 64 B: %llu packets\n", static_cast<unsigned long long>(tp.tx));
}

// (b) Both directions at once: our numbered packets -> virtio-user macswap -> back to us,
// byte-identical apart from the swapped MAC addresses.
TEST_F(VirtioUserTest, SourceThroughMacswapComesBackByteIdentical) {
  StartHarness({"--mode", "source", "--size", "128", "--mergeable", "1"});
  StartTestpmd(",queues=1,mrg_rxbuf=1", {"--forward-mode=macswap"});
  Run(1, 3s);
  const TestpmdTotals tp = StopTestpmd();
  ASSERT_TRUE(WaitFor([&] { return harness_.Log().find("destroy_device") != std::string::npos; }, 10s));
  const auto h = StopHarness();
  ASSERT_NE(tp.rx, ~0ull) << testpmd_.Log();
  EXPECT_GT(U(h, "rx_ok"), 10000u) << harness_.Log();
  EXPECT_EQ(U(h, "rx_bad"), 0u);
  EXPECT_TRUE(AllButLastRing(U(h, "rx_packets"), tp.tx));  // what testpmd sent back arrived
  // testpmd got what we sent, except what it flushed uncounted from its RX queue before
  // forwarding started (flush_fwd_rx_queues) and what was in flight when it stopped.
  EXPECT_LE(tp.rx, U(h, "tx_packets"));
  EXPECT_GE(tp.rx, U(h, "tx_packets") * 99 / 100);
  EXPECT_EQ(U(h, "ring_drops"), 0u);
}

TEST_F(VirtioUserTest, SourceWithoutMergeableBuffers) {
  StartHarness({"--mode", "source", "--size", "1000", "--mergeable", "0"});
  StartTestpmd(",queues=1,mrg_rxbuf=0", {"--forward-mode=macswap"});
  Run(1, 2s);
  const TestpmdTotals tp = StopTestpmd();
  ASSERT_TRUE(WaitFor([&] { return harness_.Log().find("destroy_device") != std::string::npos; }, 10s));
  const auto h = StopHarness();
  EXPECT_GT(U(h, "rx_ok"), 1000u) << harness_.Log();
  EXPECT_EQ(U(h, "rx_bad"), 0u);
  EXPECT_TRUE(AllButLastRing(U(h, "rx_packets"), tp.tx));
}

// (c) Client mode: virtio-user listens (server=1); killing and restarting it must
// destroy the device and bring it back with traffic, by reconnecting every second.
TEST_F(VirtioUserTest, ClientModeReconnectsAfterFrontendRestart) {
  StartTestpmd(",queues=1,server=1", {"--forward-mode=txonly", "--txpkts=64"});
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(sock_); }, 20s)) << testpmd_.Log();
  StartHarness({"--client", "--mode", "sink", "--check-txonly", "--size", "64"});
  Run(1, 2s);
  ASSERT_GT(U(ParseCounters(harness_.Log(), "HARNESS_PROGRESS"), "rx_ok"), 0u) << harness_.Log();
  testpmd_.Stop(SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return harness_.Log().find("destroy_device") != std::string::npos; }, 10s))
      << harness_.Log();
  std::this_thread::sleep_for(1500ms);  // the harness keeps trying while nobody listens
  const uint64_t before = U(ParseCounters(harness_.Log(), "HARNESS_PROGRESS"), "rx_packets");
  // virtio-user cannot reuse the socket file its killed predecessor left behind.
  std::filesystem::remove(sock_);
  RemoveDpdkLeftovers(testpmd_prefix_);
  StartTestpmd(",queues=1,server=1", {"--forward-mode=txonly", "--txpkts=64"});
  Run(2, 3s);
  const uint64_t after = U(ParseCounters(harness_.Log(), "HARNESS_PROGRESS"), "rx_packets");
  EXPECT_GT(after, before + 10000) << harness_.Log();
  (void)StopTestpmd();
  const auto h = StopHarness();
  EXPECT_EQ(U(h, "rx_bad"), 0u);
  EXPECT_GE(U(h, "new_device"), 2u);
  EXPECT_GE(U(h, "destroy_device"), 2u);
}

// (c') Server mode: the front-end goes away and comes back on the same socket.
TEST_F(VirtioUserTest, ServerModeAcceptsFrontendAgainAfterKill) {
  StartHarness({"--mode", "sink", "--check-txonly", "--size", "64"});
  StartTestpmd(",queues=1", {"--forward-mode=txonly", "--txpkts=64"});
  Run(1, 2s);
  testpmd_.Stop(SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return harness_.Log().find("destroy_device") != std::string::npos; }, 10s));
  RemoveDpdkLeftovers(testpmd_prefix_);
  StartTestpmd(",queues=1", {"--forward-mode=txonly", "--txpkts=64"});
  Run(2, 2s);
  const TestpmdTotals tp = StopTestpmd();
  const auto h = StopHarness();
  EXPECT_GT(tp.tx, 1000u);
  EXPECT_GT(U(h, "rx_ok"), tp.tx);  // the first run's packets plus the second's
  EXPECT_EQ(U(h, "rx_bad"), 0u);
}

// (d) Two queue pairs: traffic on both, intact.
TEST_F(VirtioUserTest, TwoQueuePairs) {
  StartHarness({"--mode", "source", "--queues", "2", "--size", "100"});
  StartTestpmd(",queues=2", {"--forward-mode=macswap", "--rxq=2", "--txq=2"});
  Run(1, 3s);
  const TestpmdTotals tp = StopTestpmd();
  ASSERT_TRUE(WaitFor([&] { return harness_.Log().find("destroy_device") != std::string::npos; }, 10s));
  const auto h = StopHarness();
  EXPECT_EQ(U(h, "rx_bad"), 0u) << harness_.Log();
  EXPECT_TRUE(AllButLastRing(U(h, "rx_packets"), tp.tx, 2));
  const std::string rxq = h.count("rxq") ? h.at("rxq") : "";
  const auto comma = rxq.find(',');
  ASSERT_NE(comma, std::string::npos) << rxq;
  EXPECT_GT(std::stoull(rxq.substr(0, comma)), 1000u) << rxq;
  EXPECT_GT(std::stoull(rxq.substr(comma + 1)), 1000u) << rxq;
}

// ---- packed virtqueues (VIRTIO 1.2 2.8): virtio-user with packed_vq=1 -------------------

// The features the device started with, from the library's "device ready" line (the
// last one: after a reconnect, the newest device); ~0 when there is none.
uint64_t NegotiatedFeatures(const std::string& log) {
  std::smatch m;
  uint64_t f = ~0ull;
  std::string rest = log;
  while (std::regex_search(rest, m, std::regex(R"(device ready on \S+, features 0x([0-9a-f]+))"))) {
    f = std::stoull(m[1], nullptr, 16);
    rest = m.suffix();
  }
  return f;
}

constexpr uint64_t kRingPackedBit = 1ull << 34;

::testing::AssertionResult NegotiatedPacked(const std::string& log) {
  const uint64_t f = NegotiatedFeatures(log);
  if (f == ~0ull) return ::testing::AssertionFailure() << "no device started:\n" << log;
  if ((f & kRingPackedBit) == 0) {
    return ::testing::AssertionFailure() << "split rings negotiated (features 0x" << std::hex << f << ")";
  }
  return ::testing::AssertionSuccess();
}

// Guest TX through a packed ring: every packet testpmd generated, intact.
TEST_F(VirtioUserTest, PackedRingGuestTxReachesSinkIntact) {
  StartHarness({"--mode", "sink", "--check-txonly", "--size", "64", "--packed", "1"});
  StartTestpmd(",queues=1,packed_vq=1", {"--forward-mode=txonly", "--txpkts=64"});
  Run(1, 3s);
  EXPECT_TRUE(NegotiatedPacked(harness_.Log()));
  const TestpmdTotals tp = StopTestpmd();
  ASSERT_TRUE(WaitFor([&] { return harness_.Log().find("destroy_device") != std::string::npos; }, 10s));
  const auto h = StopHarness();
  ASSERT_NE(tp.tx, ~0ull) << testpmd_.Log();
  EXPECT_GT(tp.tx, 10000u);
  EXPECT_TRUE(AllButLastRing(U(h, "rx_packets"), tp.tx)) << harness_.Log();
  EXPECT_EQ(U(h, "rx_ok"), U(h, "rx_packets"));
  EXPECT_EQ(U(h, "rx_bad"), 0u);
  EXPECT_EQ(U(h, "rx_bytes"), U(h, "rx_packets") * 64);
  EXPECT_EQ(U(h, "ring_drops"), 0u);
}

// Both directions through packed rings, with and without IN_ORDER and mergeable RX
// buffers: our numbered packets -> macswap -> back byte-identical (bar the MACs).
TEST_F(VirtioUserTest, PackedRingMacswapBothWaysInOrderAndMergeable) {
  // Each round's harness appends to the same log: its events are counted cumulatively.
  int round = 0;
  for (const int in_order : {0, 1}) {
    for (const int mrg : {0, 1}) {
      ++round;
      SCOPED_TRACE("in_order=" + std::to_string(in_order) + " mrg_rxbuf=" + std::to_string(mrg));
      StartHarness({"--mode", "source", "--size", mrg ? "1500" : "1000", "--mergeable",
                    std::to_string(mrg), "--packed", "1"});
      StartTestpmd(",queues=1,packed_vq=1,in_order=" + std::to_string(in_order) +
                       ",mrg_rxbuf=" + std::to_string(mrg),
                   {"--forward-mode=macswap"});
      Run(round, 2s);
      EXPECT_TRUE(NegotiatedPacked(harness_.Log()));
      const TestpmdTotals tp = StopTestpmd();
      ASSERT_TRUE(WaitFor([&] { return Count(harness_.Log(), "HARNESS_EVENT destroy_device") >= static_cast<size_t>(round); }, 10s));
      const auto h = StopHarness();
      ASSERT_NE(tp.rx, ~0ull) << testpmd_.Log();
      EXPECT_GT(U(h, "rx_ok"), 1000u) << harness_.Log();
      EXPECT_EQ(U(h, "rx_bad"), 0u);
      EXPECT_TRUE(AllButLastRing(U(h, "rx_packets"), tp.tx));
      EXPECT_LE(tp.rx, U(h, "tx_packets"));
      EXPECT_GE(tp.rx, U(h, "tx_packets") * 99 / 100);
      EXPECT_EQ(U(h, "ring_drops"), 0u);
      RemoveDpdkLeftovers(harness_prefix_);
      RemoveDpdkLeftovers(testpmd_prefix_);
    }
  }
}

// Two queue pairs of packed rings, virtio-user's vectorized packed path when the CPU has
// it (it falls back to the scalar one otherwise): traffic on both, intact.
TEST_F(VirtioUserTest, PackedRingTwoQueuePairsVectorized) {
  StartHarness({"--mode", "source", "--queues", "2", "--size", "100", "--packed", "1"});
  StartTestpmd(",queues=2,packed_vq=1,vectorized=1", {"--forward-mode=macswap", "--rxq=2", "--txq=2"});
  Run(1, 3s);
  EXPECT_TRUE(NegotiatedPacked(harness_.Log()));
  const TestpmdTotals tp = StopTestpmd();
  ASSERT_TRUE(WaitFor([&] { return harness_.Log().find("destroy_device") != std::string::npos; }, 10s));
  const auto h = StopHarness();
  EXPECT_EQ(U(h, "rx_bad"), 0u) << harness_.Log();
  EXPECT_TRUE(AllButLastRing(U(h, "rx_packets"), tp.tx, 2));
  const std::string rxq = h.count("rxq") ? h.at("rxq") : "";
  const auto comma = rxq.find(',');
  ASSERT_NE(comma, std::string::npos) << rxq;
  EXPECT_GT(std::stoull(rxq.substr(0, comma)), 1000u) << rxq;
  EXPECT_GT(std::stoull(rxq.substr(comma + 1)), 1000u) << rxq;
}

// Client mode with packed rings: the front-end restarts, the device comes back with
// traffic (the new front-end sets the vring base with its wrap counter again).
TEST_F(VirtioUserTest, PackedRingClientModeReconnects) {
  StartTestpmd(",queues=1,server=1,packed_vq=1", {"--forward-mode=txonly", "--txpkts=64"});
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(sock_); }, 20s)) << testpmd_.Log();
  StartHarness({"--client", "--mode", "sink", "--check-txonly", "--size", "64", "--packed", "1"});
  Run(1, 2s);
  EXPECT_TRUE(NegotiatedPacked(harness_.Log()));
  ASSERT_GT(U(ParseCounters(harness_.Log(), "HARNESS_PROGRESS"), "rx_ok"), 0u) << harness_.Log();
  testpmd_.Stop(SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return harness_.Log().find("destroy_device") != std::string::npos; }, 10s))
      << harness_.Log();
  std::this_thread::sleep_for(1500ms);
  const uint64_t before = U(ParseCounters(harness_.Log(), "HARNESS_PROGRESS"), "rx_packets");
  std::filesystem::remove(sock_);
  RemoveDpdkLeftovers(testpmd_prefix_);
  StartTestpmd(",queues=1,server=1,packed_vq=1", {"--forward-mode=txonly", "--txpkts=64"});
  Run(2, 3s);
  EXPECT_TRUE(NegotiatedPacked(harness_.Log()));
  const uint64_t after = U(ParseCounters(harness_.Log(), "HARNESS_PROGRESS"), "rx_packets");
  EXPECT_GT(after, before + 10000) << harness_.Log();
  (void)StopTestpmd();
  const auto h = StopHarness();
  EXPECT_EQ(U(h, "rx_bad"), 0u);
  EXPECT_GE(U(h, "new_device"), 2u);
}

std::vector<uint32_t> ReadSeqs(const std::string& path) {
  std::vector<uint32_t> out;
  std::istringstream in(ReadFile(path));
  uint32_t v = 0;
  while (in >> v) out.push_back(v);
  return out;
}

// A back-end killed under traffic on packed rings (docs/architecture.md "Resuming a
// packed ring"). The guest (virtio-user, listening: server=1) forwards a pcap of
// numbered frames with retry; a slow first instance, which records its rings' positions
// in a file, is killed -9 with traffic flowing, and a second instance with the same
// records takes over. virtio-user resets its packed rings when it reconnects (it drops
// what was on them) and asks for their bases first: the second instance must start from
// the reset ring, not from the dead one's position, and no frame may arrive twice.
class PackedKillTest : public VirtioUserTest {
 protected:
  static constexpr uint32_t kFrames = 20000;

  void Command(const std::string& command) {
    const std::string line = command + "\n";
    ASSERT_EQ(write(fifo_fd_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  }
  void TearDown() override {
    if (fifo_fd_ >= 0) close(fifo_fd_);
    VirtioUserTest::TearDown();
  }

  // Numbered 128-byte frames (ethertype 0x88b5, index in the first 4 payload bytes),
  // written as a pcap without scapy: 20000 frames in well under a second.
  void WritePcap(const std::string& path) {
    const CommandResult py = RunCommand(
        {"/usr/bin/python3", "-c",
         "import sys, struct\n"
         "with open(sys.argv[1], 'wb') as f:\n"
         "  f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))\n"
         "  for i in range(int(sys.argv[2])):\n"
         "    fr = bytes.fromhex('02000000000b02000000000a88b5') + struct.pack('>I', i) + bytes((i + k) & 0xff for k in range(110))\n"
         "    f.write(struct.pack('<IIII', 0, 0, len(fr), len(fr)) + fr)\n",
         path, std::to_string(kFrames)},
        60s);
    ASSERT_EQ(py.exit_code, 0) << py.output;
  }

  void StartGuest(const std::string& pcap) {
    const std::string fifo = dir_ / ("testpmd" + std::to_string(++guests_) + ".in");
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    if (fifo_fd_ >= 0) close(fifo_fd_);
    fifo_fd_ = open(fifo.c_str(), O_RDWR | O_CLOEXEC);  // RDWR: never blocks, never EOF
    ASSERT_GE(fifo_fd_, 0);
    testpmd_ = Process({"bash", "-c", "exec \"$@\" < " + fifo, "bash", "/usr/bin/dpdk-testpmd", "--no-pci",
                        "--single-file-segments", "--file-prefix=" + testpmd_prefix_, "-l", "0,1",
                        "--main-lcore", "1", "-m", "256", "--no-telemetry", "--vdev",
                        "net_virtio_user0,path=" + sock_ + ",server=1,queue_size=256,packed_vq=1", "--vdev",
                        "net_pcap0,rx_pcap=" + pcap + ",tx_pcap=" + std::string(dir_ / "out.pcap"), "--",
                        "--forward-mode=io", "--no-flush-rx", "--total-num-mbufs=8192", "-i"},
                       dir_ / ("testpmd" + std::to_string(guests_) + ".log"));
    ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(sock_); }, 20s)) << testpmd_.Log();
  }

  Process StartInstance(const std::string& log, const std::string& seq, std::vector<std::string> extra) {
    std::vector<std::string> argv = {VSWITCH_VHOST_HARNESS, "--socket", sock_, "--file-prefix", harness_prefix_,
                                     "--lcore", "1", "-m", "256", "--client", "--mode", "sink", "--packed", "1",
                                     "--ring-records", records_, "--seq-file", seq};
    argv.insert(argv.end(), extra.begin(), extra.end());
    Process p(argv, dir_ / log);
    EXPECT_TRUE(WaitFor([&] { return p.Log().find("new_device") != std::string::npos; }, 30s)) << p.Log();
    return p;
  }

  static uint64_t Lines(const std::string& path) { return ReadSeqs(path).size(); }

  int fifo_fd_ = -1;
  int guests_ = 0;
  std::string records_ = dir_ / "ring-records";
};

TEST_F(PackedKillTest, BackEndKilledUnderTrafficRestartsWithNoFrameTwice) {
  const std::string pcap = dir_ / "in.pcap";
  WritePcap(pcap);
  for (const bool zero_copy : {false, true}) {
    SCOPED_TRACE(zero_copy ? "dequeue zero-copy" : "copy");
    const std::string tag = zero_copy ? "zc" : "copy";
    const std::string seq1 = dir_ / (tag + "-seq1.txt"), seq2 = dir_ / (tag + "-seq2.txt");
    StartGuest(pcap);
    std::vector<std::string> extra = {"--burst-delay-us", "2000"};
    if (zero_copy) extra.push_back("--zero-copy");
    harness_ = StartInstance(tag + "-harness1.log", seq1, extra);
    std::this_thread::sleep_for(1s);  // testpmd's own "link state change" first
    Command("set fwd io retry");
    Command("set burst tx delay 1000 retry 10000");
    Command("start");
    // Killed with traffic flowing: some frames in, most still to come.
    ASSERT_TRUE(WaitFor([&] { return Lines(seq1) >= 2000; }, 30s)) << harness_.Log() << testpmd_.Log();
    harness_.Stop(SIGKILL);
    const uint64_t first = Lines(seq1);
    ASSERT_LT(first, kFrames - 2000u) << "the slow instance took nearly everything before the kill";
    RemoveDpdkLeftovers(harness_prefix_);
    extra = {"--debug"};
    if (zero_copy) extra.push_back("--zero-copy");
    harness_ = StartInstance(tag + "-harness2.log", seq2, extra);
    // Everything testpmd still had goes to the second instance.
    uint64_t last = 0;
    ASSERT_TRUE(WaitFor([&] {
      const uint64_t now = Lines(seq2);
      const bool still = now == last && now > 0;
      last = now;
      if (!still) std::this_thread::sleep_for(500ms);
      return still && first + now >= kFrames - kRingSize;
    }, 60s)) << "first " << first << " second " << Lines(seq2) << "\n" << harness_.Log() << testpmd_.Log();
    const std::string log2 = harness_.Log();
    const auto h = StopHarness();
    Command("quit");
    (void)testpmd_.Wait(10s);
    testpmd_.Stop(SIGKILL);
    close(fifo_fd_);
    fifo_fd_ = -1;
    std::filesystem::remove(sock_);
    RemoveDpdkLeftovers(testpmd_prefix_);
    RemoveDpdkLeftovers(harness_prefix_);

    std::map<uint32_t, int> seen;
    for (const std::string& f : {seq1, seq2}) {
      for (uint32_t v : ReadSeqs(f)) ++seen[v];
    }
    uint32_t twice = 0;
    for (const auto& [frame, times] : seen) twice += times > 1 ? 1 : 0;
    EXPECT_EQ(twice, 0u) << "frames received by both instances, or twice by one";
    std::printf("%s: first instance %llu frames, killed; second %llu; distinct %zu of %u\n", tag.c_str(),
                static_cast<unsigned long long>(first), static_cast<unsigned long long>(Lines(seq2)), seen.size(),
                kFrames);
    // Lost: at most what was on the guest's TX ring when virtio-user reset it, and the
    // burst the killed instance had taken but not written down.
    EXPECT_GE(seen.size(), kFrames - kRingSize) << "first " << first << " second " << Lines(seq2);
    EXPECT_GT(Lines(seq2), 0u);
    EXPECT_TRUE(NegotiatedPacked(log2));
    // virtio-user asked for the bases (GET_VRING_BASE) and reset its rings: the dead
    // instance's positions were not used.
    EXPECT_NE(log2.find("VHOST_USER_GET_VRING_BASE"), std::string::npos) << log2;
    EXPECT_EQ(log2.find("resuming the packed ring"), std::string::npos) << log2;
    EXPECT_EQ(U(h, "new_device"), 1u);
  }
}

// After a restart of the back-end, a new front-end process (new memory files, though
// DPDK maps them at the same addresses) starts at its own base: the record left by the
// killed instance names another ring.
TEST_F(PackedKillTest, AFreshFrontEndAfterABackEndRestartStartsAtItsOwnBase) {
  StartTestpmd(",queues=1,server=1,packed_vq=1", {"--forward-mode=txonly", "--txpkts=64"});
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(sock_); }, 20s)) << testpmd_.Log();
  harness_ = StartInstance("harness1.log", dir_ / "seq1.txt", {"--check-txonly", "--size", "64"});
  Run(1, 2s);
  ASSERT_GT(U(ParseCounters(harness_.Log(), "HARNESS_PROGRESS"), "rx_ok"), 10000u) << harness_.Log();
  harness_.Stop(SIGKILL);
  testpmd_.Stop(SIGKILL);
  RemoveDpdkLeftovers(harness_prefix_);
  RemoveDpdkLeftovers(testpmd_prefix_);
  std::filesystem::remove(sock_);
  StartTestpmd(",queues=1,server=1,packed_vq=1", {"--forward-mode=txonly", "--txpkts=64"});
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(sock_); }, 20s)) << testpmd_.Log();
  harness_ = StartInstance("harness2.log", dir_ / "seq2.txt", {"--check-txonly", "--size", "64"});
  Run(1, 3s);
  const std::string log2 = harness_.Log();
  (void)StopTestpmd();
  const auto h = StopHarness();
  EXPECT_NE(log2.find("vring 1: packed ring starts at the front-end's base (another ring"), std::string::npos)
      << log2;
  EXPECT_EQ(log2.find("resuming the packed ring"), std::string::npos) << log2;
  EXPECT_GT(U(h, "rx_ok"), 10000u) << log2;
  EXPECT_EQ(U(h, "rx_bad"), 0u);
}

// Without --packed 1 the back-end does not offer packed rings, and virtio-user falls
// back to split ones: traffic still flows.
TEST_F(VirtioUserTest, PackedRingNotOfferedFallsBackToSplit) {
  StartHarness({"--mode", "sink", "--check-txonly", "--size", "64", "--packed", "0"});
  StartTestpmd(",queues=1,packed_vq=1", {"--forward-mode=txonly", "--txpkts=64"});
  Run(1, 2s);
  const uint64_t f = NegotiatedFeatures(harness_.Log());
  ASSERT_NE(f, ~0ull) << harness_.Log();
  EXPECT_EQ(f & kRingPackedBit, 0u);
  (void)StopTestpmd();
  const auto h = StopHarness();
  EXPECT_GT(U(h, "rx_ok"), 1000u);
  EXPECT_EQ(U(h, "rx_bad"), 0u);
}

// Dequeue zero-copy across a ring stop (docs/architecture.md "When a ring stops"). The
// guest (virtio-user, listening: server=1) replays a pcap of kFrames numbered 1514-byte
// frames; our first back-end instance takes them all and keeps every mbuf (a consumer
// that holds zero-copy buffers: the first half-queue went by reference, the rest were
// copied once the in-flight cap was reached), then is told to stop and lets go of the
// buffers `release_ms` after the stop began. A second instance connects (virtio-user
// reconnects and resumes the ring) and receives whatever the guest sends next. Across
// the two, every frame must arrive exactly once, and the guest's TX ring must still
// carry traffic afterwards.
struct RingStopRun {
  std::map<uint32_t, int> seen;  // frame index -> times received, both instances
  std::string first_log, second_log, testpmd_log;
  uint64_t after_restart = 0;  // frames (any) the second instance received
};

class ZeroCopyRingStopTest : public VirtioUserTest {
 protected:
  static constexpr uint32_t kFrames = 600;

  // Sends `command` to the interactive testpmd.
  void Command(const std::string& command) {
    const std::string line = command + "\n";
    ASSERT_EQ(write(fifo_fd_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  }

  RingStopRun RunStop(int release_ms) {
    RingStopRun r;
    const std::string in = dir_ / "in.pcap", out = dir_ / "out.pcap";
    const CommandResult py = RunCommand(
        {"/usr/bin/python3", "-c",
         "import sys, struct\nfrom scapy.all import Ether, Raw, wrpcap\n"
         "wrpcap(sys.argv[1], [Ether(dst='02:00:00:00:00:0b', src='02:00:00:00:00:0a', type=0x88b5) /"
         " Raw(struct.pack('>I', i) + bytes((i * 7 + k) & 0xff for k in range(1496)))"
         " for i in range(int(sys.argv[2]))])\n",
         in, std::to_string(kFrames)},
        120s);
    EXPECT_EQ(py.exit_code, 0) << py.output;
    const std::string fifo = dir_ / "testpmd.in";
    EXPECT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    fifo_fd_ = open(fifo.c_str(), O_RDWR | O_CLOEXEC);  // RDWR: never blocks, never EOF
    EXPECT_GE(fifo_fd_, 0);
    // io forwarding: the pcap port's frames go out of the virtio port. --no-flush-rx:
    // the pcap is not drained at start.
    testpmd_ = Process({"bash", "-c", "exec \"$@\" < " + fifo, "bash", "/usr/bin/dpdk-testpmd", "--no-pci",
                        "--single-file-segments", "--file-prefix=" + testpmd_prefix_, "-l", "0,1",
                        "--main-lcore", "1", "-m", "256", "--no-telemetry", "--vdev",
                        "net_virtio_user0,path=" + sock_ + ",server=1,queue_size=256" +
                            (packed_ ? ",packed_vq=1" : ""),
                        "--vdev",
                        "net_pcap0,rx_pcap=" + in + ",tx_pcap=" + out, "--", "--forward-mode=io",
                        "--no-flush-rx", "--total-num-mbufs=8192", "-i"},
                       dir_ / "testpmd.log");
    EXPECT_TRUE(WaitFor([&] { return std::filesystem::exists(sock_); }, 20s)) << testpmd_.Log();
    const std::string seq1 = dir_ / "seq1.txt", seq2 = dir_ / "seq2.txt";
    StartHarness({"--client", "--mode", "sink", "--zero-copy", "--hold-until-exit", std::to_string(release_ms),
                  "--seq-file", seq1, "--packed", packed_ ? "1" : "0"});
    EXPECT_TRUE(WaitFor([&] { return harness_.Log().find("new_device") != std::string::npos; }, 30s))
        << harness_.Log() << testpmd_.Log();
    std::this_thread::sleep_for(1s);  // testpmd's own "Port 0: link state change" first
    // io forwarding frees what the virtio port does not take at once: a harness held off
    // its CPU by the host while testpmd reads the whole pcap saw 256 frames and testpmd
    // dropped the other 344. With retry, testpmd waits up to 5 s for ring room instead.
    Command("set fwd io retry");
    Command("set burst tx delay 1000 retry 5000");
    Command("start");
    const bool all_in = WaitFor([&] {
      return U(ParseCounters(harness_.Log(), "HARNESS_PROGRESS"), "rx_packets") == kFrames;
    }, 30s);
    EXPECT_TRUE(all_in) << harness_.Log() << testpmd_.Log();
    // The first instance stops with the buffers still held.
    const int status = harness_.Stop(SIGTERM, 20s);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << harness_.Log();
    r.first_log = harness_.Log();
    RemoveDpdkLeftovers(harness_prefix_);
    if (!restart_) {
      Command("quit");
      (void)testpmd_.Wait(10s);
      r.testpmd_log = testpmd_.Log();
      close(fifo_fd_);
      fifo_fd_ = -1;
      for (uint32_t v : ReadSeqs(seq1)) ++r.seen[v];
      return r;
    }
    // The second instance: the guest resumes its ring with it; then the guest sends on
    // (testpmd's txonly engine on every port: 64-byte frames, not numbered).
    const std::string log2 = dir_ / "harness2.log";
    harness_ = Process({VSWITCH_VHOST_HARNESS, "--socket", sock_, "--file-prefix", harness_prefix_, "--lcore",
                        "1", "-m", "256", "--client", "--mode", "sink", "--zero-copy", "--seq-file", seq2},
                       log2);
    EXPECT_TRUE(WaitFor([&] { return harness_.Log().find("new_device") != std::string::npos; }, 30s))
        << harness_.Log() << testpmd_.Log();
    std::this_thread::sleep_for(2s);
    Command("stop");
    Command("set fwd txonly");
    Command("start");
    std::this_thread::sleep_for(3s);
    Command("stop");
    std::this_thread::sleep_for(500ms);
    const int status2 = harness_.Stop(SIGTERM, 20s);
    EXPECT_TRUE(WIFEXITED(status2) && WEXITSTATUS(status2) == 0) << harness_.Log();
    r.second_log = harness_.Log();
    r.after_restart = U(ParseCounters(r.second_log, "HARNESS"), "rx_packets");
    Command("quit");
    (void)testpmd_.Wait(10s);
    r.testpmd_log = testpmd_.Log();
    close(fifo_fd_);
    fifo_fd_ = -1;
    for (const std::string& f : {seq1, seq2}) {
      for (uint32_t v : ReadSeqs(f)) ++r.seen[v];
    }
    return r;
  }

  // Every frame exactly once, across both instances.
  static ::testing::AssertionResult EveryFrameOnce(const RingStopRun& r) {
    uint32_t missing = 0, twice = 0, first_twice = 0;
    for (uint32_t i = 0; i < kFrames; ++i) {
      auto it = r.seen.find(i);
      if (it == r.seen.end()) ++missing;
      if (it != r.seen.end() && it->second > 1 && twice++ == 0) first_twice = i;
    }
    if (missing == 0 && twice == 0 && r.seen.size() == kFrames) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << missing << " frame(s) missing, " << twice
                                         << " received more than once (first: " << first_twice << "), "
                                         << r.seen.size() << " distinct of " << kFrames;
  }

  int fifo_fd_ = -1;
  bool packed_ = false;   // virtio-user packed_vq=1, harness --packed 1
  bool restart_ = true;   // a second back-end instance resumes the ring
};

// The holder lets go well within the bound: the back-end waits for it, writes every used
// element, and the next instance has nothing to send again.
TEST_F(ZeroCopyRingStopTest, BuffersHeldAtAStopAreReturnedOnceAndNothingIsSentTwice) {
  const RingStopRun r = RunStop(300);
  EXPECT_NE(r.first_log.find("zero_copy_in_flight=128"), std::string::npos)
      << "half the queue was held by reference when the ring stopped\n" << r.first_log;
  EXPECT_TRUE(EveryFrameOnce(r)) << r.first_log << "\n---\n" << r.second_log;
  EXPECT_EQ(r.first_log.find("still held after"), std::string::npos) << r.first_log;
  EXPECT_NE(r.first_log.find("stopped pool_in_use=0"), std::string::npos) << "every mbuf back\n" << r.first_log;
  // The guest's TX ring was not starved: thousands of frames after the restart.
  EXPECT_GT(r.after_restart, 2000u) << r.second_log << r.testpmd_log;
}

// The holder keeps them past the bound: the stop returns them anyway (the guest loses no
// buffer, nothing is sent twice), says so, and frees the held mbufs unread later.
TEST_F(ZeroCopyRingStopTest, BuffersHeldPastTheBoundAreReturnedAnywayAndSaidSo) {
  const RingStopRun r = RunStop(2500);
  EXPECT_NE(r.first_log.find("zero_copy_in_flight=128"), std::string::npos) << r.first_log;
  EXPECT_NE(r.first_log.find("ring stopped with 128 zero-copy buffer(s) still held after 1000 ms"),
            std::string::npos) << r.first_log;
  EXPECT_NE(r.first_log.find("stopped pool_in_use=0"), std::string::npos) << "every mbuf back\n" << r.first_log;
  EXPECT_TRUE(EveryFrameOnce(r)) << r.first_log << "\n---\n" << r.second_log;
  EXPECT_GT(r.after_restart, 2000u) << r.second_log << r.testpmd_log;
}

// Dequeue zero-copy on a packed ring, with a consumer that holds every buffer: half the
// queue goes by reference and stays held (returned out of order later), the rest is
// copied, so the guest's TX ring is never starved: all 600 frames arrive, each once.
// At the stop the held buffers are returned and every mbuf comes back. (Not here: a
// second back-end resuming the ring; virtio-user sends a fresh base for packed rings.)
TEST_F(ZeroCopyRingStopTest, PackedRingHeldBuffersDoNotStarveTheGuestTxRing) {
  packed_ = true;
  restart_ = false;
  const RingStopRun r = RunStop(300);
  EXPECT_TRUE(NegotiatedPacked(r.first_log));
  EXPECT_NE(r.first_log.find("zero_copy_in_flight=128"), std::string::npos)
      << "half the queue was held by reference when the ring stopped\n" << r.first_log;
  EXPECT_TRUE(EveryFrameOnce(r)) << r.first_log;
  EXPECT_EQ(r.first_log.find("still held after"), std::string::npos) << r.first_log;
  EXPECT_NE(r.first_log.find("stopped pool_in_use=0"), std::string::npos) << "every mbuf back\n" << r.first_log;
}

}  // namespace
}  // namespace vswitch::test
