#include "cpu_placement.h"

#include <sched.h>

#include <algorithm>
#include <thread>

namespace vswitch {

std::array<unsigned, kRoleCount> PlaceRoles(std::vector<unsigned> cpus) {
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  std::array<unsigned, kRoleCount> placed{};
  const size_t n = cpus.size();
  const unsigned first = n > 0 ? cpus.front() : 0;
  placed.fill(first);
  if (n >= 2) {
    placed[static_cast<size_t>(Role::kVhost)] = cpus[n - 1];
    // Two CPUs: both pollers sleep when idle and can share one; a guest's poller never
    // sleeps, so it must not be the one they share with.
    placed[static_cast<size_t>(Role::kSwitching)] = n == 2 ? cpus[n - 1] : cpus[n - 2];
  }
  return placed;
}

std::vector<unsigned> AllowedCpus() {
  std::vector<unsigned> cpus;
  // cpu_set_t holds 1024 CPUs; larger machines need a bigger mask (EINVAL until it fits).
  for (int max = CPU_SETSIZE; max <= (1 << 16) && cpus.empty(); max *= 2) {
    cpu_set_t* set = CPU_ALLOC(max);
    if (set == nullptr) break;
    const size_t size = CPU_ALLOC_SIZE(max);
    CPU_ZERO_S(size, set);
    if (sched_getaffinity(0, size, set) == 0) {
      for (int c = 0; c < max; ++c) {
        if (CPU_ISSET_S(c, size, set)) cpus.push_back(static_cast<unsigned>(c));
      }
      CPU_FREE(set);
      break;
    }
    CPU_FREE(set);
  }
  if (cpus.empty()) {
    const unsigned n = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned c = 0; c < n; ++c) cpus.push_back(c);
  }
  return cpus;
}

}  // namespace vswitch
