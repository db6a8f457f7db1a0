// A role's successor takes over its ends of the device rings (ring_owners.h) before it
// touches any of them: a predecessor killed in the middle of an enqueue or dequeue is
// repaired (ring_repair.h), counted in the role's registry slot and logged. Runs once,
// at attach, after the role registered (so no other instance of the role is alive);
// nothing of it is on the datapath.
#pragma once

#include <string>

#include "role.h"
#include "state_layout.h"

namespace vswitch {

struct RoleRingRepairTotals {
  uint32_t rings_checked = 0;
  uint32_t repairs = 0;            // half-done operations rolled back
  uint64_t slots_dropped = 0;      // producer ends: slots never published
  uint64_t slots_redelivered = 0;  // consumer ends: slots handed out again
};

// Returns false with an operator-facing *error when a ring is missing or holds counters
// no killed owner can leave (then the role must not run on it).
[[nodiscard]] bool RepairRoleRings(Role role, SharedState& state, RoleRingRepairTotals* totals,
                                   std::string* error);

}  // namespace vswitch
