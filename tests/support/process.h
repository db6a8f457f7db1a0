// Child processes for integration tests: started in their own process group, always
// reaped, killed by pid when the owning object goes out of scope.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace vswitch::test {

struct CommandResult {
  int exit_code = -1;  // -1: did not exit within the time limit (it was killed)
  std::string output;  // stdout and stderr interleaved
};

// Runs argv to completion (or kills it after `timeout`), capturing its output.
[[nodiscard]] CommandResult RunCommand(const std::vector<std::string>& argv,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(60),
                                       const std::vector<std::string>& extra_env = {});

class Process {
 public:
  Process() = default;
  // Starts argv with stdout and stderr appended to `log_path`.
  Process(const std::vector<std::string>& argv, const std::string& log_path,
          const std::vector<std::string>& extra_env = {});
  ~Process();
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool Running();
  // Sends `sig` and waits up to `timeout` for exit; SIGKILLs the group after that.
  // Returns the exit status as from waitpid (or -1 when it was not running).
  int Stop(int sig = 15, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Waits for the process to exit by itself; nullopt on timeout.
  [[nodiscard]] std::optional<int> Wait(std::chrono::milliseconds timeout);
  [[nodiscard]] const std::string& log_path() const { return log_path_; }
  [[nodiscard]] std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

// Polls `done` every 20 ms until it returns true or `timeout` passes.
[[nodiscard]] bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout);

[[nodiscard]] bool PidAlive(pid_t pid);
// The process has exited: gone, or a zombie its parent has not reaped yet. A role started
// by deploy/vswitch is reaped by whatever adopted it (init, systemd); some inits reap
// seconds later, and a zombie holds nothing (memory, fds, locks) the group waits for.
[[nodiscard]] bool PidExited(pid_t pid);

}  // namespace vswitch::test
