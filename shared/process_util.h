// Process liveness and signal handling shared by every role.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

namespace vswitch {

// True while `pid` exists and is not a zombie (a killed child that nobody reaped yet is
// gone for our purposes).
[[nodiscard]] bool ProcessAlive(pid_t pid);

// The start time (field 22, in clock ticks since boot) of a /proc/PID/stat line; nothing
// when the line is not one (proc(5)). Pure, for its test.
[[nodiscard]] std::optional<uint64_t> ParseStartTicks(std::string_view stat_line);

// Milliseconds since this process was started (CLOCK_BOOTTIME against its start time in
// /proc/self/stat: the fork that became it, so its exec, the dynamic loader and static
// constructors count too); -1 when unknown. Resolution: one clock tick (10 ms).
[[nodiscard]] double MsSinceExec();

// SIGINT and SIGTERM set the returned flag; the main loop exits when it is set.
// SIGPIPE is ignored (a frontend closing its socket must not kill us).
std::atomic<bool>& InstallStopSignals();

}  // namespace vswitch
