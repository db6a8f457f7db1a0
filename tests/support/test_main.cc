// The main of every vswitch test binary. Before any test runs it checks what the test
// declared it needs (VSWITCH_TEST_NEEDS, from vswitch_add_test's NEEDS) and fails loudly
// when something is missing, naming it and the command that provides it: CI must never
// pass a test by skipping it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace {

long HugepagesFree() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "HugePages_Free:") {
      in >> value;
      return value;
    }
    in.ignore(1 << 10, '\n');
  }
  return 0;
}

bool Executable(const char* path) { return access(path, X_OK) == 0; }

// Returns an empty string when the need is met, otherwise what is wrong and how to fix it.
std::string CheckNeed(const std::string& need) {
  if (need == "root") {
    return geteuid() == 0 ? "" : "must run as root (sudo deploy/vswitch test)";
  }
  if (need == "hugepages") {
    return HugepagesFree() >= 256 ? ""
                                  : "fewer than 256 free 2 MB hugepages: run deploy/vswitch hugepages";
  }
  if (need == "testpmd") {
    return Executable("/usr/bin/dpdk-testpmd") ? "" : "dpdk-testpmd missing: run deploy/vswitch install";
  }
  if (need == "qemu") {
    return Executable("/usr/bin/qemu-system-x86_64")
               ? ""
               : "qemu-system-x86_64 missing: run deploy/vswitch install";
  }
  if (need == "prometheus") {
    return Executable("/usr/bin/prometheus") && Executable("/usr/bin/promtool")
               ? ""
               : "prometheus/promtool missing: run deploy/vswitch install";
  }
  if (need == "scapy") {
    return std::system("/usr/bin/python3 -c 'import scapy.all' >/dev/null 2>&1") == 0
               ? ""
               : "python3-scapy missing: run deploy/vswitch install";
  }
  if (need == "systemd") {
    // systemd itself (run as PID 1 of private namespaces), its tools, util-linux's
    // unshare/nsenter and jq.
    return Executable("/lib/systemd/systemd") && Executable("/usr/bin/systemd-analyze") &&
                   Executable("/usr/bin/systemctl") && Executable("/usr/bin/journalctl") &&
                   Executable("/usr/bin/unshare") && Executable("/usr/bin/nsenter") &&
                   Executable("/usr/bin/jq")
               ? ""
               : "systemd, systemd-analyze, unshare, nsenter or jq missing: run deploy/vswitch install";
  }
  return "unknown need '" + need + "' declared in CMake";
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const char* needs = std::getenv("VSWITCH_TEST_NEEDS");
  if (needs != nullptr && *needs != '\0') {
    std::stringstream ss(needs);
    std::string need;
    bool ok = true;
    while (std::getline(ss, need, ',')) {
      const std::string problem = CheckNeed(need);
      if (!problem.empty()) {
        std::fprintf(stderr, "FATAL: this test needs %s: %s\n", need.c_str(), problem.c_str());
        ok = false;
      }
    }
    if (!ok) return 1;
  }
  return RUN_ALL_TESTS();
}
