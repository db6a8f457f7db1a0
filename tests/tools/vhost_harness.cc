// vswitch-vhost-harness: the vhost library in a small DPDK process, for tests against
// real vhost-user front-ends (DPDK virtio-user, QEMU). It registers sockets, moves
// packets in one of three modes, and prints machine-readable counters:
//
//   sink    count what the guest transmits (optionally checking testpmd txonly's
//           IPv4/UDP headers against --size)
//   source  send numbered packets to the guest and check what comes back: byte for
//           byte equal to what was sent, MAC addresses swapped back when --expect-swap 1
//   echo    send back whatever the guest transmits
//
// --zero-copy registers the sockets with dequeue zero-copy. --hold-until-exit MS keeps
// every mbuf the guest transmitted (a consumer that holds zero-copy buffers) until the
// harness is told to stop, then frees them MS milliseconds later from another thread,
// while the sockets are being unregistered. --seq-file PATH writes, one per line, the
// 4-byte big-endian index at offset 14 of every received frame of ethertype 0x88b5.
//
// Lines: "HARNESS_EVENT new_device vid=N", "HARNESS_EVENT destroy_device vid=N",
// "HARNESS_PROGRESS ..." once a second and "HARNESS ..." at exit (SIGTERM, SIGINT,
// --duration or --count reached).
#include <rte_eal.h>
#include <rte_log.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_udp.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <memory>
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
#include "packed_ring_record.h"

namespace {

using vswitch::vhost::Driver;

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

struct Options {
  std::vector<std::string> sockets;
  bool client = false;
  std::string mode = "sink";
  uint64_t count = 0;  // 0: unlimited
  uint32_t size = 64;
  uint32_t queues = 1;
  int mergeable = 1;
  int packed = 0;  // offer VIRTIO_F_RING_PACKED
  double duration = 0;  // 0: until signalled
  bool check_txonly = false;
  bool expect_swap = true;
  bool digest = false;  // per-packet FNV over every byte: costs ~1 ns/byte
  std::string file_prefix = "vsw-harness";
  std::string lcore = "1";
  int socket_mb = 256;
  bool zero_copy = false;
  int hold_until_exit_ms = -1;  // -1: free at once
  std::string seq_file;
  // Packed rings record their device position in this file (packed_ring_record.h), so
  // an instance started after a killed one resumes them, as vswitch-vhost does with its
  // group's memzone.
  std::string ring_records;
  bool debug = false;  // the library's debug lines (every message read)
  int burst_delay_us = 0;  // sleep after each guest TX burst that took packets: a slow consumer
};

[[noreturn]] void Usage(const char* msg) {
  std::fprintf(stderr,
               "error: %s\nusage: vswitch-vhost-harness --socket PATH [--socket PATH...] "
               "[--client] [--mode sink|source|echo] [--count N] [--size N] [--queues N] "
               "[--mergeable 0|1] [--packed 0|1] [--duration S] [--check-txonly] [--expect-swap 0|1] [--digest] "
               "[--file-prefix P] [--lcore N] [-m MB] [--zero-copy] [--hold-until-exit MS] "
               "[--seq-file PATH] [--ring-records FILE] [--debug] [--burst-delay-us N]\n",
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
    if (a == "--socket") o.sockets.push_back(value());
    else if (a == "--client") o.client = true;
    else if (a == "--mode") o.mode = value();
    else if (a == "--count") o.count = std::stoull(value());
    else if (a == "--size") o.size = static_cast<uint32_t>(std::stoul(value()));
    else if (a == "--queues") o.queues = static_cast<uint32_t>(std::stoul(value()));
    else if (a == "--mergeable") o.mergeable = std::stoi(value());
    else if (a == "--packed") o.packed = std::stoi(value());
    else if (a == "--duration") o.duration = std::stod(value());
    else if (a == "--check-txonly") o.check_txonly = true;
    else if (a == "--expect-swap") o.expect_swap = std::stoi(value()) != 0;
    else if (a == "--digest") o.digest = true;
    else if (a == "--file-prefix") o.file_prefix = value();
    else if (a == "--lcore") o.lcore = value();
    else if (a == "-m") o.socket_mb = std::stoi(value());
    else if (a == "--zero-copy") o.zero_copy = true;
    else if (a == "--hold-until-exit") o.hold_until_exit_ms = std::stoi(value());
    else if (a == "--seq-file") o.seq_file = value();
    else if (a == "--ring-records") o.ring_records = value();
    else if (a == "--debug") o.debug = true;
    else if (a == "--burst-delay-us") o.burst_delay_us = std::stoi(value());
    else Usage(("unknown option " + a).c_str());
  }
  if (o.sockets.empty()) Usage("at least one --socket");
  if (o.mode != "sink" && o.mode != "source" && o.mode != "echo") Usage("bad --mode");
  if (o.queues < 1 || o.queues > vswitch::vhost::kMaxQueuePairs) Usage("bad --queues");
  if (o.size < 60 || o.size > 1518) Usage("--size must be 60..1518");
  if (o.packed != 0 && o.packed != 1) Usage("--packed must be 0 or 1");
  return o;
}

constexpr rte_ether_addr kSrcMac = {{0x02, 0x76, 0x73, 0x77, 0x00, 0x01}};
constexpr rte_ether_addr kDstMac = {{0x02, 0x76, 0x73, 0x77, 0x00, 0x02}};
constexpr uint32_t kSeqOffset = 42;  // after Ethernet + IPv4 + UDP headers

// The numbered packet `seq` of `size` bytes: Ethernet/IPv4/UDP, then the sequence number
// and a payload derived from it, so a receiver can regenerate and compare every byte.
void BuildPacket(uint8_t* p, uint32_t size, uint64_t seq) {
  vswitch::tools::WriteUdpFrame(p, size, kDstMac, kSrcMac, 1024, 1025);
  std::memcpy(p + kSeqOffset, &seq, sizeof(seq));
  for (uint32_t i = kSeqOffset + 8; i < size; ++i) p[i] = static_cast<uint8_t>(seq * 31 + i);
}

uint64_t Fnv(const uint8_t* p, uint32_t n, uint64_t h = 1469598103934665603ull) {
  for (uint32_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

struct Counters {
  uint64_t rx_packets = 0, rx_bytes = 0, rx_bad = 0, rx_ok = 0;
  uint64_t tx_packets = 0, tx_bytes = 0, tx_rejected = 0;
  uint64_t digest = 0;  // sum of per-packet FNV-1a hashes (order-independent)
  uint64_t rx_per_queue[vswitch::vhost::kMaxQueuePairs] = {};
};

std::atomic<int> g_new_device{0}, g_destroy_device{0};
std::atomic<bool> g_ready[vswitch::vhost::kMaxDevices];

// Checks a packet that testpmd's txonly engine generated (Ethernet/IPv4/UDP, 198.18.0.1
// -> 198.18.0.2, lengths matching the frame).
bool TxonlyHeadersOk(const uint8_t* p, uint32_t len, uint32_t size) {
  if (len != size) return false;
  const auto* eth = reinterpret_cast<const rte_ether_hdr*>(p);
  if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) return false;
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eth + 1);
  if (ip->next_proto_id != IPPROTO_UDP || rte_be_to_cpu_16(ip->total_length) != len - 14) return false;
  if (rte_ipv4_cksum(ip) != ip->hdr_checksum && ip->hdr_checksum != 0) {
    // rte_ipv4_cksum computes over a zeroed checksum field; recompute properly.
    rte_ipv4_hdr copy = *ip;
    copy.hdr_checksum = 0;
    if (rte_ipv4_cksum(&copy) != ip->hdr_checksum) return false;
  }
  const auto* udp = reinterpret_cast<const rte_udp_hdr*>(ip + 1);
  return rte_be_to_cpu_16(udp->dgram_len) == len - 34 &&
         ip->src_addr == rte_cpu_to_be_32(0xc6120001) && ip->dst_addr == rte_cpu_to_be_32(0xc6120002);
}

void PrintCounters(const char* tag, const Counters& c, Driver& driver, const Options& o) {
  uint64_t drops = 0, no_room = 0;
  uint64_t by_reason[vswitch::vhost::kDropReasonCount] = {};
  std::string per_queue;
  for (uint32_t q = 0; q < o.queues; ++q) {
    per_queue += (q ? "," : "") + std::to_string(c.rx_per_queue[q]);
  }
  for (int vid = 0; vid < 64; ++vid) {
    for (uint16_t q = 0; q < 2 * o.queues; ++q) {
      if (const auto* s = driver.GetQueueStats(vid, q)) {
        drops += s->TotalDrops();
        no_room += s->no_room.Get();
        for (size_t r = 0; r < vswitch::vhost::kDropReasonCount; ++r) {
          by_reason[r] += s->Dropped(static_cast<vswitch::vhost::DropReason>(r));
        }
      }
    }
  }
  std::printf(
      "%s rx_packets=%llu rx_bytes=%llu rx_ok=%llu rx_bad=%llu tx_packets=%llu tx_bytes=%llu "
      "tx_rejected=%llu digest=%016llx new_device=%d destroy_device=%d ring_drops=%llu "
      "no_room=%llu rxq=%s\n",
      tag, (unsigned long long)c.rx_packets, (unsigned long long)c.rx_bytes,
      (unsigned long long)c.rx_ok, (unsigned long long)c.rx_bad, (unsigned long long)c.tx_packets,
      (unsigned long long)c.tx_bytes, (unsigned long long)c.tx_rejected,
      (unsigned long long)c.digest, g_new_device.load(), g_destroy_device.load(),
      (unsigned long long)drops, (unsigned long long)no_room, per_queue.c_str());
  // The drops by name, on their own line: which guest rule was broken.
  std::string named;
  for (size_t r = 0; r < vswitch::vhost::kDropReasonCount; ++r) {
    if (by_reason[r] == 0) continue;
    named += std::string(" ") + vswitch::vhost::DropReasonName(static_cast<vswitch::vhost::DropReason>(r)) +
             "=" + std::to_string(by_reason[r]);
  }
  if (!named.empty()) std::printf("%s_DROPS%s\n", tag, named.c_str());
  std::fflush(stdout);
}

// One record per socket (in --socket order) and vring, in a file that outlives the process.
class FileRingRecords final : public vswitch::vhost::PackedRingRecords {
 public:
  static constexpr uint32_t kVrings = 16;
  FileRingRecords(const std::string& path, std::vector<std::string> sockets) : sockets_(std::move(sockets)) {
    const size_t bytes = sizeof(vswitch::vhost::PackedRingRecord) * kVrings * sockets_.size();
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
      std::fprintf(stderr, "ring records %s: %s\n", path.c_str(), std::strerror(errno));
      std::exit(1);
    }
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
      std::fprintf(stderr, "ring records mmap: %s\n", std::strerror(errno));
      std::exit(1);
    }
    records_ = static_cast<vswitch::vhost::PackedRingRecord*>(p);
  }
  vswitch::vhost::PackedRingRecord* Find(const std::string& socket_path, uint32_t vring) override {
    for (size_t i = 0; i < sockets_.size(); ++i) {
      if (sockets_[i] == socket_path && vring < kVrings) return &records_[i * kVrings + vring];
    }
    return nullptr;
  }

 private:
  std::vector<std::string> sockets_;
  vswitch::vhost::PackedRingRecord* records_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  setvbuf(stdout, nullptr, _IOLBF, 0);

  const std::string prefix = "--file-prefix=" + o.file_prefix;
  const std::string mem = std::to_string(o.socket_mb);
  std::vector<std::string> eal = {"vswitch-vhost-harness", "-l", o.lcore, "--no-pci",
                                  prefix, "-m", mem, "--log-level=lib.eal:warning"};
  std::vector<char*> eal_argv;
  for (auto& s : eal) eal_argv.push_back(s.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  // rte_log (the vhost library's lines too) to stderr: stdout carries the results.
  rte_openlog_stream(stderr);
  if (o.debug) {
    rte_log_set_global_level(RTE_LOG_DEBUG);
    (void)rte_log_set_level(rte_log_register("vhost.lib"), RTE_LOG_DEBUG);
  }
  rte_mempool* pool = rte_pktmbuf_pool_create("harness_pool", 16383, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
  if (pool == nullptr) {
    std::fprintf(stderr, "mbuf pool: %s\n", rte_strerror(rte_errno));
    return 1;
  }

  int rc = 0;
  {
    Driver driver;
    std::unique_ptr<FileRingRecords> records;
    if (!o.ring_records.empty()) {
      records = std::make_unique<FileRingRecords>(o.ring_records, o.sockets);
      driver.SetPackedRingRecords(records.get());
    }
    if (o.mergeable == 0 && driver.FeatureDisable(vswitch::vhost::kFeatureMergeable) != 0) return 1;
    if (o.packed == 1 && driver.FeatureEnable(vswitch::vhost::kFeaturePacked) != 0) return 1;
    if (o.packed == 0 && driver.FeatureDisable(vswitch::vhost::kFeaturePacked) != 0) return 1;
    for (auto& r : g_ready) r.store(false);
    vswitch::vhost::DeviceOps ops;
    ops.new_device = [](int vid) {
      g_ready[vid].store(true);
      g_new_device.fetch_add(1);
      std::printf("HARNESS_EVENT new_device vid=%d\n", vid);
      return 0;
    };
    ops.destroy_device = [](int vid) {
      g_ready[vid].store(false);
      g_destroy_device.fetch_add(1);
      std::printf("HARNESS_EVENT destroy_device vid=%d\n", vid);
    };
    ops.vring_state_changed = [](int vid, uint16_t q, int enable) {
      std::printf("HARNESS_EVENT vring_state_changed vid=%d queue=%u enable=%d\n", vid, q, enable);
      return 0;
    };
    driver.CallbackRegister(ops);
    const uint64_t flags = (o.client ? vswitch::vhost::kRegisterClient : 0) |
                           (o.zero_copy ? vswitch::vhost::kRegisterDequeueZeroCopy : 0);
    for (const auto& path : o.sockets) {
      std::string error;
      if (driver.Register(path, flags, {}, &error) != 0) {
        std::fprintf(stderr, "register %s: %s\n", path.c_str(), error.c_str());
        return 1;
      }
    }
    if (driver.SessionStart() != 0) return 1;
    std::printf("HARNESS_EVENT started mode=%s\n", o.mode.c_str());

    Counters c;
    constexpr uint16_t kBurst = 32;
    rte_mbuf* pkts[kBurst];
    uint64_t next_seq = 0;
    std::vector<uint8_t> expect(o.size);
    const auto start = std::chrono::steady_clock::now();
    auto last_progress = start;
    uint32_t rr = 0;
    std::vector<rte_mbuf*> held;
    FILE* seq_out = o.seq_file.empty() ? nullptr : std::fopen(o.seq_file.c_str(), "w");
    if (!o.seq_file.empty() && seq_out == nullptr) {
      std::fprintf(stderr, "--seq-file %s: %s\n", o.seq_file.c_str(), std::strerror(errno));
      return 2;
    }
    while (!g_stop.load()) {
      const auto now = std::chrono::steady_clock::now();
      if (o.duration > 0 && std::chrono::duration<double>(now - start).count() >= o.duration) break;
      if (now - last_progress >= std::chrono::seconds(1)) {
        PrintCounters("HARNESS_PROGRESS", c, driver, o);
        last_progress = now;
      }
      bool any = false;
      for (int vid = 0; vid < 64; ++vid) {
        if (!g_ready[vid].load(std::memory_order_relaxed)) continue;
        any = true;
        for (uint16_t qp = 0; qp < o.queues; ++qp) {
          // Guest TX (odd queue) first.
          const uint16_t n = driver.DequeueBurst(vid, 2 * qp + 1, pool, pkts, kBurst);
          for (uint16_t i = 0; i < n; ++i) {
            rte_mbuf* m = pkts[i];
            const uint32_t len = m->pkt_len;
            const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
            const bool contiguous = m->nb_segs == 1;
            c.rx_packets++;
            c.rx_per_queue[qp]++;
            c.rx_bytes += len;
            if (seq_out != nullptr && len >= 18 && rte_pktmbuf_data_len(m) >= 18 && data[12] == 0x88 &&
                data[13] == 0xb5) {
              std::fprintf(seq_out, "%u\n", (unsigned{data[14]} << 24) | (unsigned{data[15]} << 16) |
                                                (unsigned{data[16]} << 8) | unsigned{data[17]});
            }
            if (o.digest && contiguous) c.digest += Fnv(data, len);
            if (o.mode == "sink" && o.check_txonly) {
              if (contiguous && TxonlyHeadersOk(data, len, o.size)) c.rx_ok++; else c.rx_bad++;
            } else if (o.mode == "source") {
              bool ok = contiguous && len == o.size;
              if (ok) {
                uint64_t seq;
                std::memcpy(&seq, data + kSeqOffset, sizeof(seq));
                BuildPacket(expect.data(), o.size, seq);
                if (o.expect_swap) {
                  std::memcpy(expect.data(), &kSrcMac, 6);
                  std::memcpy(expect.data() + 6, &kDstMac, 6);
                }
                ok = seq < next_seq && std::memcmp(expect.data(), data, o.size) == 0;
              }
              if (ok) c.rx_ok++; else c.rx_bad++;
            }
          }
          // Written as they arrive, so a test that kills this process finds them.
          if (seq_out != nullptr && n > 0) std::fflush(seq_out);
          if (o.burst_delay_us > 0 && n > 0) std::this_thread::sleep_for(std::chrono::microseconds(o.burst_delay_us));
          if (o.mode == "echo" && n > 0) {
            const uint16_t sent = driver.EnqueueBurst(vid, 2 * qp, pkts, n);
            c.tx_packets += sent;
            c.tx_rejected += n - sent;
          }
          if (o.hold_until_exit_ms >= 0 && o.mode == "sink") {
            held.insert(held.end(), pkts, pkts + n);
          } else {
            for (uint16_t i = 0; i < n; ++i) rte_pktmbuf_free(pkts[i]);
          }
        }
        if (o.mode == "source" && (o.count == 0 || next_seq < o.count)) {
          const uint16_t qp = static_cast<uint16_t>(rr++ % o.queues);
          uint16_t want = kBurst;
          if (o.count != 0 && o.count - next_seq < want) want = static_cast<uint16_t>(o.count - next_seq);
          if (rte_pktmbuf_alloc_bulk(pool, pkts, want) != 0) continue;
          for (uint16_t i = 0; i < want; ++i) {
            uint8_t* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(pkts[i], static_cast<uint16_t>(o.size)));
            BuildPacket(p, o.size, next_seq + i);
          }
          const uint16_t sent = driver.EnqueueBurst(vid, 2 * qp, pkts, want);
          for (uint16_t i = 0; i < sent; ++i) c.tx_bytes += o.size;
          c.tx_packets += sent;
          next_seq += sent;
          for (uint16_t i = 0; i < want; ++i) rte_pktmbuf_free(pkts[i]);  // the library copied
        }
      }
      if (!any) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    PrintCounters("HARNESS", c, driver, o);
    if (seq_out != nullptr) std::fclose(seq_out);
    uint32_t in_flight = 0;
    for (int vid = 0; vid < 64; ++vid) in_flight += driver.ZeroCopyInFlight(vid);
    std::printf("HARNESS_EVENT stopping held=%zu zero_copy_in_flight=%u\n", held.size(), in_flight);
    // The holder lets go of its buffers a while after the stop began, as a consumer
    // finishing its work would, while the sockets are unregistered below.
    std::thread releaser([&held, &o] {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::max(o.hold_until_exit_ms, 0)));
      for (rte_mbuf* m : held) rte_pktmbuf_free(m);
    });
    for (const auto& path : o.sockets) (void)driver.Unregister(path);
    releaser.join();
    std::printf("HARNESS_EVENT stopped pool_in_use=%u\n", rte_mempool_in_use_count(pool));
    driver.SessionStop();
    rc = c.rx_bad == 0 ? 0 : 3;
  }
  rte_mempool_free(pool);
  rte_eal_cleanup();
  return rc;
}
