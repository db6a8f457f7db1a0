#include "process_util.h"

#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace vswitch {
namespace {

std::atomic<bool> g_stop{false};

void OnStop(int) { g_stop.store(true); }

}  // namespace

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno != EPERM) return false;
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[256];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  // Format: "pid (comm) S ...": the state follows the last ')'.
  const char* p = nullptr;
  for (ssize_t i = n - 1; i >= 0; --i) {
    if (buf[i] == ')') {
      p = buf + i;
      break;
    }
  }
  if (p == nullptr || p[1] == '\0' || p[2] == '\0') return true;
  return p[2] != 'Z' && p[2] != 'X';
}

std::optional<uint64_t> ParseStartTicks(std::string_view line) {
  // "pid (comm) state ppid ...": comm may hold spaces and ')', so count fields from the
  // last ')'; the state is field 3 and the start time field 22.
  const size_t close = line.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(close + 1);
  int field = 2;
  while (!rest.empty()) {
    const size_t begin = rest.find_first_not_of(' ');
    if (begin == std::string_view::npos) break;
    rest.remove_prefix(begin);
    const size_t end = std::min(rest.find(' '), rest.size());
    if (++field == 22) {
      uint64_t ticks = 0;
      for (char c : rest.substr(0, end)) {
        if (c < '0' || c > '9') return std::nullopt;
        ticks = ticks * 10 + static_cast<uint64_t>(c - '0');
      }
      return end == 0 ? std::nullopt : std::optional<uint64_t>(ticks);
    }
    rest.remove_prefix(end);
  }
  return std::nullopt;
}

double MsSinceExec() {
  const int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[1024];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return -1;
  const std::optional<uint64_t> ticks = ParseStartTicks(std::string_view(buf, static_cast<size_t>(n)));
  const long hz = sysconf(_SC_CLK_TCK);
  timespec now;
  if (!ticks || hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &now) != 0) return -1;
  const double now_ms = static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
  return now_ms - static_cast<double>(*ticks) * 1e3 / static_cast<double>(hz);
}

std::atomic<bool>& InstallStopSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnStop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return g_stop;
}

}  // namespace vswitch
