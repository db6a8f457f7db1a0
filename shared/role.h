// The four processes of a vswitch group.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace vswitch {

enum class Role : uint32_t { kPrimary = 0, kVhost = 1, kSwitching = 2, kMonitor = 3 };
inline constexpr std::size_t kRoleCount = 4;

inline constexpr std::array<Role, kRoleCount> kAllRoles = {Role::kPrimary, Role::kVhost,
                                                           Role::kSwitching, Role::kMonitor};

// Short name: INI section, log file, status key, `deploy/vswitch restart ROLE`.
[[nodiscard]] constexpr std::string_view RoleName(Role role) {
  constexpr std::array<std::string_view, kRoleCount> kNames = {"primary", "vhost", "switching",
                                                               "monitor"};
  return kNames[static_cast<std::size_t>(role)];
}

// Executable name, used in messages an operator reads.
[[nodiscard]] constexpr std::string_view RoleBinary(Role role) {
  constexpr std::array<std::string_view, kRoleCount> kBinaries = {
      "vswitch-primary", "vswitch-vhost", "vswitch-switching", "vswitch-monitor"};
  return kBinaries[static_cast<std::size_t>(role)];
}

[[nodiscard]] constexpr std::optional<Role> RoleFromName(std::string_view name) {
  for (Role r : kAllRoles) {
    if (RoleName(r) == name) return r;
  }
  return std::nullopt;
}

// Each role polls on its own DPDK lcore id. Distinct ids matter even when two roles share a
// CPU: a mempool's per-lcore cache is indexed by lcore id and is not safe to share between
// processes.
[[nodiscard]] constexpr unsigned RoleLcoreId(Role role) { return static_cast<unsigned>(role); }

}  // namespace vswitch
