// Where each role runs when its `[eal] <role>-cpu` is `auto`: picked from the CPUs the
// process may run on, so the two pollers (vhost, switching) never share a CPU with the
// guests' own pollers when the machine has a CPU to spare for them.
#pragma once

#include <array>
#include <vector>

#include "role.h"

namespace vswitch {

// The CPU of every role (indexed by Role) for a set of usable CPUs (any order; duplicates
// ignored). With the set sorted as c[0] < c[1] < ... < c[n-1]:
//   n == 0 or 1: every role on c[0] (0 when empty).
//   n == 2:      vhost and switching share c[1]; primary and monitor on c[0], which stays
//                the guests' (primary and monitor only wake up periodically).
//   n >= 3:      vhost on c[n-1], switching on c[n-2], each alone; primary and monitor on
//                c[0]; c[0] .. c[n-3] are left to the guests. On 3 CPUs the switch takes
//                the extra CPU rather than the guests: every guest's traffic crosses both
//                pollers, and the guests still keep c[0] as on 2 CPUs.
// Pure.
[[nodiscard]] std::array<unsigned, kRoleCount> PlaceRoles(std::vector<unsigned> cpus);

// The CPUs this process may run on (sched_getaffinity), ascending. Falls back to
// 0 .. hardware_concurrency-1 if the kernel does not answer.
[[nodiscard]] std::vector<unsigned> AllowedCpus();

}  // namespace vswitch
