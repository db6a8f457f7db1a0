// The DPDK EAL arguments of each role, derived from the group's configuration. Pure.
#pragma once

#include <string>
#include <vector>

#include "config.h"

namespace vswitch {

// True when `port` is a PCI address ("0000:01:00.0" or "01:00.0") rather than a vdev.
[[nodiscard]] bool IsPciAddress(const std::string& port);

// The DPDK ethdev name of the configured port: the PCI address, or the vdev name before
// its first comma ("net_tap0,iface=vsw0" -> "net_tap0").
[[nodiscard]] std::string PortDeviceName(const std::string& port);

// argv for rte_eal_init, argv[0] included. Every role shares the file prefix; each polls
// on its own lcore id (RoleLcoreId) pinned to its CPU (configured, or placed by `auto`).
[[nodiscard]] std::vector<std::string> BuildEalArgs(const Config& config, const std::string& port);

}  // namespace vswitch
