#include "earlier_secondaries.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace vswitch {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// True when another process holds a lock on `path`: an exclusive non-blocking flock fails.
// The lock taken to find out is released at once.
bool LockedByOthers(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool busy = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);  // drops the lock, if taken
  return busy;
}

std::string PidList(const std::vector<pid_t>& pids) {
  std::string out;
  // 0: a holder this process cannot name (outside its PID namespace).
  for (const pid_t pid : pids) out += (out.empty() ? "" : ", ") + (pid > 0 ? std::to_string(pid) : "unknown");
  return out;
}

}  // namespace

std::vector<pid_t> LockHolders(const std::string& proc_locks, const LockedFile& file) {
  std::vector<pid_t> pids;
  std::istringstream in(proc_locks);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, kind, mode, access, dev;
    long pid = 0;
    fields >> id >> kind;
    if (kind == "->") continue;  // a process blocked waiting for the lock, not holding it
    fields >> mode >> access >> pid >> dev;
    unsigned major = 0, minor = 0;
    unsigned long inode = 0;
    if (!fields || std::sscanf(dev.c_str(), "%x:%x:%lu", &major, &minor, &inode) != 3) continue;
    if (major != file.major || minor != file.minor || inode != file.inode || pid <= 0) continue;
    if (std::find(pids.begin(), pids.end(), pid) == pids.end()) pids.push_back(static_cast<pid_t>(pid));
  }
  return pids;
}

std::vector<pid_t> EarlierGroupMembers(const std::string& runtime_dir) {
  std::vector<pid_t> members;
  std::error_code ec;
  std::string locks;
  for (const auto& entry : fs::directory_iterator(runtime_dir, ec)) {
    const std::string path = entry.path().string();
    if (entry.path().filename().string().rfind("fbarray_", 0) != 0 || !LockedByOthers(path)) continue;
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) continue;
    if (locks.empty()) locks = Slurp("/proc/locks");
    const LockedFile file{major(st.st_dev), minor(st.st_dev), static_cast<unsigned long>(st.st_ino)};
    std::vector<pid_t> holders = LockHolders(locks, file);
    // Locked, but the holder is not in /proc/locks as this process sees it (another PID
    // namespace): still someone to wait for.
    if (holders.empty()) holders.push_back(0);
    for (const pid_t pid : holders) {
      if (std::find(members.begin(), members.end(), pid) == members.end()) members.push_back(pid);
    }
  }
  std::sort(members.begin(), members.end());
  return members;
}

std::string WaitForEarlierSecondaries(const std::string& runtime_dir, const std::string& file_prefix,
                                      std::chrono::milliseconds timeout) {
  std::vector<pid_t> members = EarlierGroupMembers(runtime_dir);
  if (members.empty()) return "";
  std::fprintf(stderr,
               "vswitch-primary: waiting for the secondaries of an earlier primary (pid %s) to leave "
               "the group '%s'\n",
               PidList(members).c_str(), file_prefix.c_str());
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    members = EarlierGroupMembers(runtime_dir);
    if (members.empty()) return "";
  }
  return "processes of an earlier group with file-prefix '" + file_prefix + "' (pid " + PidList(members) +
         ") still hold " + runtime_dir + " after " + std::to_string(timeout.count() / 1000) +
         " s: they did not leave when their primary died; stop them (kill the pids, or "
         "deploy/vswitch down) and start the primary again";
}

}  // namespace vswitch
