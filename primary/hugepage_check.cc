#include "hugepage_check.h"

#include <fstream>
#include <sstream>

namespace vswitch {
namespace {

std::string Slurp(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

long MeminfoValue(const std::string& meminfo, const std::string& key) {
  std::istringstream in(meminfo);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(key.size()));
  }
  return 0;
}

}  // namespace

std::string CheckHugepages(const std::string& meminfo, const std::string& mounts) {
  if (mounts.find(" hugetlbfs ") == std::string::npos) {
    return "no hugetlbfs is mounted: run 'deploy/vswitch hugepages' as root (it reserves 2 MB "
           "pages and mounts /dev/hugepages)";
  }
  if (MeminfoValue(meminfo, "HugePages_Total:") == 0) {
    return "no hugepages are reserved: run 'deploy/vswitch hugepages' as root";
  }
  if (MeminfoValue(meminfo, "HugePages_Free:") == 0) {
    return "all hugepages are in use (is another DPDK program or group running?): stop it, or "
           "reserve more with 'deploy/vswitch hugepages --pages N'";
  }
  return {};
}

std::string CheckHugepagesOnThisMachine() {
  return CheckHugepages(Slurp("/proc/meminfo"), Slurp("/proc/mounts"));
}

}  // namespace vswitch
