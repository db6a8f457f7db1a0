// The library's log: one line per event on stderr (or a sink the process installs),
// prefixed like DPDK's vhost library ("VHOST_CONFIG:" for control, "VHOST_DATA:" for
// the datapath) so operators grep the same words.
#pragma once

#include <cstdarg>
#include <functional>
#include <string>

namespace vswitch::vhost {

enum class LogLevel { kError, kWarning, kInfo, kDebug };

using LogSink = std::function<void(LogLevel, const std::string&)>;

// Replaces the sink (nullptr restores stderr). Not for use while sessions run.
void SetLogSink(LogSink sink);
void SetLogLevel(LogLevel max_level);

void Log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace vswitch::vhost
