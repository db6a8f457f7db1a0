// vswitch-latency-peer: two guests in one process, for the wake-up tests
// (tests/integration/wake_latency_test.cc). Port 0 is guest A, port 1 guest B, both DPDK
// virtio-user ports (the guest driver testpmd uses). A sends B single frames, each after a
// random quiet spell, and the peer times each frame from A's transmit to the moment it
// sees the frame in B's receive ring: the latency of a group that had gone idle.
//
//   vswitch-latency-peer EAL-ARGS -- --control FIFO
//
// EAL-ARGS create the two ports (--vdev net_virtio_user0,path=...,mac=... and
// net_virtio_user1) and pin the main lcore (-l CPU). The peer shares the machine's two
// CPUs with the group it measures, so it never spins for long: it sleeps through the
// gaps and between empty polls of B's ring (POLL_US, with a 1 us timer slack), which
// gives up the CPU to a vswitch process sharing it and limits the timing resolution to
// about that interval.
//
// Commands, one a line on FIFO (read until "quit" or end of file); each is answered by
// exactly one line on stdout starting with "REPLY ":
//   learn TIMEOUT_MS
//       A and B send each other a frame every 20 ms until each has received one of the
//       other's, so vswitch-switching has learned both MACs (it learns a source address
//       from a guest's frames; a frame to an unknown unicast address goes to the port).
//       Also reads both links, which lets a server-mode (server=1) virtio-user port
//       accept a restarted back-end.
//       -> "REPLY learned ms=N" or "REPLY learn-failed a=0|1 b=0|1 link_a=0|1 link_b=0|1"
//   send COUNT MAX_GAP_US WAIT_MS SEED SLOW_US
//       COUNT frames A -> B, each after a gap drawn uniformly from [0, MAX_GAP_US] that
//       starts when the previous frame arrived (or was given up on after WAIT_MS). The
//       frame carries a run number and its sequence number; a frame of an earlier run or
//       a learn frame is counted "stale", anything else that is not ours "foreign".
//       -> "REPLY sent=N received=N lost=N duplicates=N out_of_order=N stale=N foreign=N
//           tx_failed=N slow=N aborted=0|1 p50_us=F p99_us=F max_us=F
//           slowest=SEQ:LAT_US:GAP_US,..."
//       Latency is measured only for frames that arrived; a frame that arrives after its
//       wait ended still gets its real latency. "slow" counts frames slower than SLOW_US
//       (or never seen). After 20 of them the run stops (aborted=1): a group that loses
//       every wake-up would otherwise hold the test for COUNT times its fallback.
//   port IFACE VLAN COUNT MIN_GAP_US MAX_GAP_US WAIT_MS SEED SLOW_US
//       As send, but the frames come from outside: written from the kernel's side into
//       the group's net_tap port IFACE (an AF_PACKET socket), tagged VLAN (1000 + A's
//       device), to A's MAC, and timed to their arrival at A. Gaps are uniform in
//       [MIN_GAP_US, MAX_GAP_US]. Same reply as send.
//   quit
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr uint16_t kPortA = 0;
constexpr uint16_t kPortB = 1;
constexpr uint16_t kQueueSize = 256;
constexpr uint32_t kFrameBytes = 64;
constexpr uint16_t kEtherType = 0x88b5;  // IEEE local experimental
constexpr uint32_t kMagic = 0x5657414b;  // "VWAK"
constexpr uint8_t kKindLearn = 1;
constexpr uint8_t kKindMeasure = 2;
constexpr long kPollNs = 10'000;
constexpr uint32_t kMaxSlow = 20;
constexpr uint64_t kNotArrived = UINT64_MAX;

[[noreturn]] void Fail(const std::string& msg) {
  std::fprintf(stderr, "vswitch-latency-peer: %s\n", msg.c_str());
  std::exit(2);
}

uint64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

void SleepNs(long ns) {
  if (ns <= 0) return;
  timespec ts{ns / 1'000'000'000, ns % 1'000'000'000};
  while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) != 0) {
  }
}

// The payload after the Ethernet header. Frames are built and parsed field by field
// (memcpy) since the payload sits at offset 14, unaligned.
struct Tag {
  uint32_t magic = kMagic;
  uint32_t run = 0;
  uint32_t seq = 0;
  uint8_t kind = 0;
};

// The tag at `p`, the first byte after the Ethernet header.
void WriteTag(uint8_t* p, const Tag& tag) {
  const uint16_t type = rte_cpu_to_be_16(kEtherType);
  std::memcpy(p, &type, 2);
  std::memcpy(p + 2, &tag.magic, 4);
  std::memcpy(p + 6, &tag.run, 4);
  std::memcpy(p + 10, &tag.seq, 4);
  p[14] = tag.kind;
}

// Frames written into a network interface from the kernel's side (for a net_tap port:
// what its RX queue receives).
class KernelSide {
 public:
  explicit KernelSide(const std::string& iface) {
    const unsigned index = if_nametoindex(iface.c_str());
    fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (index == 0 || fd_ < 0) return;
    addr_.sll_family = AF_PACKET;
    addr_.sll_ifindex = static_cast<int>(index);
    addr_.sll_halen = 6;
  }
  ~KernelSide() {
    if (fd_ >= 0) close(fd_);
  }
  KernelSide(const KernelSide&) = delete;
  KernelSide& operator=(const KernelSide&) = delete;
  [[nodiscard]] bool ok() const { return fd_ >= 0 && addr_.sll_ifindex != 0; }

  // One 802.1Q frame dst <- src on `vlan` carrying `tag` (64 bytes once untagged).
  bool Send(const rte_ether_addr& dst, const rte_ether_addr& src, uint16_t vlan, const Tag& tag) {
    uint8_t frame[kFrameBytes + 4] = {};
    std::memcpy(frame, dst.addr_bytes, 6);
    std::memcpy(frame + 6, src.addr_bytes, 6);
    const uint16_t tpid = htons(0x8100), tci = htons(vlan);
    std::memcpy(frame + 12, &tpid, 2);
    std::memcpy(frame + 14, &tci, 2);
    WriteTag(frame + 16, tag);
    std::memcpy(addr_.sll_addr, dst.addr_bytes, 6);
    return sendto(fd_, frame, sizeof(frame), 0, reinterpret_cast<const sockaddr*>(&addr_), sizeof(addr_)) ==
           static_cast<ssize_t>(sizeof(frame));
  }

 private:
  int fd_ = -1;
  sockaddr_ll addr_{};
};

class Peer {
 public:
  Peer() {
    pool_ = rte_pktmbuf_pool_create("latency_peer_pool", 2047, 32, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                    rte_socket_id());
    if (pool_ == nullptr) Fail(std::string("mbuf pool: ") + rte_strerror(rte_errno));
    if (rte_eth_dev_count_avail() != 2) Fail("expected two ports (net_virtio_user0 and 1)");
    for (uint16_t port : {kPortA, kPortB}) {
      rte_eth_conf conf{};
      if (rte_eth_dev_configure(port, 1, 1, &conf) != 0) Fail("rte_eth_dev_configure failed");
      if (rte_eth_rx_queue_setup(port, 0, kQueueSize, rte_socket_id(), nullptr, pool_) != 0 ||
          rte_eth_tx_queue_setup(port, 0, kQueueSize, rte_socket_id(), nullptr) != 0) {
        Fail("queue setup failed");
      }
      if (rte_eth_dev_start(port) != 0) Fail("rte_eth_dev_start failed");
    }
    rte_eth_macaddr_get(kPortA, &mac_a_);
    rte_eth_macaddr_get(kPortB, &mac_b_);
  }

  ~Peer() {
    for (uint16_t port : {kPortA, kPortB}) {
      rte_eth_dev_stop(port);
      rte_eth_dev_close(port);
    }
  }

  std::string Learn(uint64_t timeout_ms) {
    const uint64_t start = NowNs();
    const uint64_t deadline = start + timeout_ms * 1'000'000;
    bool at_a = false, at_b = false;
    while (!(at_a && at_b) && NowNs() < deadline) {
      (void)LinkUp(kPortA);
      (void)LinkUp(kPortB);
      Tag t;
      t.kind = kKindLearn;
      (void)Send(kPortB, mac_a_, mac_b_, t);
      (void)Send(kPortA, mac_b_, mac_a_, t);
      const uint64_t until = std::min(NowNs() + 20'000'000, deadline);
      while (!(at_a && at_b) && NowNs() < until) {
        const uint32_t n = Drain(kPortA, [&](const Tag& got, uint64_t) { at_a |= got.kind == kKindLearn; }) +
                           Drain(kPortB, [&](const Tag& got, uint64_t) { at_b |= got.kind == kKindLearn; });
        if (n == 0) SleepNs(kPollNs);
      }
    }
    std::ostringstream out;
    if (at_a && at_b) {
      out << "REPLY learned ms=" << (NowNs() - start) / 1'000'000;
    } else {
      out << "REPLY learn-failed a=" << at_a << " b=" << at_b << " link_a=" << LinkUp(kPortA)
          << " link_b=" << LinkUp(kPortB);
    }
    return out.str();
  }

  // Frames A -> B, through both guests' ports.
  std::string Measure(uint32_t count, uint32_t max_gap_us, uint64_t wait_ms, uint64_t seed, uint64_t slow_us) {
    return Measure(count, 0, max_gap_us, wait_ms, seed, slow_us, kPortB, kPortA,
                   [&](const Tag& t) { return Send(kPortA, mac_b_, mac_a_, t); });
  }

  // Frames from the kernel's side of the group's port `iface` to A, tagged `vlan`.
  std::string MeasureFromPort(const std::string& iface, uint16_t vlan, uint32_t count, uint32_t min_gap_us,
                              uint32_t max_gap_us, uint64_t wait_ms, uint64_t seed, uint64_t slow_us) {
    KernelSide port(iface);
    if (!port.ok()) return "REPLY error: cannot open an AF_PACKET socket on " + iface + ": " + std::strerror(errno);
    const rte_ether_addr outside{{0x02, 0, 0, 0, 0, 0x99}};
    return Measure(count, min_gap_us, max_gap_us, wait_ms, seed, slow_us, kPortA, kPortB,
                   [&](const Tag& t) { return port.Send(mac_a_, outside, vlan, t); });
  }

 private:
  // COUNT frames sent by `send`, each after a gap uniform in [min_gap_us, max_gap_us],
  // timed to their arrival at `rx`; `other`'s receive ring is emptied meanwhile.
  std::string Measure(uint32_t count, uint32_t min_gap_us, uint32_t max_gap_us, uint64_t wait_ms, uint64_t seed,
                      uint64_t slow_us, uint16_t rx, uint16_t other, const std::function<bool(const Tag&)>& send) {
    const uint32_t run = ++run_;
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<uint32_t> gap_us(min_gap_us, std::max(min_gap_us, max_gap_us));
    std::vector<uint64_t> sent_at(count, 0), arrived_at(count, kNotArrived);
    std::vector<uint32_t> gaps(count, 0);
    uint64_t received = 0, duplicates = 0, out_of_order = 0, stale = 0, foreign = 0, tx_failed = 0;
    int64_t highest = -1;
    auto on_frame = [&](const Tag& got, uint64_t now) {
      if (got.kind != kKindMeasure || got.run != run || got.seq >= count) {
        ++(got.magic == kMagic ? stale : foreign);
        return;
      }
      if (arrived_at[got.seq] != kNotArrived) {
        ++duplicates;
        return;
      }
      arrived_at[got.seq] = now;
      ++received;
      if (static_cast<int64_t>(got.seq) < highest) ++out_of_order;
      highest = std::max<int64_t>(highest, got.seq);
    };
    uint32_t slow = 0, sent = 0;
    bool aborted = false;
    for (uint32_t i = 0; i < count; ++i) {
      gaps[i] = gap_us(rng);
      SleepNs(static_cast<long>(gaps[i]) * 1000);
      Tag t;
      t.run = run;
      t.seq = i;
      t.kind = kKindMeasure;
      sent_at[i] = NowNs();
      if (!send(t)) {
        ++tx_failed;
        continue;
      }
      ++sent;
      const uint64_t deadline = sent_at[i] + wait_ms * 1'000'000;
      while (arrived_at[i] == kNotArrived && NowNs() < deadline) {
        // The other receive ring is emptied too (late learn frames), or it would fill.
        if (Drain(rx, on_frame) + Drain(other, [](const Tag&, uint64_t) {}) == 0) SleepNs(kPollNs);
      }
      const bool late = arrived_at[i] == kNotArrived || arrived_at[i] - sent_at[i] > slow_us * 1000;
      if (late && ++slow >= kMaxSlow) {
        aborted = true;
        break;
      }
    }
    // Late frames still count (with their real latency) if they come within one wait,
    // and 10 ms more catch a duplicate of the last frame.
    const uint64_t settled = NowNs() + 10'000'000;
    const uint64_t final_deadline = std::max(settled, NowNs() + wait_ms * 1'000'000);
    while (NowNs() < final_deadline && (received < sent || NowNs() < settled)) {
      if (Drain(rx, on_frame) == 0) SleepNs(kPollNs);
    }

    struct Sample {
      uint64_t latency_ns;
      uint32_t seq;
    };
    std::vector<Sample> samples;
    for (uint32_t i = 0; i < count; ++i) {
      if (arrived_at[i] != kNotArrived) samples.push_back({arrived_at[i] - sent_at[i], i});
    }
    std::sort(samples.begin(), samples.end(), [](const Sample& a, const Sample& b) { return a.latency_ns < b.latency_ns; });
    auto quantile_us = [&](double q) {
      if (samples.empty()) return -1.0;
      const size_t at = std::min(samples.size() - 1, static_cast<size_t>(q * static_cast<double>(samples.size())));
      return static_cast<double>(samples[at].latency_ns) / 1000.0;
    };
    std::ostringstream out;
    out << "REPLY sent=" << sent << " received=" << samples.size() << " lost=" << sent - samples.size()
        << " duplicates=" << duplicates << " out_of_order=" << out_of_order << " stale=" << stale
        << " foreign=" << foreign << " tx_failed=" << tx_failed << " slow=" << slow << " aborted=" << aborted
        << " p50_us=" << quantile_us(0.5) << " p99_us=" << quantile_us(0.99)
        << " max_us=" << (samples.empty() ? -1.0 : static_cast<double>(samples.back().latency_ns) / 1000.0)
        << " slowest=";
    for (size_t k = 0; k < std::min<size_t>(5, samples.size()); ++k) {
      const Sample& s = samples[samples.size() - 1 - k];
      out << (k ? "," : "") << s.seq << ":" << s.latency_ns / 1000 << ":" << gaps[s.seq];
    }
    return out.str();
  }

  bool LinkUp(uint16_t port) {
    rte_eth_link link{};
    return rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP;
  }

  // One frame dst <- src from `port`; false when the ring had no room (a few retries).
  bool Send(uint16_t port, const rte_ether_addr& dst, const rte_ether_addr& src, const Tag& tag) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    if (m == nullptr) return false;
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kFrameBytes));
    if (p == nullptr) {
      rte_pktmbuf_free(m);
      return false;
    }
    std::memset(p, 0, kFrameBytes);
    std::memcpy(p, dst.addr_bytes, 6);
    std::memcpy(p + 6, src.addr_bytes, 6);
    WriteTag(p + 12, tag);
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (rte_eth_tx_burst(port, 0, &m, 1) == 1) return true;
      SleepNs(kPollNs);
    }
    rte_pktmbuf_free(m);
    return false;
  }

  // Receives what `port` has, calling on_frame(tag, arrival ns) for each frame (foreign
  // frames get a tag with magic 0); returns how many frames it received.
  template <typename F>
  uint32_t Drain(uint16_t port, F&& on_frame) {
    rte_mbuf* pkts[32];
    const uint16_t n = rte_eth_rx_burst(port, 0, pkts, 32);
    if (n == 0) return 0;
    const uint64_t now = NowNs();
    for (uint16_t i = 0; i < n; ++i) {
      Tag t;
      t.magic = 0;
      const auto* p = rte_pktmbuf_mtod(pkts[i], const uint8_t*);
      uint16_t type = 0;
      if (rte_pktmbuf_data_len(pkts[i]) >= 27) {
        std::memcpy(&type, p + 12, 2);
        uint32_t magic = 0;
        std::memcpy(&magic, p + 14, 4);
        if (type == rte_cpu_to_be_16(kEtherType) && magic == kMagic) {
          t.magic = kMagic;
          std::memcpy(&t.run, p + 18, 4);
          std::memcpy(&t.seq, p + 22, 4);
          t.kind = p[26];
        }
      }
      on_frame(t, now);
      rte_pktmbuf_free(pkts[i]);
    }
    return n;
  }

  rte_mempool* pool_ = nullptr;
  rte_ether_addr mac_a_{};
  rte_ether_addr mac_b_{};
  uint32_t run_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const int eal_used = rte_eal_init(argc, argv);
  if (eal_used < 0) Fail(std::string("rte_eal_init: ") + rte_strerror(rte_errno));
  argc -= eal_used;
  argv += eal_used;
  if (argc != 3 || std::string(argv[1]) != "--control") Fail("usage: EAL-ARGS -- --control FIFO");
  setvbuf(stdout, nullptr, _IOLBF, 0);
  // nanosleep's default 50 us slack would dominate the 10 us poll interval.
  prctl(PR_SET_TIMERSLACK, 1000UL);
  FILE* control = std::fopen(argv[2], "r");
  if (control == nullptr) Fail(std::string("cannot open ") + argv[2]);
  {
    Peer peer;
    std::printf("READY\n");
    char line[256];
    while (std::fgets(line, sizeof(line), control) != nullptr) {
      std::istringstream in(line);
      std::string cmd;
      in >> cmd;
      if (cmd == "quit") break;
      if (cmd == "learn") {
        uint64_t timeout_ms = 0;
        in >> timeout_ms;
        std::printf("%s\n", peer.Learn(timeout_ms).c_str());
      } else if (cmd == "send") {
        uint32_t count = 0, max_gap_us = 0;
        uint64_t wait_ms = 0, seed = 0, slow_us = 0;
        in >> count >> max_gap_us >> wait_ms >> seed >> slow_us;
        if (!in || count == 0 || wait_ms == 0 || slow_us == 0) {
          std::printf("REPLY error: send COUNT MAX_GAP_US WAIT_MS SEED SLOW_US\n");
          continue;
        }
        std::printf("%s\n", peer.Measure(count, max_gap_us, wait_ms, seed, slow_us).c_str());
      } else if (cmd == "port") {
        std::string iface;
        uint32_t vlan = 0, count = 0, min_gap_us = 0, max_gap_us = 0;
        uint64_t wait_ms = 0, seed = 0, slow_us = 0;
        in >> iface >> vlan >> count >> min_gap_us >> max_gap_us >> wait_ms >> seed >> slow_us;
        if (!in || vlan == 0 || vlan > 4095 || count == 0 || wait_ms == 0 || slow_us == 0) {
          std::printf("REPLY error: port IFACE VLAN COUNT MIN_GAP_US MAX_GAP_US WAIT_MS SEED SLOW_US\n");
          continue;
        }
        std::printf("%s\n", peer.MeasureFromPort(iface, static_cast<uint16_t>(vlan), count, min_gap_us, max_gap_us,
                                                 wait_ms, seed, slow_us)
                                 .c_str());
      } else if (!cmd.empty()) {
        std::printf("REPLY error: unknown command '%s'\n", cmd.c_str());
      }
    }
  }
  std::fclose(control);
  rte_eal_cleanup();
  return 0;
}
