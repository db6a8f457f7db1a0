#include "virtio_user.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <regex>
#include <sstream>
#include <stdexcept>

namespace vswitch::test {
namespace {

int g_instances = 0;

std::string MacHex(const std::string& mac) {
  std::string hex;
  for (char c : mac) {
    if (c != ':') hex += static_cast<char>(std::tolower(c));
  }
  return hex;
}

}  // namespace

VirtioUser::VirtioUser(const TempDir& dir, const std::string& socket, const std::string& mode,
                       const std::string& mac, const std::string& vdev_extra,
                       const std::vector<std::string>& extra,
                       const std::vector<std::string>& eal_extra,
                       std::chrono::milliseconds start_after, const std::string& commands_fifo)
    : prefix_(UniqueName("vu") + "n" + std::to_string(g_instances++)), fifo_(commands_fifo) {
  std::vector<std::string> argv = {
      "dpdk-testpmd", "--no-pci", "--single-file-segments", "--file-prefix=" + prefix_,
      "-l", "0,1", "--main-lcore", "1", "-m", "256", "--no-telemetry",
      "--vdev", "net_virtio_user0,path=" + socket + ",mac=" + mac + vdev_extra};
  argv.insert(argv.end(), eal_extra.begin(), eal_extra.end());
  for (std::string a : {std::string("--"), "--forward-mode=" + mode, std::string("--txpkts=64"),
                        std::string("--total-num-mbufs=8192")}) {
    argv.push_back(std::move(a));
  }
  if (start_after.count() > 0) {
    argv.push_back("-i");
  } else {
    argv.push_back("--stats-period");
    argv.push_back("1");
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  if (start_after.count() > 0) {
    // testpmd reads "start" from a pipe fed after the delay; exec keeps its pid ours.
    const std::string delay = std::to_string(start_after.count() / 1000.0);
    // With a FIFO, what the test writes to it follows: cat holds it open read-write, so
    // it never sees the end of a writer and keeps the pipe open, as sleep does.
    std::string after_start = "exec sleep 100000";
    if (!fifo_.empty()) {
      if (mkfifo(fifo_.c_str(), 0600) != 0) throw std::runtime_error("mkfifo " + fifo_ + " failed");
      after_start = "exec cat 0<> \"$0\"";
    }
    argv.insert(argv.begin(), {"bash", "-c",
                               "exec 3< <(sleep " + delay + "; echo start; " + after_start + "); exec \"$@\" <&3",
                               fifo_.empty() ? "bash" : fifo_});
  }
  process_ = Process(argv, dir / (prefix_ + ".log"));
}

VirtioUser::~VirtioUser() {
  process_.Stop(SIGINT, std::chrono::seconds(5));
  RemoveDpdkLeftovers(prefix_);
}

bool VirtioUser::Command(const std::string& line) {
  if (fifo_.empty()) return false;
  const int fd = open(fifo_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  const std::string text = line + "\n";
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

long long VirtioUser::LastStat(const std::string& key) {
  const std::string log = process_.Log();
  const std::regex re(key + "\\s+([0-9]+)");
  long long last = -1;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it) {
    last = std::stoll((*it)[1]);
  }
  return last;
}

CommandResult RingProbe(const std::string& file_prefix, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BinaryDir() + "/tests/ring_probe/vswitch-ring-probe", "--file-prefix",
                                   file_prefix};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, std::chrono::seconds(60));
}

std::vector<std::string> ProbeFrames(const std::string& probe_output) {
  std::vector<std::string> frames;
  std::istringstream in(probe_output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("FRAME ", 0) == 0) frames.push_back(line.substr(line.find(' ', 6) + 1));
  }
  return frames;
}

std::string ProbeFrameHex(const std::string& dst, const std::string& src, unsigned size, size_t i) {
  std::string hex = MacHex(dst) + MacHex(src) + "88b5";
  for (unsigned k = 14; k < size; ++k) {
    char b[3];
    std::snprintf(b, sizeof(b), "%02x", static_cast<unsigned>((i + k) & 0xff));
    hex += b;
  }
  return hex;
}

}  // namespace vswitch::test
