// Which role produces to and consumes from each of a device's rings (names.h). Every ring
// is created single-producer/single-consumer (primary/shared_objects.cc), which is only
// right because exactly one role sits at each end; a role's successor repairs the ends
// listed here when it attaches (ring_repair.h).
#pragma once

#include <optional>

#include "ring_repair_plan.h"
#include "role.h"

namespace vswitch {

enum class DeviceRing : uint8_t { kToVm, kFromVm };

// The end of `ring` that `role` owns, or nothing when it owns neither (the primary
// creates the rings; the monitor only reads their counts).
[[nodiscard]] constexpr std::optional<RingEnd> RingEndOwnedBy(Role role, DeviceRing ring) {
  switch (role) {
    case Role::kSwitching:  // routes into to_vm, takes guest frames from from_vm
      return ring == DeviceRing::kToVm ? RingEnd::kProducer : RingEnd::kConsumer;
    case Role::kVhost:  // puts guest frames on from_vm, takes frames for the guest from to_vm
      return ring == DeviceRing::kFromVm ? RingEnd::kProducer : RingEnd::kConsumer;
    case Role::kPrimary:
    case Role::kMonitor:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace vswitch
