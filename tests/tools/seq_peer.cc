// vswitch-seq-peer: two guests in one process, each sending the other a continuous stream
// of numbered frames, each checking what it receives (seq_checker.h): which numbers
// arrived twice, which never did. For kill_restart_group_test, which kills the group's
// secondaries under this traffic. Port 0 is guest A, port 1 guest B, both DPDK
// virtio-user ports (the guest driver testpmd uses).
//
//   vswitch-seq-peer EAL-ARGS -- [--burst N] [--quiet-ms N] [--drain-ms N]
//
// EAL-ARGS create the two ports (--vdev net_virtio_user0,path=...,mac=... and
// net_virtio_user1) and pin the main lcore (-l CPU).
//
// A frame is numbered when its guest's TX ring takes it (rte_eth_tx_burst accepted it):
// a frame the ring refused is freed and its number reused, so every number below a
// sender's count was handed to the back-end. The senders send as fast as the TX rings
// take frames (a guest under load): where the group has no room for a frame it drops it
// and counts the drop by reason, which is how the test accounts for it.
//
// Output, one line each, flushed:
//   "LEARNED ms=N"  both MACs learned (each guest got a frame of the other's, sent every
//                   20 ms until then); the numbered stream starts after it.
//   "STAT t_s=N a_sent=N b_sent=N a_received=N b_received=N" once a second.
//   "STALL a_to_b|b_to_a ms=N end_ms=N"  while streaming, a receiver got nothing of the
//                   other's stream for N >= 50 ms (a back-end killed and restarted: N is
//                   how long that direction's traffic was gone), ending at end_ms
//                   (CLOCK_REALTIME, ms since the epoch: comparable with the test's kills).
// On SIGINT or SIGTERM the senders stop; the receivers keep reading until QUIET_MS (500)
// passed without a frame or DRAIN_MS (10000) in all, then:
//   "REPORT a_to_b sent=N received=N missing=N duplicates=N late=N gaps=N beyond=0|1 first_gaps=S+N,..."
//   "REPORT b_to_a ..." (same fields)
//   "REPORT other learn=N foreign=N tx_refused=N"
// and the peer exits 0.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

#include "seq_checker.h"

namespace {

constexpr uint16_t kPorts = 2;
constexpr uint16_t kQueueSize = 256;
constexpr uint32_t kFrameBytes = 64;
constexpr uint16_t kEtherType = 0x88b5;  // IEEE local experimental
constexpr uint32_t kMagic = 0x51455356;  // "VSEQ"
constexpr uint8_t kKindLearn = 1;
constexpr uint8_t kKindData = 2;
// Frame layout after the Ethernet addresses: type(2) magic(4) sender(1) kind(1) seq(8).
constexpr uint32_t kTagEnd = 12 + 2 + 4 + 1 + 1 + 8;
static_assert(kTagEnd <= kFrameBytes);
constexpr uint64_t kStallNs = 50'000'000;

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

[[noreturn]] void Fail(const std::string& msg) {
  std::fprintf(stderr, "vswitch-seq-peer: %s\n", msg.c_str());
  std::exit(2);
}

uint64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// The value of `--name N` in argv[1..argc), or `fallback`; anything else on the command
// line, or a value out of [lo, hi], fails naming it.
uint64_t Option(int argc, char** argv, const std::string& name, uint64_t fallback, uint64_t lo, uint64_t hi) {
  uint64_t value = fallback;
  for (int i = 1; i < argc; i += 2) {
    const std::string a = argv[i];
    if (a != "--burst" && a != "--quiet-ms" && a != "--drain-ms") Fail("unknown option " + a);
    if (i + 1 >= argc) Fail("missing value for " + a);
    if (a != name) continue;
    char* end = nullptr;
    errno = 0;
    value = std::strtoull(argv[i + 1], &end, 10);
    if (errno != 0 || end == argv[i + 1] || *end != '\0') Fail("bad value for " + a);
  }
  if (value < lo || value > hi) Fail(name + " must be " + std::to_string(lo) + ".." + std::to_string(hi));
  return value;
}

struct Frame {
  bool ours = false;
  uint8_t sender = 0;
  uint8_t kind = 0;
  uint64_t seq = 0;
};

Frame Parse(const rte_mbuf* m) {
  Frame f;
  if (rte_pktmbuf_data_len(m) < kTagEnd) return f;
  const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
  uint16_t type = 0;
  uint32_t magic = 0;
  std::memcpy(&type, p + 12, 2);
  std::memcpy(&magic, p + 14, 4);
  if (type != rte_cpu_to_be_16(kEtherType) || magic != kMagic) return f;
  f.ours = true;
  f.sender = p[18];
  f.kind = p[19];
  std::memcpy(&f.seq, p + 20, 8);
  return f;
}

class Peer {
 public:
  explicit Peer(uint16_t burst) : burst_(burst) {
    pool_ = rte_pktmbuf_pool_create("seq_peer_pool", 8191, 250, 0, RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
    if (pool_ == nullptr) Fail(std::string("mbuf pool: ") + rte_strerror(rte_errno));
    if (rte_eth_dev_count_avail() != kPorts) Fail("expected two ports (net_virtio_user0 and 1)");
    for (uint16_t port = 0; port < kPorts; ++port) {
      rte_eth_conf conf{};
      if (rte_eth_dev_configure(port, 1, 1, &conf) != 0) Fail("rte_eth_dev_configure failed");
      if (rte_eth_rx_queue_setup(port, 0, kQueueSize, rte_socket_id(), nullptr, pool_) != 0 ||
          rte_eth_tx_queue_setup(port, 0, kQueueSize, rte_socket_id(), nullptr) != 0) {
        Fail("queue setup failed");
      }
      if (rte_eth_dev_start(port) != 0) Fail("rte_eth_dev_start failed");
      rte_eth_macaddr_get(port, &mac_[port]);
    }
  }
  ~Peer() {
    for (uint16_t port = 0; port < kPorts; ++port) {
      rte_eth_dev_stop(port);
      rte_eth_dev_close(port);
    }
  }

  // Until each guest got a learn frame of the other's (or a stop).
  void Learn() {
    const uint64_t start = NowNs();
    while (!g_stop.load() && !(learned_[0] && learned_[1])) {
      PollLinks();
      for (uint16_t port = 0; port < kPorts; ++port) (void)Send(port, kKindLearn, 1);
      const uint64_t until = NowNs() + 20'000'000;
      while (NowNs() < until && !(learned_[0] && learned_[1])) Receive();
    }
    if (!g_stop.load()) std::printf("LEARNED ms=%lu\n", static_cast<unsigned long>((NowNs() - start) / 1'000'000));
  }

  void Stream() {
    const uint64_t start = NowNs();
    last_arrival_[0] = last_arrival_[1] = start;
    streaming_ = true;
    uint64_t next_stat = start + 1'000'000'000, next_links = start;
    while (!g_stop.load(std::memory_order_relaxed)) {
      for (uint16_t port = 0; port < kPorts; ++port) (void)Send(port, kKindData, burst_);
      Receive();
      const uint64_t now = NowNs();
      if (now >= next_links) {
        PollLinks();
        next_links = now + 1'000'000;
      }
      if (now >= next_stat) {
        std::printf("STAT t_s=%lu a_sent=%lu b_sent=%lu a_received=%lu b_received=%lu\n",
                    static_cast<unsigned long>((now - start) / 1'000'000'000),
                    static_cast<unsigned long>(sent_[0]), static_cast<unsigned long>(sent_[1]),
                    static_cast<unsigned long>(check_[1].received()),
                    static_cast<unsigned long>(check_[0].received()));
        next_stat += 1'000'000'000;
      }
    }
  }

  // Reads on until `quiet_ms` without a frame, `drain_ms` at most.
  void Drain(uint64_t quiet_ms, uint64_t drain_ms) {
    const uint64_t start = NowNs();
    uint64_t last = start, next_links = start;
    while (NowNs() - last < quiet_ms * 1'000'000 && NowNs() - start < drain_ms * 1'000'000) {
      if (Receive() > 0) last = NowNs();
      if (NowNs() >= next_links) {
        PollLinks();
        next_links = NowNs() + 1'000'000;
      }
    }
  }

  void Report() const {
    const char* names[kPorts] = {"a_to_b", "b_to_a"};
    for (uint16_t s = 0; s < kPorts; ++s) {
      const vswitch::tools::SeqChecker& c = check_[s];
      std::ostringstream out;
      out << "REPORT " << names[s] << " sent=" << sent_[s] << " received=" << c.received()
          << " missing=" << c.Missing(sent_[s]) << " duplicates=" << c.duplicates() << " late=" << c.late()
          << " gaps=" << c.gaps_opened() << " beyond=" << c.beyond(sent_[s]) << " first_gaps=";
      bool first = true;
      for (const auto& [b, e] : c.Gaps(20)) {
        out << (first ? "" : ",") << b << "+" << e - b;
        first = false;
      }
      std::printf("%s\n", out.str().c_str());
    }
    std::printf("REPORT other learn=%lu foreign=%lu tx_refused=%lu\n", static_cast<unsigned long>(learn_frames_),
                static_cast<unsigned long>(foreign_), static_cast<unsigned long>(tx_refused_));
  }

 private:
  // Reading a server-mode (server=1) port's link accepts a restarted back-end.
  void PollLinks() {
    for (uint16_t port = 0; port < kPorts; ++port) {
      rte_eth_link link{};
      (void)rte_eth_link_get_nowait(port, &link);
    }
  }

  // Up to `n` frames from `port` to the other guest; data frames numbered from sent_[port].
  uint16_t Send(uint16_t port, uint8_t kind, uint16_t n) {
    rte_mbuf* pkts[64];
    n = std::min<uint16_t>(n, 64);
    if (rte_pktmbuf_alloc_bulk(pool_, pkts, n) != 0) return 0;
    const uint16_t to = port ^ 1;
    for (uint16_t i = 0; i < n; ++i) {
      auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(pkts[i], kFrameBytes));
      if (p == nullptr) Fail("an mbuf of the pool holds less than 64 bytes");
      std::memset(p, 0, kFrameBytes);
      std::memcpy(p, mac_[to].addr_bytes, 6);
      std::memcpy(p + 6, mac_[port].addr_bytes, 6);
      const uint16_t type = rte_cpu_to_be_16(kEtherType);
      std::memcpy(p + 12, &type, 2);
      std::memcpy(p + 14, &kMagic, 4);
      p[18] = static_cast<uint8_t>(port);
      p[19] = kind;
      const uint64_t seq = kind == kKindData ? sent_[port] + i : 0;
      std::memcpy(p + 20, &seq, 8);
    }
    const uint16_t taken = rte_eth_tx_burst(port, 0, pkts, n);
    if (taken < n) {
      rte_pktmbuf_free_bulk(pkts + taken, n - taken);
      if (kind == kKindData) tx_refused_ += n - taken;
    }
    if (kind == kKindData) sent_[port] += taken;
    return taken;
  }

  // A frame of `from`'s stream arrived: a silence of 50 ms or more before it is a stall.
  void NoteArrival(uint16_t from) {
    const uint64_t now = NowNs();
    const uint64_t silent = now - last_arrival_[from];
    last_arrival_[from] = now;
    if (silent >= kStallNs) {
      timespec real{};
      clock_gettime(CLOCK_REALTIME, &real);
      const uint64_t real_ms = static_cast<uint64_t>(real.tv_sec) * 1000 + static_cast<uint64_t>(real.tv_nsec) / 1'000'000;
      std::printf("STALL %s ms=%lu end_ms=%lu\n", from == 0 ? "a_to_b" : "b_to_a",
                  static_cast<unsigned long>(silent / 1'000'000), static_cast<unsigned long>(real_ms));
    }
  }

  // Everything both RX rings have now; returns how many frames.
  uint32_t Receive() {
    uint32_t total = 0;
    for (uint16_t port = 0; port < kPorts; ++port) {
      rte_mbuf* pkts[64];
      const uint16_t n = rte_eth_rx_burst(port, 0, pkts, 64);
      for (uint16_t i = 0; i < n; ++i) {
        const Frame f = Parse(pkts[i]);
        const uint16_t from = port ^ 1;
        if (!f.ours || f.sender != from) {
          ++foreign_;
        } else if (f.kind == kKindLearn) {
          ++learn_frames_;
          learned_[port] = true;
        } else if (f.kind == kKindData) {
          if (streaming_ && !g_stop.load(std::memory_order_relaxed)) NoteArrival(from);
          check_[from].Arrived(f.seq);
        } else {
          ++foreign_;
        }
      }
      if (n > 0) rte_pktmbuf_free_bulk(pkts, n);
      total += n;
    }
    return total;
  }

  const uint16_t burst_;
  rte_mempool* pool_ = nullptr;
  rte_ether_addr mac_[kPorts]{};
  bool learned_[kPorts]{};
  uint64_t sent_[kPorts]{};        // numbered frames each sender's TX ring took
  vswitch::tools::SeqChecker check_[kPorts];  // by sender
  uint64_t learn_frames_ = 0, foreign_ = 0, tx_refused_ = 0;
  bool streaming_ = false;
  uint64_t last_arrival_[kPorts]{};  // by sender, while streaming
};

}  // namespace

int main(int argc, char** argv) {
  const int eal_used = rte_eal_init(argc, argv);
  if (eal_used < 0) Fail(std::string("rte_eal_init: ") + rte_strerror(rte_errno));
  argc -= eal_used;
  argv += eal_used;
  const auto burst = static_cast<uint16_t>(Option(argc, argv, "--burst", 32, 1, 64));
  const uint64_t quiet_ms = Option(argc, argv, "--quiet-ms", 500, 1, 600'000);
  const uint64_t drain_ms = Option(argc, argv, "--drain-ms", 10'000, 1, 600'000);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  setvbuf(stdout, nullptr, _IOLBF, 0);
  {
    Peer peer(burst);
    peer.Learn();
    peer.Stream();
    peer.Drain(quiet_ms, drain_ms);
    peer.Report();
  }
  rte_eal_cleanup();
  return 0;
}
