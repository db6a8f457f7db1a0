// vswitch-bench-payload-peer: a guest TX generator that writes every byte of every frame
// it sends, over DPDK's virtio-user driver (the same guest driver testpmd uses in the
// benchmark). testpmd's txonly writes only the first 42 bytes of each frame and recycles
// a few hundred mbufs from its per-lcore cache, so a copying back-end reads payload lines
// it already holds from the last time it copied the same buffer: copying 1518 bytes then
// costs as little as it ever can. A guest's TX buffers are written by the guest just
// before it posts them (a socket copy, an application's own data), so their lines sit in
// the guest's core, dirty. This peer reproduces that for the zero-copy comparison
// (docs/benchmarks.md); bench/run-bench.sh's cells ending in "-w" use it.
//
//   vswitch-bench-payload-peer EAL-ARGS -- --size N [--burst N]
//
// EAL-ARGS must create one virtio-user port (--vdev net_virtio_user0,path=...). The main
// lcore polls. Prints testpmd's per-second "Tx-pps: N" line, which run-bench.sh reads.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "udp_frame.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

[[noreturn]] void Fail(const std::string& msg) {
  std::fprintf(stderr, "vswitch-bench-payload-peer: %s\n", msg.c_str());
  std::exit(2);
}

// The value of `--name N` in argv[1..argc), or `fallback` when absent (0: required);
// anything else on the command line, or a value out of [lo, hi], fails naming it.
unsigned long Option(int argc, char** argv, const std::string& name, unsigned long fallback,
                     unsigned long lo, unsigned long hi) {
  unsigned long value = fallback;
  bool seen = false;
  for (int i = 1; i < argc; i += 2) {
    const std::string a = argv[i];
    if (a != "--size" && a != "--burst") Fail("unknown option " + a);
    if (i + 1 >= argc) Fail("missing value for " + a);
    if (a != name) continue;
    char* end = nullptr;
    errno = 0;
    value = std::strtoul(argv[i + 1], &end, 10);
    if (errno != 0 || end == argv[i + 1] || *end != '\0') value = 0;
    seen = true;
  }
  if (!seen && fallback == 0) Fail(name + " is required");
  if (value < lo || value > hi) {
    Fail(name + " must be " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return value;
}

constexpr uint16_t kQueueSize = 256;
constexpr uint32_t kHeaderBytes = 42;  // Ethernet + IPv4 + UDP, as testpmd txonly writes

}  // namespace

int main(int argc, char** argv) {
  const int eal_used = rte_eal_init(argc, argv);
  if (eal_used < 0) Fail(std::string("rte_eal_init: ") + rte_strerror(rte_errno));
  argc -= eal_used;
  argv += eal_used;
  // One mbuf per frame: at most the default data room.
  const uint32_t size = static_cast<uint32_t>(Option(argc, argv, "--size", 0, 60, RTE_MBUF_DEFAULT_DATAROOM));
  const auto burst = static_cast<uint16_t>(Option(argc, argv, "--burst", 32, 1, 64));
  if (rte_eth_dev_count_avail() != 1) Fail("expected one port (--vdev net_virtio_user0,...)");
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  setvbuf(stdout, nullptr, _IOLBF, 0);

  // testpmd's defaults: 2176-byte mbufs, a per-lcore cache of 250.
  rte_mempool* pool = rte_pktmbuf_pool_create("peer_pool", 8191, 250, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                              rte_socket_id());
  if (pool == nullptr) Fail(std::string("mbuf pool: ") + rte_strerror(rte_errno));
  const uint16_t port = 0;
  rte_eth_conf conf{};
  if (rte_eth_dev_configure(port, 1, 1, &conf) != 0) Fail("rte_eth_dev_configure failed");
  if (rte_eth_rx_queue_setup(port, 0, kQueueSize, rte_socket_id(), nullptr, pool) != 0 ||
      rte_eth_tx_queue_setup(port, 0, kQueueSize, rte_socket_id(), nullptr) != 0) {
    Fail("queue setup failed");
  }
  if (rte_eth_dev_start(port) != 0) Fail("rte_eth_dev_start failed");

  uint8_t header[64];
  vswitch::tools::WriteUdpFrame(header, size, {{0x02, 0, 0, 0, 0, 1}}, {{0x02, 0, 0, 0, 0, 2}}, 9, 9);
  rte_mbuf* pkts[64];
  uint64_t sent = 0, last_sent = 0;
  uint8_t fill = 0;
  auto last = std::chrono::steady_clock::now();
  uint32_t spins = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    if (++spins == 1024) {
      spins = 0;
      const auto now = std::chrono::steady_clock::now();
      const double dt = std::chrono::duration<double>(now - last).count();
      if (dt >= 1.0) {
        std::printf("  Tx-pps: %12.0f\n", static_cast<double>(sent - last_sent) / dt);
        last_sent = sent;
        last = now;
      }
    }
    if (rte_pktmbuf_alloc_bulk(pool, pkts, burst) != 0) continue;
    for (uint16_t i = 0; i < burst; ++i) {
      rte_mbuf* m = pkts[i];
      uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
      std::memcpy(p, header, kHeaderBytes);
      // The application's data: every byte written, a new value each burst.
      std::memset(p + kHeaderBytes, fill, size - kHeaderBytes);
      m->data_len = static_cast<uint16_t>(size);
      m->pkt_len = size;
    }
    ++fill;
    const uint16_t n = rte_eth_tx_burst(port, 0, pkts, burst);
    if (n < burst) rte_pktmbuf_free_bulk(pkts + n, burst - n);
    sent += n;
  }
  rte_eth_dev_stop(port);
  rte_eth_dev_close(port);
  rte_eal_cleanup();
  return 0;
}
