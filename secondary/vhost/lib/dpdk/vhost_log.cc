#include "vhost_log.h"

#include <rte_log.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace vswitch::vhost {
namespace {

std::atomic<int> g_logtype{-1};

int OwnLogType() {
  static const int type = rte_log_register_type_and_pick_level("vhost.lib", RTE_LOG_INFO);
  return type;
}

uint32_t RteLevel(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return RTE_LOG_ERR;
    case LogLevel::kWarning: return RTE_LOG_WARNING;
    case LogLevel::kInfo: return RTE_LOG_INFO;
    case LogLevel::kDebug: return RTE_LOG_DEBUG;
  }
  return RTE_LOG_INFO;
}

}  // namespace

void SetLogType(int logtype) { g_logtype.store(logtype); }

void Log(LogLevel level, const char* fmt, ...) {
  int type = g_logtype.load(std::memory_order_relaxed);
  if (type < 0) type = OwnLogType();
  // A registration that failed (no logtype left) still logs, under DPDK's "user1".
  if (type < 0) type = RTE_LOGTYPE_USER1;
  const uint32_t rte_level = RteLevel(level);
  // Formatting costs more than the check: skip it for lines nobody will see.
  if (!rte_log_can_log(static_cast<uint32_t>(type), rte_level)) return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  rte_log(rte_level, static_cast<uint32_t>(type), "%s\n", buf);
}

}  // namespace vswitch::vhost
