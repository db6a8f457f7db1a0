// DPDK's virtio-user PMD as a test "guest": dpdk-testpmd with net_virtio_user0 on a
// vhost-user socket, polling core 0 (vswitch-vhost polls core 1). Stopped by pid, its
// hugepage files and runtime directory removed, when the object goes away.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "process.h"
#include "test_env.h"

namespace vswitch::test {

class VirtioUser {
 public:
  // `mode`: testpmd forward mode (txonly, rxonly, macswap, io, ...). `vdev_extra` is
  // appended to the vdev string (",server=1", ",queues=2", ",mrg_rxbuf=1"); `extra` to
  // testpmd's own arguments; `eal_extra` to the EAL arguments (a second port:
  // {"--vdev", "net_pcap0,rx_pcap=...,tx_pcap=..."}; the virtio-user port stays port 0).
  // `start_after` > 0: testpmd runs interactive and is told to "start" forwarding only
  // then (no periodic stats, so LastStat finds nothing): a guest whose first frames must
  // not race the back-end's ring setup. `commands_fifo` (with start_after > 0): a FIFO
  // this creates, whose lines testpmd reads as commands after "start" (Command).
  VirtioUser(const TempDir& dir, const std::string& socket, const std::string& mode,
             const std::string& mac, const std::string& vdev_extra = "",
             const std::vector<std::string>& extra = {},
             const std::vector<std::string>& eal_extra = {},
             std::chrono::milliseconds start_after = {}, const std::string& commands_fifo = "");
  ~VirtioUser();
  VirtioUser(const VirtioUser&) = delete;
  VirtioUser& operator=(const VirtioUser&) = delete;

  [[nodiscard]] Process& process() { return process_; }
  // The last value testpmd printed for `key` ("RX-packets:", "RX-bytes:", ...), -1 if none.
  [[nodiscard]] long long LastStat(const std::string& key);
  // Hands testpmd one interactive command line (needs `commands_fifo`); false if the FIFO
  // could not be written.
  [[nodiscard]] bool Command(const std::string& line);

 private:
  std::string prefix_;
  std::string fifo_;
  Process process_;
};

// vswitch-ring-probe (tests/ring_probe) against a group's rings.
[[nodiscard]] CommandResult RingProbe(const std::string& file_prefix, const std::vector<std::string>& args);
// The hex of every "FRAME <len> <hex>" line of a probe's output.
[[nodiscard]] std::vector<std::string> ProbeFrames(const std::string& probe_output);
// The hex of an injected probe frame `i` of `size` bytes (see ring_probe.cc FillFrame).
[[nodiscard]] std::string ProbeFrameHex(const std::string& dst, const std::string& src, unsigned size, size_t i);

}  // namespace vswitch::test
