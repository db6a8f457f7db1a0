#include "vhost_log.h"

#include <cstdio>

namespace vswitch::vhost {
namespace {

LogSink g_sink;
LogLevel g_level = LogLevel::kInfo;

}  // namespace

void SetLogSink(LogSink sink) { g_sink = std::move(sink); }
void SetLogLevel(LogLevel max_level) { g_level = max_level; }

void Log(LogLevel level, const char* fmt, ...) {
  if (level > g_level) return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (g_sink) {
    g_sink(level, buf);
    return;
  }
  std::fprintf(stderr, "%s\n", buf);
}

}  // namespace vswitch::vhost
