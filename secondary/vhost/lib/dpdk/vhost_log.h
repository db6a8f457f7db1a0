// The library's log goes through DPDK's rte_log, the one log path of the process: the
// stream rte_openlog_stream set (stderr by default), the global level and the level of
// the logtype it logs under, which the process picks with SetLogType (vswitch-vhost: its
// role's logtype, so [eal] log-level applies to these lines as to its own). Lines are
// prefixed like DPDK's vhost library ("VHOST_CONFIG:" for control, "VHOST_DATA:" for
// the datapath) so operators grep the same words.
#pragma once

namespace vswitch::vhost {

enum class LogLevel { kError, kWarning, kInfo, kDebug };

// The rte_log logtype the library logs under from now on. Until a process calls it, the
// library logs under its own logtype, "vhost.lib" (level info). Call before sessions run.
void SetLogType(int logtype);

void Log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace vswitch::vhost
