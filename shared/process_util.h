// Process liveness and signal handling shared by every role.
#pragma once

#include <sys/types.h>

#include <atomic>

namespace vswitch {

// True while `pid` exists and is not a zombie (a killed child that nobody reaped yet is
// gone for our purposes).
[[nodiscard]] bool ProcessAlive(pid_t pid);

// SIGINT and SIGTERM set the returned flag; the main loop exits when it is set.
// SIGPIPE is ignored (a frontend closing its socket must not kill us).
std::atomic<bool>& InstallStopSignals();

}  // namespace vswitch
