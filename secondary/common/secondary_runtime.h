// What every secondary does around its own work: attach to the primary's DPDK runtime,
// check the shared layout, register in the role registry, heartbeat, notice the primary's
// death, and deregister on exit.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "config.h"
#include "state_layout.h"

namespace vswitch {

class SecondaryRuntime {
 public:
  // Initialises EAL as a secondary and registers `config.role`. On failure returns nullptr
  // and a one-line, operator-facing *error (what is wrong and what to run).
  [[nodiscard]] static std::unique_ptr<SecondaryRuntime> Attach(const Config& config,
                                                                std::string* error);
  ~SecondaryRuntime();
  SecondaryRuntime(const SecondaryRuntime&) = delete;
  SecondaryRuntime& operator=(const SecondaryRuntime&) = delete;

  [[nodiscard]] SharedState& state() { return *state_; }
  [[nodiscard]] Role role() const { return role_; }

  // The role is serving: marked up in the registry, READY=1 to systemd (Type=notify).
  void MarkUp();
  // Heartbeat and watch the primary; cheap enough for every poll round (acts every 100 ms).
  // Returns false when the process must exit: the primary is gone, or another process took
  // this role's registry slot.
  [[nodiscard]] bool Tick();
  // Why Tick returned false (empty while it has not).
  [[nodiscard]] const std::string& exit_reason() const { return exit_reason_; }
  // True when Tick returned false because the primary is stopping the group in order.
  [[nodiscard]] bool orderly_exit() const { return orderly_exit_; }

 private:
  SecondaryRuntime() = default;
  [[nodiscard]] bool Register(std::string* error);
  void Deregister();

  // Milliseconds since the process started (MsSinceExec) at each start-up phase's end
  // (MarkUp logs them).
  struct Startup {
    double attach_begin_ms = -1;
    double eal_done_ms = -1;
    double attached_ms = -1;
  };

  Role role_ = Role::kVhost;
  Startup startup_;
  SharedState* state_ = nullptr;
  pid_t self_ = 0;
  pid_t primary_ = 0;
  uint64_t next_tick_ns_ = 0;
  bool eal_up_ = false;
  bool primary_gone_ = false;
  bool orderly_exit_ = false;
  std::string exit_reason_;
};

}  // namespace vswitch
