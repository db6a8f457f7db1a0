#include "secondary_main.h"

#include <cstdio>

#include "log.h"
#include "process_util.h"
#include "service_notify.h"

namespace vswitch {

int SecondaryMain(Role role, int argc, char** argv, const SecondaryBody& body) {
  const ParseResult parsed = ParseConfig(role, argc, argv);
  int exit_code = 0;
  if (!HandleParseResult(parsed, &exit_code)) return exit_code;
  std::atomic<bool>& stop = InstallStopSignals();
  std::string error;
  std::unique_ptr<SecondaryRuntime> runtime = SecondaryRuntime::Attach(parsed.config, &error);
  if (!runtime) {
    std::fprintf(stderr, "%s: %s\n", RoleBinary(role).data(), error.c_str());
    return 1;
  }
  exit_code = body(*runtime, parsed.config, stop);
  NotifyStopping();
  if (runtime->orderly_exit()) {
    VSW_LOG(INFO, "%s stopping: %s", RoleBinary(role).data(), runtime->exit_reason().c_str());
    exit_code = 0;
  } else if (!runtime->exit_reason().empty()) {
    VSW_LOG(ERR, "%s", runtime->exit_reason().c_str());
    if (exit_code == 0) exit_code = 1;
  } else {
    VSW_LOG(INFO, "%s stopping", RoleBinary(role).data());
  }
  return exit_code;
}

}  // namespace vswitch
