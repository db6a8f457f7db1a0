#include "eal_args.h"

#include <regex>

namespace vswitch {

bool IsPciAddress(const std::string& port) {
  static const std::regex kPci("^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$");
  return std::regex_match(port, kPci);
}

std::string PortDeviceName(const std::string& port) {
  if (IsPciAddress(port)) return port.find(':') == 2 ? "0000:" + port : port;
  return port.substr(0, port.find(','));
}

std::vector<std::string> BuildEalArgs(const Config& config, const std::string& port) {
  const Role role = config.role;
  std::vector<std::string> args = {std::string(RoleBinary(role))};
  args.push_back("--file-prefix=" + config.eal.file_prefix);
  args.push_back(role == Role::kPrimary ? "--proc-type=primary" : "--proc-type=secondary");
  args.push_back("--lcores=" + std::to_string(RoleLcoreId(role)) + "@" +
                 std::to_string(config.eal.cpu[static_cast<size_t>(role)]));
  if (!config.eal.huge_dir.empty()) args.push_back("--huge-dir=" + config.eal.huge_dir);
  if (IsPciAddress(port)) {
    args.push_back("-a");
    args.push_back(port);
  } else {
    args.push_back("--no-pci");
    // A vdev is created by the primary only; secondaries learn it from the primary.
    if (role == Role::kPrimary) args.push_back("--vdev=" + port);
  }
  if (role == Role::kPrimary) {
#if defined(__SANITIZE_ADDRESS__)
    // Under AddressSanitizer (deploy/vswitch test --sanitize) a secondary's own shadow and
    // heap can sit where the kernel put the primary's hugepage VA space, near the top of
    // the mmap area, and the secondary then cannot map it at the same address. Above
    // ASan's shadow (which ends at 0x10007fff7fff on x86-64) and far below the mmap area,
    // nothing of either process lives.
    args.push_back("--base-virtaddr=0x200000000000");
#endif
    if (config.eal.memory_mb > 0) {
      args.push_back("-m");
      args.push_back(std::to_string(config.eal.memory_mb));
    }
  } else {
    // One telemetry socket per group is enough: the primary's.
    args.push_back("--no-telemetry");
  }
  // DPDK's own chatter at notice; vswitch's logtypes are set after init.
  args.push_back("--log-level=notice");
  return args;
}

}  // namespace vswitch
