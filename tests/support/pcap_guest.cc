#include "pcap_guest.h"

#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <utility>

namespace vswitch::test {

PcapGuest::PcapGuest(const TempDir& dir, std::string name, std::string socket, std::string mac, Options options)
    : dir_(dir), name_(std::move(name)), socket_(std::move(socket)), mac_(std::move(mac)), options_(std::move(options)) {}

PcapGuest::~PcapGuest() { guest_.reset(); }

std::string PcapGuest::in(int queue) const { return dir_ / (name_ + ".in" + std::to_string(queue) + ".pcap"); }
std::string PcapGuest::out(int queue) const { return dir_ / (name_ + ".out" + std::to_string(queue) + ".pcap"); }

bool PcapGuest::Load(int queue, const std::string& dst, const std::vector<PatternFrame>& frames) {
  // Written aside and renamed into place: testpmd never opens a half-written file.
  const std::string next = in(queue) + ".next";
  return WritePatternPcap(next, dst, mac_, frames) && std::rename(next.c_str(), in(queue).c_str()) == 0;
}

void PcapGuest::Start() {
  const std::string q = std::to_string(options_.queues);
  std::string pcap = "net_pcap0";
  for (int i = 0; i < options_.queues; ++i) pcap += ",rx_pcap=" + in(i);
  for (int i = 0; i < options_.queues; ++i) pcap += ",tx_pcap=" + out(i);
  std::vector<std::string> eal = options_.eal_extra;
  eal.push_back("--vdev");
  eal.push_back(pcap);
  guest_ = std::make_unique<VirtioUser>(dir_, socket_, "io", mac_, ",queues=" + q + options_.vdev_extra,
                                        std::vector<std::string>{"--no-flush-rx", "--rxq=" + q, "--txq=" + q}, eal,
                                        std::chrono::seconds(2), dir_ / (name_ + ".cmd"));
}

bool PcapGuest::Reopen() {
  if (!guest_) return false;
  ++reopened_;
  for (int i = 0; i < options_.queues; ++i) {
    // testpmd keeps writing into the renamed file until port 1 stops.
    const std::string kept = dir_ / (name_ + ".out" + std::to_string(i) + "." + std::to_string(reopened_) + ".pcap");
    if (std::rename(out(i).c_str(), kept.c_str()) != 0) return false;
    closed_outs_.push_back(kept);
  }
  for (const char* c : {"stop", "port stop 1", "port start 1"}) {
    if (!guest_->Command(c)) return false;
  }
  return true;
}

bool PcapGuest::Reopened() const {
  for (int i = 0; i < options_.queues; ++i) {
    if (!std::filesystem::exists(out(i))) return false;
  }
  return true;
}

bool PcapGuest::Resume() { return guest_ && guest_->Command("start"); }

int PcapGuest::ReceivedOn(int queue, const std::string& src) const {
  PatternCheck c(mac_, src);
  c.Add(ReadPcapFrames(out(queue)));
  return c.good() + c.bad();
}

int PcapGuest::Received(const std::string& src) const {
  int n = 0;
  for (int i = 0; i < options_.queues; ++i) n += ReceivedOn(i, src);
  return n;
}

std::vector<std::string> PcapGuest::OutFiles() const {
  std::vector<std::string> files = closed_outs_;
  for (int i = 0; i < options_.queues; ++i) files.push_back(out(i));
  return files;
}

void PcapGuest::Stop() {
  if (guest_) guest_->process().Stop(SIGINT, std::chrono::seconds(10));
}

std::string PcapGuest::Log() { return guest_ ? guest_->process().Log() : ""; }

}  // namespace vswitch::test
