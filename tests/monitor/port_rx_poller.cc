// vswitch-test-port-poller: a test stand-in for the switching secondary's port RX loop.
// It attaches to a running group as a DPDK secondary (not registered as a role), polls the
// port's RX queue 0 and frees what it receives, so that the port's ethdev counters move
// the way they will once vswitch-switching polls the port. Stop vswitch-switching first:
// a DPDK RX queue has one reader.
//
//   vswitch-test-port-poller FILE_PREFIX
//
// Prints "received N" each time the total changes; exits on SIGTERM/SIGINT.
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>
#include <signal.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "names.h"
#include "state_layout.h"

namespace {
volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FILE_PREFIX\n", argv[0]);
    return 2;
  }
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  // Lcore id 7: no role uses it, so this process has its own mempool cache.
  std::vector<std::string> args = {argv[0], "--file-prefix=" + std::string(argv[1]),
                                   "--proc-type=secondary", "--lcores=7@0", "--no-pci",
                                   "--no-telemetry", "--log-level=notice"};
  std::vector<char*> eal_argv;
  for (auto& a : args) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "EAL init as secondary failed\n");
    return 1;
  }
  const rte_memzone* mz = rte_memzone_lookup(vswitch::kStateMemzone);
  if (mz == nullptr) {
    std::fprintf(stderr, "no %s memzone\n", vswitch::kStateMemzone);
    rte_eal_cleanup();
    return 1;
  }
  const auto* state = static_cast<const vswitch::SharedState*>(mz->addr);
  const uint16_t port = state->config.port_id;
  std::printf("polling port %u\n", port);
  std::fflush(stdout);
  uint64_t total = 0;
  rte_mbuf* bufs[32];
  while (!g_stop) {
    const uint16_t n = rte_eth_rx_burst(port, 0, bufs, 32);
    if (n == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    rte_pktmbuf_free_bulk(bufs, n);
    total += n;
    std::printf("received %llu\n", static_cast<unsigned long long>(total));
    std::fflush(stdout);
  }
  rte_eal_cleanup();
  return 0;
}
