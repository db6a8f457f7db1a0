// File descriptors the primary hands to secondaries over DPDK's IPC (rte_mp; SCM_RIGHTS
// duplicates them into the asking process): the doorbells (doorbell.h) and the port's RX
// queue fds (port_rx_wake.h). The primary keeps its own copies for the group's life, so a
// restarted secondary gets the same open files as the instance before it.
#pragma once

#include <string>
#include <vector>

namespace vswitch {

// One IPC message carries at most RTE_MP_MAX_FD_NUM fds.
inline constexpr std::size_t kMaxHandedFds = 8;

// Primary: answers `action` (<= RTE_MP_MAX_NAME_LEN - 1 characters) with `fds`, in order,
// until StopHandingOverFds. False with *error when there are too many fds or the action
// cannot be registered.
[[nodiscard]] bool HandOverFds(const char* action, const std::vector<int>& fds, std::string* error);
// Before rte_eal_cleanup; the fds stay the caller's to close.
void StopHandingOverFds(const char* action);

// Secondary: asks the primary for `action`'s fds and expects `count` of them (the caller
// owns them). False with *error, and no fd left open, otherwise.
[[nodiscard]] bool RequestFds(const char* action, std::size_t count, std::vector<int>* fds,
                              std::string* error);

}  // namespace vswitch
