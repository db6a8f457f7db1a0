// Before EAL init: the secondaries of a primary that died leave on their own once they see
// it gone, but one may still be attached when the next primary starts. systemd restarts
// the primary 2 s after its death (Restart=on-failure, RestartSec=2) and vswitch-monitor
// takes up to 2 s to stop its HTTP server. DPDK's primary init then fails ("Cannot
// allocate memzone list"): every process of a group holds a shared flock(2) on the
// fbarray_* files of its runtime directory, and the primary needs them exclusively.
// So the primary waits for those processes first.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace vswitch {

struct LockedFile {
  unsigned major = 0;  // of the file's device
  unsigned minor = 0;
  unsigned long inode = 0;
};

// The pids holding (not waiting for) a lock on `file`, from the text of /proc/locks (pure,
// for tests). A line reads "1: FLOCK  ADVISORY  READ  1234 00:1a:5678 0 EOF": pid, then
// the device as hex major:minor and the inode in decimal (proc(5)).
[[nodiscard]] std::vector<pid_t> LockHolders(const std::string& proc_locks, const LockedFile& file);

// The processes that hold a lock on an fbarray_* file of `runtime_dir` (DPDK's
// /var/run/dpdk/<file-prefix>); empty when nobody does or the directory is not there.
[[nodiscard]] std::vector<pid_t> EarlierGroupMembers(const std::string& runtime_dir);

// Waits up to `timeout` until nobody holds the group's runtime files, telling stderr
// once whom it waits for. Empty when the primary may start; otherwise the error.
[[nodiscard]] std::string WaitForEarlierSecondaries(const std::string& runtime_dir,
                                                    const std::string& file_prefix,
                                                    std::chrono::milliseconds timeout);

}  // namespace vswitch
