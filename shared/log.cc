#include "log.h"

#include <cstdarg>
#include <cstdio>

namespace vswitch {
namespace {

int g_logtype = -1;
const char* g_prefix = "vswitch";

uint32_t LevelFromName(const std::string& name) {
  if (name == "error") return RTE_LOG_ERR;
  if (name == "warning") return RTE_LOG_WARNING;
  if (name == "notice") return RTE_LOG_NOTICE;
  if (name == "debug") return RTE_LOG_DEBUG;
  return RTE_LOG_INFO;
}

}  // namespace

void InitLog(Role role, const std::string& level) {
  static std::string name;
  name = "vswitch." + std::string(RoleName(role));
  g_prefix = RoleBinary(role).data();
  setvbuf(stderr, nullptr, _IOLBF, 0);
  rte_openlog_stream(stderr);
  // EAL's --log-level=notice set the global ceiling; lift it for our logtype and keep
  // DPDK's own libraries and drivers at notice.
  rte_log_set_global_level(RTE_LOG_DEBUG);
  rte_log_set_level_pattern("lib.*", RTE_LOG_NOTICE);
  rte_log_set_level_pattern("pmd.*", RTE_LOG_NOTICE);
  g_logtype = rte_log_register_type_and_pick_level(name.c_str(), RTE_LOG_INFO);
  if (g_logtype >= 0) rte_log_set_level(g_logtype, LevelFromName(level));
}

int LogType() { return g_logtype; }

void Log(uint32_t level, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (g_logtype < 0) {
    std::fprintf(stderr, "%s: %s\n", g_prefix, buf);
    return;
  }
  rte_log(level, static_cast<uint32_t>(g_logtype), "%s\n", buf);
}

}  // namespace vswitch
