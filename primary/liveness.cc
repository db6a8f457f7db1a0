#include "liveness.h"

namespace vswitch {

std::vector<LivenessEvent> CheckLiveness(SharedState& state, uint64_t now_ns, uint64_t timeout_ns,
                                         const std::function<bool(pid_t)>& alive) {
  std::vector<LivenessEvent> events;
  for (Role role : kAllRoles) {
    if (role == Role::kPrimary) continue;
    RoleSlot& slot = state.roles[static_cast<size_t>(role)];
    int32_t pid = slot.pid.load();
    if (pid == 0) continue;
    const uint64_t hb = slot.heartbeat_ns.load();
    const uint64_t silent = now_ns > hb ? now_ns - hb : 0;
    if (!alive(pid)) {
      slot.state.store(static_cast<uint32_t>(RoleState::kDown));
      // Only free the slot if it still holds that pid (a new instance may have raced in).
      if (slot.pid.compare_exchange_strong(pid, 0)) {
        slot.deaths.fetch_add(1);
        events.push_back({role, pid, true, silent / 1000000});
      }
      continue;
    }
    if (silent > timeout_ns && slot.state.load() != static_cast<uint32_t>(RoleState::kDown)) {
      slot.state.store(static_cast<uint32_t>(RoleState::kDown));
      slot.deaths.fetch_add(1);
      events.push_back({role, pid, false, silent / 1000000});
    }
  }
  return events;
}

}  // namespace vswitch
