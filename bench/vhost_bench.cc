// vswitch-vhost-bench: the vhost library (the same engine code vswitch-vhost links) in
// a minimal polling process, for throughput against DPDK's own vhost (testpmd net_vhost)
// with a virtio-user peer. Not a test: bench/run-bench.sh drives it.
//
//   --mode drop   guest TX: dequeue bursts of 32 and free them (testpmd rxonly's work)
//   --mode gen    guest RX: allocate 32 mbufs, write a UDP header template, enqueue, free
//                 (testpmd txonly's work, so both back-ends do the same per packet)
//   --no-in-order do not offer VIRTIO_F_IN_ORDER (as a zero-copy socket does not), to
//                 compare zero-copy with copy mode on the same features
//
// Prints "BENCH pps=N" once a second (its own count; run-bench.sh reads the peer's).
#include <rte_eal.h>
#include <rte_log.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_cycles.h>
#include <rte_udp.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "driver.h"
#include "udp_frame.h"
#include "feature_bits.h"

namespace {

namespace vh = vswitch::vhost;

std::atomic<bool> g_stop{false};
std::atomic<int> g_vid{-1};
void OnSignal(int) { g_stop.store(true); }

struct Options {
  std::string socket;
  std::string mode = "drop";
  uint32_t size = 64;
  bool zero_copy = false;
  bool in_order = true;
  bool packed = false;  // offer VIRTIO_F_RING_PACKED (the peer asks with packed_vq=1)
  uint32_t zc_threshold = 0;  // 0: the library default
  double duration = 0;
  std::string file_prefix = "vsw-bench";
  std::string lcore = "1";
};

[[noreturn]] void Usage(const char* msg) {
  std::fprintf(stderr,
               "error: %s\nusage: vswitch-vhost-bench --socket PATH [--mode drop|gen] [--size N] "
               "[--zero-copy] [--no-in-order] [--packed] [--duration S] [--file-prefix P] [--lcore N]\n",
               msg);
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--socket") o.socket = value();
    else if (a == "--mode") o.mode = value();
    else if (a == "--size") o.size = static_cast<uint32_t>(std::stoul(value()));
    else if (a == "--zero-copy") o.zero_copy = true;
    else if (a == "--no-in-order") o.in_order = false;
    else if (a == "--packed") o.packed = true;
    else if (a == "--duration") o.duration = std::stod(value());
    else if (a == "--file-prefix") o.file_prefix = value();
    else if (a == "--lcore") o.lcore = value();
    else Usage(("unknown option " + a).c_str());
  }
  if (o.socket.empty()) Usage("--socket");
  if (o.mode != "drop" && o.mode != "gen") Usage("bad --mode");
  if (o.size < 60 || o.size > 9728) Usage("--size must be 60..9728");
  return o;
}

// testpmd txonly's packet: Ethernet / IPv4 / UDP, 198.18.0.1 -> 198.18.0.2, port 9.
void BuildTemplate(uint8_t* p, uint32_t size) {
  vswitch::tools::WriteUdpFrame(p, size, {{0x02, 0, 0, 0, 0, 2}}, {{0x02, 0, 0, 0, 0, 1}}, 9, 9);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  setvbuf(stdout, nullptr, _IOLBF, 0);
  std::vector<std::string> eal = {"vswitch-vhost-bench", "-l", o.lcore, "--no-pci",
                                  "--file-prefix=" + o.file_prefix, "-m", "256",
                                  "--no-telemetry", "--log-level=lib.eal:warning"};
  std::vector<char*> eal_argv;
  for (auto& s : eal) eal_argv.push_back(s.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  // rte_log (the vhost library's lines too) to stderr: stdout carries the results.
  rte_openlog_stream(stderr);
  const uint16_t room = static_cast<uint16_t>(std::max<uint32_t>(RTE_MBUF_DEFAULT_DATAROOM, 2048));
  rte_mempool* pool = rte_pktmbuf_pool_create("bench_pool", 8191, 256, 0,
                                              room + RTE_PKTMBUF_HEADROOM, rte_socket_id());
  if (pool == nullptr) {
    std::fprintf(stderr, "mbuf pool: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  uint8_t tmpl[64];
  BuildTemplate(tmpl, o.size);
  {
    vh::Driver driver;
    vh::DeviceOps ops;
    ops.new_device = [](int vid) {
      g_vid.store(vid);
      std::printf("BENCH_EVENT new_device vid=%d\n", vid);
      return 0;
    };
    ops.destroy_device = [](int vid) {
      g_vid.store(-1);
      std::printf("BENCH_EVENT destroy_device vid=%d\n", vid);
    };
    driver.CallbackRegister(ops);
    if (!o.in_order && driver.FeatureDisable(vh::kFeatureInOrder) != 0) return 1;
    if (o.packed && driver.FeatureEnable(vh::kFeaturePacked) != 0) return 1;
    std::string error;
    const uint64_t flags = o.zero_copy ? vh::kRegisterDequeueZeroCopy : 0;
    if (driver.Register(o.socket, flags, {}, &error) != 0) {
      std::fprintf(stderr, "register %s: %s\n", o.socket.c_str(), error.c_str());
      return 1;
    }
    if (driver.SessionStart() != 0) return 1;
    constexpr uint16_t kBurst = 32;
    rte_mbuf* pkts[kBurst];
    uint64_t packets = 0, last_packets = 0;
    // Polls that moved nothing: a back-end that often finds its queue empty waits on
    // the peer, so the peer's rate is the bottleneck, not the back-end's.
    uint64_t polls = 0, empty_polls = 0, last_polls = 0, last_empty = 0;
    // TSC cycles of the polls that moved packets, per packet: the back-end's own cost,
    // which the peer's rate hides whenever the peer is the slower side. Drop mode counts
    // the dequeue and the free (for zero-copy the free is part of its cost: it drops
    // the buffer's reference); gen mode counts the enqueue alone, not the generator's
    // allocation and fill.
    uint64_t busy_cycles = 0, last_busy = 0;
    const auto start = std::chrono::steady_clock::now();
    auto last = start;
    uint32_t spins = 0;
    while (!g_stop.load(std::memory_order_relaxed)) {
      if (++spins == 4096) {
        spins = 0;
        const auto now = std::chrono::steady_clock::now();
        if (o.duration > 0 && std::chrono::duration<double>(now - start).count() >= o.duration) break;
        const double dt = std::chrono::duration<double>(now - last).count();
        if (dt >= 1.0) {
          const uint64_t p = polls - last_polls;
          const uint64_t moved = packets - last_packets;
          std::printf("BENCH pps=%.0f empty_polls=%.1f%% per_poll=%.1f busy_cycles_per_packet=%.1f\n",
                      static_cast<double>(moved) / dt,
                      p == 0 ? 0.0 : 100.0 * static_cast<double>(empty_polls - last_empty) / static_cast<double>(p),
                      p == 0 ? 0.0 : static_cast<double>(moved) / static_cast<double>(p),
                      moved == 0 ? 0.0 : static_cast<double>(busy_cycles - last_busy) / static_cast<double>(moved));
          last_busy = busy_cycles;
          last_packets = packets;
          last_polls = polls;
          last_empty = empty_polls;
          last = now;
        }
      }
      const int vid = g_vid.load(std::memory_order_relaxed);
      if (vid < 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      const uint64_t t0 = rte_rdtsc();
      if (o.mode == "drop") {
        const uint16_t n = driver.DequeueBurst(vid, 1, pool, pkts, kBurst);
        if (n > 0) rte_pktmbuf_free_bulk(pkts, n);
        packets += n;
        ++polls;
        empty_polls += n == 0;
        if (n > 0) busy_cycles += rte_rdtsc() - t0;
      } else {
        if (rte_pktmbuf_alloc_bulk(pool, pkts, kBurst) != 0) continue;
        for (uint16_t i = 0; i < kBurst; ++i) {
          rte_mbuf* m = pkts[i];
          std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), tmpl, 42);
          m->data_len = static_cast<uint16_t>(o.size);
          m->pkt_len = o.size;
        }
        const uint64_t t1 = rte_rdtsc();
        const uint16_t n = driver.EnqueueBurst(vid, 0, pkts, kBurst);
        if (n > 0) busy_cycles += rte_rdtsc() - t1;
        packets += n;
        ++polls;
        empty_polls += n == 0;
        rte_pktmbuf_free_bulk(pkts, kBurst);  // the library copied
      }
    }
    // The engine's own counters for the last device, to explain a figure.
    for (int vid = 0; vid < 4; ++vid) {
      for (uint16_t q = 0; q < 2; ++q) {
        const auto* st = driver.GetQueueStats(vid, q);
        if (st == nullptr || st->packets.Get() == 0) continue;
        std::printf("BENCH_STATS vid=%d queue=%u packets=%llu notifications=%llu no_room=%llu "
                    "no_mbuf=%llu drops=%llu\n",
                    vid, q, (unsigned long long)st->packets.Get(),
                    (unsigned long long)st->notifications.Get(), (unsigned long long)st->no_room.Get(),
                    (unsigned long long)st->no_mbuf.Get(), (unsigned long long)st->TotalDrops());
      }
    }
    (void)driver.Unregister(o.socket);
    driver.SessionStop();
  }
  rte_mempool_free(pool);
  rte_eal_cleanup();
  return 0;
}
