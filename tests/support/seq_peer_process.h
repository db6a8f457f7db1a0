// vswitch-seq-peer (tests/tools/seq_peer.cc) as a test's child: guests A and B on a
// group's two sockets in one DPDK process, streaming numbered frames to each other from
// the start until Finish. Stopped by pid, its hugepage files and runtime directory
// removed, when the object goes.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "process.h"
#include "test_group.h"

namespace vswitch::test {

// One direction's figures from the peer's REPORT line (-1: absent).
struct SeqStream {
  long long sent = -1, received = -1, missing = -1, duplicates = -1, late = -1, gaps = -1;
  bool beyond = true;
  std::string first_gaps;  // "START+COUNT,..."
};

struct SeqReport {
  bool complete = false;  // both directions and "other" were reported
  SeqStream a_to_b, b_to_a;
  long long learn = -1, foreign = -1, tx_refused = -1;
  // Each STALL line: a direction's frames stopped arriving for `ms` while streaming, until
  // `end_ms` (CLOCK_REALTIME, ms since the epoch).
  struct Stall {
    bool a_to_b = false;
    long long ms = 0, end_ms = 0;
  };
  std::vector<Stall> stalls;
  std::string text;  // the REPORT lines, for failure messages
};

// Parses the REPORT lines of a peer's log.
[[nodiscard]] SeqReport ParseSeqReport(const std::string& log);

class SeqPeerProcess {
 public:
  // The peer's main lcore runs on `cpu`. `server_mode`: the ports listen (virtio-user
  // server=1) for a client-mode vswitch-vhost and accept it again after it restarts.
  // `packed`: the ports ask for packed virtqueues (virtio-user packed_vq=1).
  SeqPeerProcess(const TestGroup& group, int cpu, const std::string& mac_a, const std::string& mac_b,
                 bool server_mode, bool packed = false);
  ~SeqPeerProcess();
  SeqPeerProcess(const SeqPeerProcess&) = delete;
  SeqPeerProcess& operator=(const SeqPeerProcess&) = delete;

  // True once both MACs are learned and the numbered stream runs.
  [[nodiscard]] bool WaitLearned(std::chrono::milliseconds timeout);
  // Stops the senders, lets the receivers drain, and returns the peer's report.
  [[nodiscard]] SeqReport Finish();
  [[nodiscard]] std::string Log() const { return process_.Log(); }

 private:
  std::string prefix_;
  Process process_;
  bool finished_ = false;
};

}  // namespace vswitch::test
