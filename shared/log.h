// Logging through rte_log: one logtype per role ("vswitch.<role>"), written to stderr,
// which deploy/vswitch sends to the role's log file (and systemd to the journal).
#pragma once

#include <rte_log.h>

#include <string>

#include "role.h"

namespace vswitch {

// Registers the role's logtype at `level` ("error".."debug") and points rte_log at stderr,
// line-buffered. Call right after rte_eal_init (and before it, for early errors, Log falls
// back to stderr).
void InitLog(Role role, const std::string& level);

// The role's rte_log logtype (-1 before InitLog): libraries of the process that log
// through rte_log use it too, so [eal] log-level applies to their lines.
[[nodiscard]] int LogType();

// printf-style; a newline is added.
void Log(uint32_t level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace vswitch

#define VSW_LOG(level, ...) ::vswitch::Log(RTE_LOG_##level, __VA_ARGS__)
