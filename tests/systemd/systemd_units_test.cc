// The systemd units as CMake generates and installs them: every path follows
// CMAKE_INSTALL_PREFIX, and `systemd-analyze verify` accepts the installed units with the
// installed binaries where the units say they are.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "process.h"
#include "test_env.h"

namespace vswitch::test {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kUnits = {"vswitch-primary.service", "vswitch-vhost.service",
                                         "vswitch-switching.service", "vswitch-monitor.service",
                                         "vswitch.target"};
const std::vector<std::string> kRoles = {"primary", "vhost", "switching", "monitor"};

// The value of every `key=` line of a unit file.
std::vector<std::string> UnitValues(const std::string& text, const std::string& key) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + "=", 0) == 0) out.push_back(line.substr(key.size() + 1));
  }
  return out;
}

TEST(SystemdUnitsTest, PathsFollowTheInstallPrefix) {
  // A configure-only tree with another prefix: the units it generates name that prefix.
  TempDir dir;
  // Not under /opt: GNUInstallDirs puts /opt/X's config in /etc/opt/X (FHS).
  const std::string prefix = "/srv/vswitch-prefix-test";
  const CommandResult configure = RunCommand(
      {"cmake", "-S", SourceDir(), "-B", dir / "build", "-DCMAKE_INSTALL_PREFIX=" + prefix},
      std::chrono::seconds(120));
  ASSERT_EQ(configure.exit_code, 0) << configure.output;
  for (const std::string& role : kRoles) {
    SCOPED_TRACE(role);
    const std::string unit = ReadFile(dir / ("build/deploy/systemd/vswitch-" + role + ".service"));
    ASSERT_FALSE(unit.empty()) << "CMake generated no vswitch-" << role << ".service";
    EXPECT_EQ(UnitValues(unit, "ExecStart"),
              std::vector<std::string>{prefix + "/bin/vswitch-" + role + " --config " + prefix +
                                       "/etc/vswitch/vswitch.conf"});
    EXPECT_EQ(UnitValues(unit, "Type"), std::vector<std::string>{"notify"});
    EXPECT_EQ(unit.find("/usr/local"), std::string::npos) << unit;
    if (role == "primary") {
      EXPECT_EQ(UnitValues(unit, "ExecStartPre"),
                std::vector<std::string>{prefix + "/lib/vswitch/deploy/vswitch hugepages"});
    }
  }
  // The install rules put the files where the units look for them.
  const std::string cmake_install = ReadFile(dir / "build/cmake_install.cmake");
  EXPECT_NE(cmake_install.find(prefix + "/lib/systemd/system"), std::string::npos);
}

TEST(SystemdUnitsTest, InstalledUnitsVerify) {
  TempDir dir;
  const std::string stage = dir / "stage";
  const CommandResult install = RunCommand({"cmake", "--install", BinaryDir()}, std::chrono::seconds(60),
                                           {"DESTDIR=" + stage});
  ASSERT_EQ(install.exit_code, 0) << install.output;
  const std::string unit_dir = stage + VSWITCH_SYSTEMD_UNIT_DIR;
  for (const std::string& unit : kUnits) ASSERT_TRUE(fs::exists(unit_dir + "/" + unit)) << unit;
  ASSERT_TRUE(fs::is_directory(VSWITCH_INSTALL_PREFIX))
      << VSWITCH_INSTALL_PREFIX << " does not exist on this machine: the test mounts the staged "
      << "install there (in a private mount namespace)";
  // systemd-analyze checks each ExecStart binary: show it the staged install at the prefix
  // (a private mount namespace: nothing on this machine changes).
  std::string files;
  for (const std::string& unit : kUnits) files += " '" + unit_dir + "/" + unit + "'";
  const CommandResult verify = RunCommand(
      {"unshare", "--mount", "--propagation", "private", "bash", "-c",
       "mount --bind \"$0\" \"$1\" && exec systemd-analyze verify" + files,
       stage + VSWITCH_INSTALL_PREFIX, VSWITCH_INSTALL_PREFIX},
      std::chrono::seconds(60));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  // Not even a warning.
  EXPECT_EQ(verify.output, "");
  // And each role's ExecStart names an installed, executable binary.
  for (const std::string& role : kRoles) {
    const std::vector<std::string> exec =
        UnitValues(ReadFile(unit_dir + "/vswitch-" + role + ".service"), "ExecStart");
    ASSERT_EQ(exec.size(), 1u) << role;
    const std::string binary = exec[0].substr(0, exec[0].find(' '));
    EXPECT_EQ(binary, std::string(VSWITCH_INSTALL_BIN_DIR) + "/vswitch-" + role);
    EXPECT_EQ(access((stage + binary).c_str(), X_OK), 0) << stage + binary;
  }
}

}  // namespace
}  // namespace vswitch::test
