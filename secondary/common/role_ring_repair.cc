#include "role_ring_repair.h"

#include <rte_ring.h>

#include <algorithm>

#include "log.h"
#include "names.h"
#include "ring_owners.h"
#include "ring_repair.h"

namespace vswitch {

bool RepairRoleRings(Role role, SharedState& state, RoleRingRepairTotals* totals,
                     std::string* error) {
  RoleSlot& slot = state.roles[static_cast<size_t>(role)];
  const uint32_t devices = std::min<uint32_t>(state.config.max_devices, kMaxDevices);
  for (uint32_t d = 0; d < devices; ++d) {
    for (DeviceRing which : {DeviceRing::kToVm, DeviceRing::kFromVm}) {
      const std::optional<RingEnd> end = RingEndOwnedBy(role, which);
      if (!end) continue;
      const std::string name = which == DeviceRing::kToVm ? ToVmRingName(d) : FromVmRingName(d);
      rte_ring* ring = rte_ring_lookup(name.c_str());
      if (ring == nullptr) {
        *error = "the primary has no ring " + name + " (restart the group: deploy/vswitch down, then up)";
        return false;
      }
      ++totals->rings_checked;
      const bool producer = *end == RingEnd::kProducer;
      const std::string before = DescribeRingCounters(*ring);
      const RingRepairResult r = RepairRingEnd(*ring, *end);
      if (r.verdict == RingRepairVerdict::kCorrupt) {
        *error = "ring " + name + ": " + r.detail +
                 "; this role cannot take it over (restart the group: deploy/vswitch down, then up)";
        return false;
      }
      if (r.verdict != RingRepairVerdict::kRollBack) continue;
      ++totals->repairs;
      Bump(slot.ring_repairs);
      if (producer) {
        totals->slots_dropped += r.slots;
        Bump(slot.ring_slots_dropped, r.slots);
      } else {
        totals->slots_redelivered += r.slots;
        Bump(slot.ring_slots_redelivered, r.slots);
      }
      VSW_LOG(WARNING,
              "ring %s: the previous %s was killed inside a%s of %u slot(s) (%s); %s",
              name.c_str(), RoleBinary(role).data(), producer ? "n enqueue" : " dequeue", r.slots,
              before.c_str(),
              producer ? "rolled back: none of them was published (their mbufs are freed with "
                         "what else the dead process held)"
                       : "rolled back: they are taken again, each once");
    }
  }
  return true;
}

}  // namespace vswitch
