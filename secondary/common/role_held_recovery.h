// A role's successor frees the mbufs its killed predecessor held outside the rings
// (held_mbufs.h), then claims the ledger. Runs once at attach, after ring repair (the
// journaled ring end's tail must be the repaired one) and before the role allocates or
// frees any mbuf (the predecessor's pool cache, on the same lcore, must be as it left
// it). Counted in RoleHeld's journal and logged; nothing of it is on the datapath.
#pragma once

#include <string>

#include "held_recovery.h"
#include "role.h"
#include "state_layout.h"

namespace vswitch {

struct RoleHeldRecovery {
  bool predecessor = false;  // a previous instance had written the ledger
  HeldRecoveryPlan plan;
};

// False with an operator-facing *error when the mbuf pool or a journaled ring is missing.
[[nodiscard]] bool RecoverHeldMbufs(Role role, SharedState& state, RoleHeldRecovery* out, std::string* error);

}  // namespace vswitch
