// systemd itself, for tests of vswitch's units: systemd as PID 1 of new PID, mount,
// network, UTS and IPC namespaces (boot_systemd.sh), over this build installed with
// `DESTDIR=... cmake --install` and mounted where CMake installs it. Works on a machine
// whose own PID 1 is not systemd; the machine's units, /tmp and boot are never touched.
// The units run with the sanitizer settings of the test (a sanitized build's roles need
// them as much as the processes the other tests start).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "process.h"

namespace vswitch::test {

class SystemdMachine {
 public:
  // Installs the build into `work_dir`/stage, writes `config_text` where the units read
  // the group's config, and boots. `work_dir` must be the test's own scratch directory.
  SystemdMachine(const std::string& work_dir, const std::string& config_text);
  // Kills the namespace's PID 1 (and with it everything in there) and removes its cgroups.
  ~SystemdMachine();
  SystemdMachine(const SystemdMachine&) = delete;
  SystemdMachine& operator=(const SystemdMachine&) = delete;

  // Empty when systemd runs; otherwise what went wrong.
  [[nodiscard]] const std::string& error() const { return error_; }

  // argv inside the namespaces (nsenter).
  [[nodiscard]] CommandResult Run(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // `bash -c script` inside the namespaces.
  [[nodiscard]] CommandResult Shell(const std::string& script,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(60));
  [[nodiscard]] CommandResult Systemctl(const std::vector<std::string>& args,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // `systemctl show -p PROPERTY --value UNIT`; empty on failure.
  [[nodiscard]] std::string Property(const std::string& unit, const std::string& property);
  [[nodiscard]] pid_t MainPid(const std::string& unit);
  // Everything the journal holds, for failure messages and log checks.
  [[nodiscard]] std::string Journal();

 private:
  // The test's ASAN_OPTIONS, LSAN_OPTIONS and UBSAN_OPTIONS, when set, for every unit
  // started from then on (systemctl set-environment); a suppressions file is copied into
  // the work directory, which the machine sees.
  void PassSanitizerSettings();

  std::string work_dir_;
  std::string cgroup_;
  std::string error_;
  Process boot_;
  pid_t init_ = 0;  // the namespace's PID 1, as this machine's PID namespace sees it
};

}  // namespace vswitch::test
