// A DPDK virtio-user guest whose traffic a test writes and reads as files: testpmd in io
// mode between the virtio-user port (port 0, on a vswitch socket) and a net_pcap port
// (port 1) with one pcap file per queue pair each way. What in(q) holds leaves through the
// virtio port's TX queue q; what its RX queue q receives is written to out(q), flushed
// after every burst, so a test can read it while the guest runs. Frames are numbered
// patterns (pattern_pcap.h), checked byte for byte.
//
// testpmd reads in(q) and creates out(q) when port 1 starts. A test sends a new round of
// frames by loading new in files and restarting port 1: Reopen, then Resume once Reopened.
// Reopen first renames the out files, so what they recorded stays in files of their own
// (OutFiles) and a duplicate arriving late still lands in one, and the new out files
// appearing is the sign that testpmd restarted port 1 (its output on a pipe is buffered,
// so its log would say so late or never). Forwarding is stopped meanwhile; frames for the
// guest wait in its RX ring and vswitch-vhost (testpmd runs with --no-flush-rx, so
// "start" does not throw them away).
//
// Stopped by pid (SIGINT, which closes the files), its hugepage files and runtime
// directory removed, when the object goes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pattern_pcap.h"
#include "test_env.h"
#include "virtio_user.h"

namespace vswitch::test {

class PcapGuest {
 public:
  struct Options {
    int queues = 1;          // queue pairs of the virtio-user port (queues=N, --rxq/--txq N)
    std::string vdev_extra;  // appended to the virtio-user vdev: ",packed_vq=1,server=1", ...
    std::vector<std::string> eal_extra;  // more EAL arguments for testpmd
  };

  // Files go into `dir` under `name` (one guest per name). Nothing runs until Start.
  PcapGuest(const TempDir& dir, std::string name, std::string socket, std::string mac, Options options);
  ~PcapGuest();
  PcapGuest(const PcapGuest&) = delete;
  PcapGuest& operator=(const PcapGuest&) = delete;

  // Makes `frames` (to `dst`, from this guest's MAC) what queue `queue` sends the next time
  // port 1 starts (Start, Reopen). False if the file could not be written.
  [[nodiscard]] bool Load(int queue, const std::string& dst, const std::vector<PatternFrame>& frames);
  // Starts testpmd; forwarding starts 2 s later (see VirtioUser: a guest whose first frames
  // must not race the back-end's ring setup).
  void Start();
  // Renames the out files and tells testpmd to stop forwarding and restart port 1.
  [[nodiscard]] bool Reopen();
  // True once testpmd restarted port 1 after the last Reopen (its out files exist again).
  [[nodiscard]] bool Reopened() const;
  // Starts forwarding again.
  [[nodiscard]] bool Resume();
  // Frames from `src` in the current out files (recorded since the last Reopen).
  [[nodiscard]] int Received(const std::string& src) const;
  // Frames from `src` in the current out file of `queue`.
  [[nodiscard]] int ReceivedOn(int queue, const std::string& src) const;
  // Every out file so far: those Reopen renamed and the current ones.
  [[nodiscard]] std::vector<std::string> OutFiles() const;
  // Stops testpmd (SIGINT: it closes its ports, so every out file is complete).
  void Stop();

  [[nodiscard]] const std::string& mac() const { return mac_; }
  [[nodiscard]] int queues() const { return options_.queues; }
  [[nodiscard]] std::string Log();
  [[nodiscard]] std::string in(int queue) const;
  [[nodiscard]] std::string out(int queue) const;

 private:
  const TempDir& dir_;
  std::string name_, socket_, mac_;
  Options options_;
  int reopened_ = 0;
  std::vector<std::string> closed_outs_;
  std::unique_ptr<VirtioUser> guest_;
};

}  // namespace vswitch::test
