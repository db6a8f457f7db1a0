// The primary's watch over the role registry: a secondary whose process is gone, or whose
// heartbeat is older than the timeout, is marked down, so that a new one can take the role.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "state_layout.h"

namespace vswitch {

struct LivenessEvent {
  Role role;
  pid_t pid;
  bool gone;           // the process no longer exists (else: it stopped heartbeating)
  uint64_t silent_ms;  // time since its last heartbeat
};

// Checks every secondary slot, marks dead or hung ones down and returns what changed.
// A gone process's slot is freed (pid 0); a hung one keeps its pid, so a second instance is
// refused while the first still exists.
[[nodiscard]] std::vector<LivenessEvent> CheckLiveness(SharedState& state, uint64_t now_ns,
                                                       uint64_t timeout_ns,
                                                       const std::function<bool(pid_t)>& alive);

}  // namespace vswitch
