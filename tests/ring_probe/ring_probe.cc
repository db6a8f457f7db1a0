// vswitch-ring-probe: a test tool that stands where the switching secondary stands. It
// attaches to a group as a DPDK secondary (its own lcore id, outside the four roles) and
// either drains a device's from_vm ring, printing every frame in hex, or puts generated
// frames on a device's to_vm ring. Only for tests run without the switching secondary:
// the rings are single-producer/single-consumer.
//
//   vswitch-ring-probe --file-prefix P --device I --dump N [--timeout-ms T]
//   vswitch-ring-probe --file-prefix P --device I --inject N --size S [--dst MAC] [--src MAC]
//   vswitch-ring-probe --file-prefix P --device I --abandon N --ring to_vm|from_vm
//                      --end producer|consumer [--written K]
//   vswitch-ring-probe --file-prefix P --counters
//
// Output: one line per frame "FRAME <len> <hex>" (dump), then "PROBE frames=<n> bytes=<b>".
// --abandon leaves one end of a ring as its owner leaves it when killed between moving the
// head and moving the tail: a producer's head N slots past its tail with the first K of
// them written (--size frames, the rest untouched), or a consumer's head N slots past its
// tail; then the probe kills itself (SIGKILL). Only while the role owning that end is
// stopped. --counters prints "RING <name> <prod head> <prod tail> <cons head> <cons tail>"
// for every device ring.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <unistd.h>

#include <csignal>

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
  long abandon = -1;
  long written = 0;
  std::string ring;
  std::string end;
  bool counters = false;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr, "vswitch-ring-probe: %s\n", why);
  std::exit(2);
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--counters") {
      a.counters = true;
      continue;
    }
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
    else if (k == "--abandon") a.abandon = std::atol(v);
    else if (k == "--written") a.written = std::atol(v);
    else if (k == "--ring") a.ring = v;
    else if (k == "--end") a.end = v;
    else Usage(("unknown option " + k).c_str());
  }
  if (a.prefix.empty()) Usage("--file-prefix is required");
  if ((a.dump >= 0) + (a.inject >= 0) + (a.abandon >= 0) + a.counters != 1) {
    Usage("give exactly one of --dump N, --inject N, --abandon N and --counters");
  }
  if (a.abandon >= 0) {
    if (a.ring != "to_vm" && a.ring != "from_vm") Usage("--abandon: --ring to_vm or from_vm");
    if (a.end != "producer" && a.end != "consumer") Usage("--abandon: --end producer or consumer");
    if (a.written < 0 || a.written > a.abandon) Usage("--written: 0 to the --abandon count");
  }
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

// Leaves one end of a ring as a killed owner leaves it (see the header) and dies.
int Abandon(const Args& a) {
  const std::string name = a.ring == "to_vm" ? vswitch::ToVmRingName(a.device) : vswitch::FromVmRingName(a.device);
  rte_ring* r = rte_ring_lookup(name.c_str());
  rte_mempool* pool = rte_mempool_lookup(vswitch::kMbufPool);
  if (r == nullptr || pool == nullptr) {
    std::fprintf(stderr, "vswitch-ring-probe: the group has no ring %s or no pool\n", name.c_str());
    return 1;
  }
  auto** slots = reinterpret_cast<void**>(r + 1);
  const uint32_t n = static_cast<uint32_t>(a.abandon);
  if (a.end == "producer") {
    const uint32_t head = r->prod.head;
    if (head != r->prod.tail || head + n - r->cons.tail > r->capacity) {
      std::fprintf(stderr, "vswitch-ring-probe: %s: producer busy or no room for %u\n", name.c_str(), n);
      return 1;
    }
    const auto src = vswitch::MacFromString(a.src);
    const auto dst = vswitch::MacFromString(a.dst);
    if (!src || !dst) Usage("--dst/--src: not a MAC");
    __atomic_store_n(&r->prod.head, head + n, __ATOMIC_RELEASE);
    for (long i = 0; i < a.written; ++i) {
      rte_mbuf* m = rte_pktmbuf_alloc(pool);
      if (m == nullptr) break;
      FillFrame(reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(a.size))), a.size, i,
                *dst, *src);
      slots[(head + i) & r->mask] = m;
    }
  } else {
    const uint32_t head = r->cons.head;
    if (head != r->cons.tail || r->prod.tail - head < n) {
      std::fprintf(stderr, "vswitch-ring-probe: %s: consumer busy or fewer than %u published\n", name.c_str(), n);
      return 1;
    }
    __atomic_store_n(&r->cons.head, head + n, __ATOMIC_RELEASE);
  }
  std::printf("PROBE abandoned %s %s of %u slot(s)\n", name.c_str(),
              a.end == "producer" ? "an enqueue" : "a dequeue", n);
  std::fflush(stdout);
  raise(SIGKILL);
  return 1;
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
  if (a.counters) {
    for (unsigned d = 0; d < 64; ++d) {
      for (const std::string& name : {vswitch::ToVmRingName(d), vswitch::FromVmRingName(d)}) {
        const rte_ring* r = rte_ring_lookup(name.c_str());
        if (r == nullptr) continue;
        std::printf("RING %s %u %u %u %u\n", name.c_str(), r->prod.head, r->prod.tail, r->cons.head,
                    r->cons.tail);
      }
    }
    rte_eal_cleanup();
    return 0;
  }
  if (a.abandon >= 0) return Abandon(a);
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
