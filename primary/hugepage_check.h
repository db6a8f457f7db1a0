// Before EAL init: say plainly when the machine has no hugepages for the group, instead of
// DPDK's generic init failure.
#pragma once

#include <string>

namespace vswitch {

// Empty when a hugetlbfs is mounted and 2 MB (or 1 GB) pages are free; otherwise the
// problem and the command that fixes it. `meminfo` and `mounts` are the texts of
// /proc/meminfo and /proc/mounts (pure, for tests).
[[nodiscard]] std::string CheckHugepages(const std::string& meminfo, const std::string& mounts);
[[nodiscard]] std::string CheckHugepagesOnThisMachine();

}  // namespace vswitch
