// vswitch-latency-peer (tests/tools/latency_peer.cc) as a test's child: guests A and B on
// a group's two sockets in one DPDK process, driven one command at a time through a FIFO.
// Stopped by pid, its hugepage files and runtime directory removed, when the object goes.
#pragma once

#include <chrono>
#include <string>

#include "process.h"
#include "test_group.h"

namespace vswitch::test {

// What the peer answered to "send": counts, and latencies (-1 when nothing arrived).
struct LatencyReport {
  long sent = -1, received = -1, lost = -1, duplicates = -1, out_of_order = -1, stale = -1, foreign = -1,
       tx_failed = -1, slow = -1;
  bool aborted = true;
  double p50_us = -1, p99_us = -1, max_us = -1;
  std::string slowest;  // "seq:latency_us:gap_us,..." for the five slowest frames
  std::string text;     // the whole reply, for failure messages
};

// Parses a "send" reply; a reply that is not one leaves every count at -1.
[[nodiscard]] LatencyReport ParseLatencyReport(const std::string& reply);

class LatencyPeerProcess {
 public:
  // The peer's main lcore runs on `cpu`. `server_mode`: the ports listen (virtio-user
  // server=1) for a client-mode vswitch-vhost and accept it again after it restarts;
  // otherwise they connect to a server-mode group (and block there until it listens).
  LatencyPeerProcess(const TestGroup& group, int cpu, const std::string& mac_a, const std::string& mac_b,
                     bool server_mode);
  ~LatencyPeerProcess();
  LatencyPeerProcess(const LatencyPeerProcess&) = delete;
  LatencyPeerProcess& operator=(const LatencyPeerProcess&) = delete;

  // Sends one command line; returns its reply without "REPLY ", or "" (with the peer's
  // log appended by the caller, see Log) when none came within `timeout`.
  [[nodiscard]] std::string Command(const std::string& line, std::chrono::milliseconds timeout);
  // "learn": both MACs learned by switching, retried for up to `timeout`.
  [[nodiscard]] bool Learn(std::chrono::milliseconds timeout, std::string* reply);
  // "send": `count` frames A -> B, gaps uniform in [0, max_gap], each waited for up to
  // `wait`; the peer gives up after 20 frames slower than `slow` (or missing).
  [[nodiscard]] LatencyReport Send(int count, std::chrono::microseconds max_gap, std::chrono::milliseconds wait,
                                   unsigned seed, std::chrono::microseconds slow);
  // "port": `count` frames written from the kernel's side into the group's net_tap port
  // `iface`, tagged `vlan`, to guest A; gaps uniform in [min_gap, max_gap]; as Send.
  [[nodiscard]] LatencyReport FromPort(const std::string& iface, int vlan, int count, std::chrono::microseconds min_gap,
                                       std::chrono::microseconds max_gap, std::chrono::milliseconds wait,
                                       unsigned seed, std::chrono::microseconds slow);
  [[nodiscard]] std::string Log() const { return process_.Log(); }
  [[nodiscard]] Process& process() { return process_; }

 private:
  std::string prefix_;
  std::string fifo_;
  int fifo_fd_ = -1;
  size_t replies_seen_ = 0;
  Process process_;
};

}  // namespace vswitch::test
