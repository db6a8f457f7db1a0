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

// Field `n` (proc(5) numbering, 3 = state) of a /proc/PID/stat line; empty when the line
// has none. The command name (field 2) may hold spaces and ')': fields are counted from
// the last ')'.
std::string_view StatField(std::string_view line, int n) {
  const size_t close = line.rfind(')');
  if (close == std::string_view::npos || n < 3) return {};
  std::string_view rest = line.substr(close + 1);
  for (int field = 3;; ++field) {
    const size_t begin = rest.find_first_not_of(" \n");
    if (begin == std::string_view::npos) return {};
    rest.remove_prefix(begin);
    const size_t end = std::min(rest.find_first_of(" \n"), rest.size());
    if (field == n) return rest.substr(0, end);
    rest.remove_prefix(end);
  }
}

// Reads /proc/PID/stat (or /proc/self/stat) into `buf`; its length, 0 when unreadable.
size_t ReadStat(const char* path, char* buf, size_t size) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const ssize_t n = read(fd, buf, size);
  close(fd);
  return n > 0 ? static_cast<size_t>(n) : 0;
}

}  // namespace

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno != EPERM) return false;
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  char buf[1024];
  const size_t n = ReadStat(path, buf, sizeof(buf));
  if (n == 0) return false;
  const std::string_view state = StatField(std::string_view(buf, n), 3);
  if (state.empty()) return true;
  return state[0] != 'Z' && state[0] != 'X';
}

std::optional<uint64_t> ParseStartTicks(std::string_view line) {
  const std::string_view field = StatField(line, 22);
  if (field.empty()) return std::nullopt;
  uint64_t ticks = 0;
  for (char c : field) {
    if (c < '0' || c > '9') return std::nullopt;
    ticks = ticks * 10 + static_cast<uint64_t>(c - '0');
  }
  return ticks;
}

double MsSinceExec() {
  char buf[1024];
  const size_t n = ReadStat("/proc/self/stat", buf, sizeof(buf));
  const std::optional<uint64_t> ticks = ParseStartTicks(std::string_view(buf, n));
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
