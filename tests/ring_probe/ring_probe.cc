// vswitch-ring-probe: a test tool that stands where the switching secondary stands. It
// attaches to a group as a DPDK secondary (its own lcore id, outside the four roles) and
// either drains a device's from_vm ring, printing every frame in hex, or puts generated
// frames on a device's to_vm ring. Only for tests run without the switching secondary:
// the rings are single-producer/single-consumer.
//
//   vswitch-ring-probe --file-prefix P --device I --dump N [--timeout-ms T]
//   vswitch-ring-probe --file-prefix P --device I --inject N --size S [--dst MAC] [--src MAC]
//
// Output: one line per frame "FRAME <len> <hex>" (dump), then "PROBE frames=<n> bytes=<b>".
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "mac_table.h"
#include "names.h"

namespace {

struct Args {
  std::string prefix;
  int device = 0;
  long dump = -1;
  long inject = -1;
  unsigned size = 64;
  long timeout_ms = 10000;
  std::string dst = "ff:ff:ff:ff:ff:ff";
  std::string src = "02:00:00:00:00:99";
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr, "vswitch-ring-probe: %s\n", why);
  std::exit(2);
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) Usage(("missing value for " + k).c_str());
    const char* v = argv[++i];
    if (k == "--file-prefix") a.prefix = v;
    else if (k == "--device") a.device = std::atoi(v);
    else if (k == "--dump") a.dump = std::atol(v);
    else if (k == "--inject") a.inject = std::atol(v);
    else if (k == "--size") a.size = static_cast<unsigned>(std::atoi(v));
    else if (k == "--timeout-ms") a.timeout_ms = std::atol(v);
    else if (k == "--dst") a.dst = v;
    else if (k == "--src") a.src = v;
    else Usage(("unknown option " + k).c_str());
  }
  if (a.prefix.empty()) Usage("--file-prefix is required");
  if ((a.dump < 0) == (a.inject < 0)) Usage("give exactly one of --dump N and --inject N");
  if (a.size < 60 || a.size > RTE_MBUF_DEFAULT_DATAROOM) Usage("--size: 60-2048");
  return a;
}

// Frame i of an injected burst: Ethernet header, then bytes (i + k) & 0xff, so the
// receiver can check every byte.
void FillFrame(uint8_t* p, unsigned size, long i, vswitch::MacKey dst, vswitch::MacKey src) {
  vswitch::MacToBytes(dst, p);
  vswitch::MacToBytes(src, p + 6);
  p[12] = 0x88;  // local experimental EtherType 0x88b5
  p[13] = 0xb5;
  for (unsigned k = 14; k < size; ++k) p[k] = static_cast<uint8_t>(i + k);
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = ParseArgs(argc, argv);
  std::vector<std::string> eal = {"vswitch-ring-probe", "--proc-type=secondary",
                                  "--file-prefix=" + a.prefix, "--lcores=7@0", "--no-pci",
                                  "--no-telemetry", "--log-level=warning"};
  std::vector<char*> eargv;
  for (auto& s : eal) eargv.push_back(s.data());
  if (rte_eal_init(static_cast<int>(eargv.size()), eargv.data()) < 0) {
    std::fprintf(stderr, "vswitch-ring-probe: EAL init failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  int rc = 0;
  rte_mempool* pool = rte_mempool_lookup(vswitch::kMbufPool);
  rte_ring* ring = rte_ring_lookup(a.dump >= 0 ? vswitch::FromVmRingName(a.device).c_str()
                                               : vswitch::ToVmRingName(a.device).c_str());
  if (pool == nullptr || ring == nullptr) {
    std::fprintf(stderr, "vswitch-ring-probe: the group has no pool or ring for device %d\n", a.device);
    rte_eal_cleanup();
    return 1;
  }
  long frames = 0;
  unsigned long bytes = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(a.timeout_ms);
  if (a.dump >= 0) {
    std::string line;
    while (frames < a.dump && std::chrono::steady_clock::now() < deadline) {
      rte_mbuf* m = nullptr;
      if (rte_ring_sc_dequeue(ring, reinterpret_cast<void**>(&m)) != 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      line = "FRAME " + std::to_string(m->pkt_len) + " ";
      for (rte_mbuf* seg = m; seg != nullptr; seg = seg->next) {
        const uint8_t* d = rte_pktmbuf_mtod(seg, const uint8_t*);
        for (uint16_t k = 0; k < seg->data_len; ++k) {
          char hex[3];
          std::snprintf(hex, sizeof(hex), "%02x", d[k]);
          line += hex;
        }
      }
      std::puts(line.c_str());
      ++frames;
      bytes += m->pkt_len;
      rte_pktmbuf_free(m);
    }
  } else {
    const auto dst = vswitch::MacFromString(a.dst);
    const auto src = vswitch::MacFromString(a.src);
    if (!dst || !src) {
      std::fprintf(stderr, "vswitch-ring-probe: --dst/--src: not a MAC\n");
      rte_eal_cleanup();
      return 2;
    }
    while (frames < a.inject && std::chrono::steady_clock::now() < deadline) {
      rte_mbuf* m = rte_pktmbuf_alloc(pool);
      if (m == nullptr) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(a.size)));
      FillFrame(p, a.size, frames, *dst, *src);
      while (rte_ring_sp_enqueue(ring, m) != 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
          rte_pktmbuf_free(m);
          m = nullptr;
          break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      if (m == nullptr) break;
      ++frames;
      bytes += a.size;
    }
  }
  std::printf("PROBE frames=%ld bytes=%lu\n", frames, bytes);
  if (frames < (a.dump >= 0 ? a.dump : a.inject)) rc = 3;
  rte_eal_cleanup();
  return rc;
}
