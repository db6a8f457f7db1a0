// `deploy/vswitch status --json`: the group's state rendered from the shared memzone. The
// primary writes it to <run-dir>/status.json a few times a second. A stable interface:
// fields are only ever added (documented in README.md).
#pragma once

#include <cstdint>
#include <string>

#include "state_layout.h"

namespace vswitch {

struct StatusClock {
  uint64_t monotonic_ns;
  uint64_t realtime_ns;
};

[[nodiscard]] std::string RenderStatusJson(const SharedState& state, const StatusClock& now);

// "up", "down", "starting" or "restarting" for a role slot.
[[nodiscard]] const char* RoleStateName(const RoleSlot& slot);

}  // namespace vswitch
