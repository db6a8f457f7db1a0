#include "latency_peer_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

namespace vswitch::test {
namespace {

int g_instances = 0;

// The lines of `log` that start with "REPLY ", without it.
std::vector<std::string> Replies(const std::string& log) {
  std::vector<std::string> out;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("REPLY ", 0) == 0) out.push_back(line.substr(6));
  }
  return out;
}

LatencyReport Invalid(const std::string& reply) {
  LatencyReport r;
  r.text = reply;
  return r;
}

}  // namespace

LatencyReport ParseLatencyReport(const std::string& reply) {
  LatencyReport r;
  r.text = reply;
  std::istringstream in(reply);
  std::string field;
  bool complete = false;
  while (in >> field) {
    const auto eq = field.find('=');
    if (eq == std::string::npos) return Invalid(reply);
    const std::string key = field.substr(0, eq), value = field.substr(eq + 1);
    try {
      if (key == "sent") r.sent = std::stol(value);
      else if (key == "received") r.received = std::stol(value);
      else if (key == "lost") r.lost = std::stol(value);
      else if (key == "duplicates") r.duplicates = std::stol(value);
      else if (key == "out_of_order") r.out_of_order = std::stol(value);
      else if (key == "stale") r.stale = std::stol(value);
      else if (key == "foreign") r.foreign = std::stol(value);
      else if (key == "tx_failed") r.tx_failed = std::stol(value);
      else if (key == "slow") r.slow = std::stol(value);
      else if (key == "aborted") r.aborted = value != "0";
      else if (key == "p50_us") r.p50_us = std::stod(value);
      else if (key == "p99_us") r.p99_us = std::stod(value);
      else if (key == "max_us") r.max_us = std::stod(value);
      else if (key == "slowest") r.slowest = value, complete = true;
    } catch (const std::exception&) {
      return Invalid(reply);
    }
  }
  return complete ? r : Invalid(reply);
}

LatencyPeerProcess::LatencyPeerProcess(const TestGroup& group, int cpu, const std::string& mac_a,
                                       const std::string& mac_b, bool server_mode)
    : prefix_(UniqueName("vlp") + "n" + std::to_string(g_instances)),
      fifo_(group.dir() / ("latency_peer" + std::to_string(g_instances) + ".ctl")) {
  ++g_instances;
  // Opened read-write, the FIFO needs no reader yet; close-on-exec keeps the write end
  // out of the peer, which then sees end of file (and leaves) if the test dies.
  if (mkfifo(fifo_.c_str(), 0600) == 0) fifo_fd_ = open(fifo_.c_str(), O_RDWR | O_CLOEXEC);
  const std::string server = server_mode ? ",server=1" : "";
  process_ = Process(
      {BinaryDir() + "/tests/tools/vswitch-latency-peer", "-l", std::to_string(cpu), "--no-pci",
       "--single-file-segments", "--file-prefix=" + prefix_, "-m", "128", "--no-telemetry", "--vdev",
       "net_virtio_user0,path=" + group.socket(0) + ",mac=" + mac_a + server, "--vdev",
       "net_virtio_user1,path=" + group.socket(1) + ",mac=" + mac_b + server, "--", "--control", fifo_},
      group.dir() / (prefix_ + ".log"));
}

LatencyPeerProcess::~LatencyPeerProcess() {
  if (fifo_fd_ >= 0) {
    (void)!write(fifo_fd_, "quit\n", 5);
    (void)process_.Wait(std::chrono::seconds(5));
  }
  process_.Stop(SIGINT, std::chrono::seconds(5));
  if (fifo_fd_ >= 0) close(fifo_fd_);
  unlink(fifo_.c_str());
  RemoveDpdkLeftovers(prefix_);
}

std::string LatencyPeerProcess::Command(const std::string& line, std::chrono::milliseconds timeout) {
  if (fifo_fd_ < 0) return "";
  const std::string text = line + "\n";
  if (write(fifo_fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) return "";
  std::string reply;
  const bool answered = WaitFor([&] {
    const auto replies = Replies(process_.Log());
    if (replies.size() <= replies_seen_) return false;
    reply = replies[replies_seen_];
    return true;
  }, timeout);
  if (!answered) return "";
  ++replies_seen_;
  return reply;
}

bool LatencyPeerProcess::Learn(std::chrono::milliseconds timeout, std::string* reply) {
  *reply = Command("learn " + std::to_string(timeout.count()), timeout + std::chrono::seconds(10));
  return reply->rfind("learned ", 0) == 0;
}

LatencyReport LatencyPeerProcess::Send(int count, std::chrono::microseconds max_gap,
                                       std::chrono::milliseconds wait, unsigned seed,
                                       std::chrono::microseconds slow) {
  // The peer gives up after 20 frames slower than `slow`, so its run takes at most about
  // count * (max_gap + slow) + 20 * wait, normally count * (max_gap / 2 + a few ms).
  const auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(
      count * (max_gap + std::chrono::milliseconds(5)) + 25 * wait + std::chrono::seconds(30));
  return ParseLatencyReport(Command("send " + std::to_string(count) + " " + std::to_string(max_gap.count()) + " " +
                                        std::to_string(wait.count()) + " " + std::to_string(seed) + " " +
                                        std::to_string(slow.count()),
                                    limit));
}

LatencyReport LatencyPeerProcess::FromPort(const std::string& iface, int vlan, int count,
                                           std::chrono::microseconds min_gap, std::chrono::microseconds max_gap,
                                           std::chrono::milliseconds wait, unsigned seed,
                                           std::chrono::microseconds slow) {
  const auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(
      count * (max_gap + std::chrono::milliseconds(5)) + 25 * wait + std::chrono::seconds(30));
  return ParseLatencyReport(Command("port " + iface + " " + std::to_string(vlan) + " " + std::to_string(count) + " " +
                                        std::to_string(min_gap.count()) + " " + std::to_string(max_gap.count()) + " " +
                                        std::to_string(wait.count()) + " " + std::to_string(seed) + " " +
                                        std::to_string(slow.count()),
                                    limit));
}

}  // namespace vswitch::test
