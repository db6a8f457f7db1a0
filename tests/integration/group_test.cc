// The process group as an operator runs it: deploy/vswitch up, status, kill -9, restart,
// down, with real processes on a net_tap port.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "test_group.h"

namespace vswitch::test {
namespace {

const std::vector<std::string> kSecondaries = {"vhost", "switching", "monitor"};

// Exited (a zombie until whoever adopted it reaps it counts as exited).
bool Gone(pid_t pid) {
  return !PidAlive(pid) || ReadFile("/proc/" + std::to_string(pid) + "/stat").find(") Z") != std::string::npos;
}

TEST(GroupTest, UpStatusKillRestartDown) {
  TestGroup group;
  const CommandResult up = group.Vswitch({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.output << group.Log("primary");

  // Four roles up, each with a live pid and a fresh heartbeat.
  std::map<std::string, pid_t> pids;
  for (const std::string role : {"primary", "vhost", "switching", "monitor"}) {
    EXPECT_EQ(group.RoleState(role), "up") << role;
    pids[role] = group.RolePid(role);
    EXPECT_GT(pids[role], 0) << role;
    EXPECT_EQ(kill(pids[role], 0), 0) << role;
    const std::string age = group.Status(".roles." + role + ".heartbeat_age_ms");
    ASSERT_FALSE(age.empty()) << role;
    EXPECT_LT(std::stol(age), 1000) << role;
  }
  // Each role runs where the config pins it (TestGroup: primary 0, vhost 1, switching 0,
  // monitor 0), as the kernel reports the process's affinity.
  const std::map<std::string, std::string> cpus = {
      {"primary", "0"}, {"vhost", "1"}, {"switching", "0"}, {"monitor", "0"}};
  for (const auto& [role, cpu] : cpus) EXPECT_EQ(group.Status(".roles." + role + ".cpus"), cpu) << role;
  // The configured sockets are the devices.
  EXPECT_EQ(group.Status("[.devices[].socket] | join(\",\")"), group.socket(0) + "," + group.socket(1));
  EXPECT_EQ(group.Status(".devices[0].connected"), "false");
  // The port is a real kernel interface.
  EXPECT_TRUE(std::filesystem::exists("/sys/class/net/" + group.iface()));

  // Human status names every role, and where it runs.
  const CommandResult human = group.Vswitch({"status"});
  EXPECT_EQ(human.exit_code, 0);
  for (const auto& role : kSecondaries) EXPECT_NE(human.output.find(role), std::string::npos);
  EXPECT_NE(human.output.find("CPUS"), std::string::npos) << human.output;
  // The port's counters are in status.json now, next to the devices'.
  EXPECT_EQ(group.Status(".port_counters | keys | join(\",\")"),
            "dropped,rx_bytes,rx_packets,tx_bytes,tx_packets");

  for (const auto& role : kSecondaries) {
    SCOPED_TRACE(role);
    ASSERT_EQ(kill(pids[role], SIGKILL), 0);
    EXPECT_TRUE(group.WaitRoleState(role, "down", std::chrono::seconds(5)));
    EXPECT_NE(group.Log("primary").find("vswitch-" + role + " (pid " + std::to_string(pids[role]) +
                                        ") is down"),
              std::string::npos);
    const CommandResult restart = group.Vswitch({"restart", role});
    ASSERT_EQ(restart.exit_code, 0) << restart.output;
    EXPECT_EQ(group.RoleState(role), "up");
    const pid_t fresh = group.RolePid(role);
    EXPECT_GT(fresh, 0);
    EXPECT_NE(fresh, pids[role]);
    EXPECT_EQ(group.Status(".roles." + role + ".restarts"), "1");
    pids[role] = fresh;
    // Everyone else kept their process.
    for (const auto& [other, pid] : pids) {
      EXPECT_EQ(group.RolePid(other), pid) << other;
      EXPECT_EQ(group.RoleState(other), "up") << other;
    }
  }

  // A clean restart (SIGTERM, not kill -9) too.
  const CommandResult restart = group.Vswitch({"restart", "vhost"});
  ASSERT_EQ(restart.exit_code, 0) << restart.output;
  EXPECT_NE(group.RolePid("vhost"), pids["vhost"]);
  pids["vhost"] = group.RolePid("vhost");

  const CommandResult down = group.Vswitch({"down"});
  ASSERT_EQ(down.exit_code, 0) << down.output;
  for (const auto& [role, pid] : pids) {
    EXPECT_TRUE(WaitFor([pid = pid] { return !PidAlive(pid) || ReadFile("/proc/" + std::to_string(pid) + "/stat").find(") Z") != std::string::npos; },
                        std::chrono::seconds(5)))
        << role << " still running";
  }
  EXPECT_TRUE(HugepageFiles(group.prefix()).empty());
  EXPECT_FALSE(std::filesystem::exists("/var/run/dpdk/" + group.prefix()));
  EXPECT_FALSE(std::filesystem::exists(group.run_dir() + "/status.json"));
  EXPECT_FALSE(std::filesystem::exists(group.socket(0)));
  EXPECT_FALSE(std::filesystem::exists("/sys/class/net/" + group.iface()));
  EXPECT_EQ(group.RoleState("primary"), "down");
}

// [eal] log-level reaches the vhost library's lines too (they go through rte_log under
// the role's logtype, not straight to stderr).
TEST(GroupTest, LogLevelAppliesToTheVhostLibrary) {
  const std::string created = "VHOST_CONFIG: vhost-user server: socket created";
  for (const std::string level : {"warning", "info"}) {
    SCOPED_TRACE(level);
    TestGroup group({{"eal.log-level", level}});
    const CommandResult up = group.Vswitch({"up"});
    ASSERT_EQ(up.exit_code, 0) << up.output << group.Log("vhost");
    const std::string log = group.Log("vhost");
    if (level == "warning") {
      EXPECT_EQ(log.find(created), std::string::npos) << log;
    } else {
      EXPECT_NE(log.find(created + ", fd"), std::string::npos) << log;
    }
    EXPECT_EQ(group.Vswitch({"down"}).exit_code, 0);
  }
}

TEST(GroupTest, SecondaryWithoutPrimarySaysWhatToRun) {
  TestGroup group;
  for (const auto& role : kSecondaries) {
    const std::string dir = role == "monitor" ? "monitor" : "secondary/" + role;
    const CommandResult r = RunCommand(
        {BinaryDir() + "/" + dir + "/vswitch-" + role, "--config", group.config()}, std::chrono::seconds(20));
    EXPECT_EQ(r.exit_code, 1) << role;
    EXPECT_NE(r.output.find("no vswitch-primary is running with file-prefix '" + group.prefix() + "'"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("deploy/vswitch up"), std::string::npos) << r.output;
  }
}

TEST(GroupTest, SecondInstancesAreRefused) {
  TestGroup group;
  ASSERT_EQ(group.Vswitch({"up"}).exit_code, 0) << group.Log("primary");
  const pid_t vhost = group.RolePid("vhost");
  const CommandResult r = RunCommand(
      {BinaryDir() + "/secondary/vhost/vswitch-vhost", "--config", group.config()}, std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("vswitch-vhost is already running (pid " + std::to_string(vhost) + ")"),
            std::string::npos)
      << r.output;
  const CommandResult p = RunCommand(
      {BinaryDir() + "/primary/vswitch-primary", "--config", group.config()}, std::chrono::seconds(20));
  EXPECT_EQ(p.exit_code, 1);
  EXPECT_NE(p.output.find("already running"), std::string::npos) << p.output;
  // Neither disturbed the group.
  EXPECT_EQ(group.RolePid("vhost"), vhost);
  EXPECT_EQ(group.RoleState("primary"), "up");
}

TEST(GroupTest, SecondariesLeaveWhenThePrimaryDies) {
  TestGroup group;
  ASSERT_EQ(group.Vswitch({"up"}).exit_code, 0) << group.Log("primary");
  std::vector<pid_t> secondaries;
  for (const auto& role : kSecondaries) secondaries.push_back(group.RolePid(role));
  ASSERT_EQ(kill(group.RolePid("primary"), SIGKILL), 0);
  for (size_t i = 0; i < secondaries.size(); ++i) {
    const pid_t pid = secondaries[i];
    EXPECT_TRUE(WaitFor([pid] { return !PidAlive(pid) || ReadFile("/proc/" + std::to_string(pid) + "/stat").find(") Z") != std::string::npos; },
                        std::chrono::seconds(5)))
        << kSecondaries[i];
    EXPECT_NE(group.Log(kSecondaries[i]).find("vswitch-primary (pid"), std::string::npos);
    EXPECT_NE(group.Log(kSecondaries[i]).find("is gone"), std::string::npos);
  }
  EXPECT_EQ(group.RoleState("primary"), "down");
}

// systemd restarts a dead primary 2 s after its death (Restart=on-failure, RestartSec=2),
// and a secondary may still be detaching then: vswitch-monitor takes up to 2 s to stop its
// HTTP server, longer on a loaded machine or under ASan. While it holds the group's DPDK
// files, the new primary must wait for it rather than fail EAL init (and, failing a few
// times, run into systemd's start limit).
TEST(GroupTest, APrimaryStartedWhileAnOldSecondaryLeavesWaitsForIt) {
  TestGroup group;
  ASSERT_EQ(group.Vswitch({"up"}).exit_code, 0) << group.Log("primary");
  const pid_t monitor = group.RolePid("monitor");
  const pid_t vhost = group.RolePid("vhost");
  const pid_t switching = group.RolePid("switching");
  // The monitor stays attached, as one that is slow to leave does, until continued.
  ASSERT_EQ(kill(monitor, SIGSTOP), 0);
  struct Continue {
    pid_t pid;
    ~Continue() { kill(pid, SIGCONT); }
  } continue_monitor{monitor};
  ASSERT_EQ(kill(group.RolePid("primary"), SIGKILL), 0);
  for (const pid_t pid : {vhost, switching}) {
    EXPECT_TRUE(WaitFor([pid] { return Gone(pid); }, std::chrono::seconds(5))) << pid;
  }

  const std::string log = group.dir() / "new-primary.log";
  Process primary({BinaryDir() + "/primary/vswitch-primary", "--config", group.config()}, log);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_TRUE(primary.Running()) << ReadFile(log);
  EXPECT_NE(ReadFile(log).find("waiting for the secondaries of an earlier primary (pid " + std::to_string(monitor) +
                               ")"),
            std::string::npos)
      << ReadFile(log);

  ASSERT_EQ(kill(monitor, SIGCONT), 0);
  EXPECT_TRUE(WaitFor([monitor] { return Gone(monitor); }, std::chrono::seconds(10)));
  // Serving: its status file names it, up.
  const std::string expected = std::to_string(primary.pid()) + " up\n";
  EXPECT_TRUE(WaitFor([&] {
    return RunCommand({"jq", "-r", ".roles.primary | \"\\(.pid) \\(.state)\"", group.run_dir() + "/status.json"},
                      std::chrono::seconds(5)).output == expected;
  }, std::chrono::seconds(20))) << ReadFile(log);
  EXPECT_EQ(ReadFile(log).find("EAL init failed"), std::string::npos) << ReadFile(log);
  EXPECT_EQ(primary.Stop(SIGTERM), 0) << ReadFile(log);
}

TEST(GroupTest, BadConfigIsRefusedBeforeAnythingStarts) {
  TestGroup group(std::map<std::string, std::string>{{"switching.vm2vm", "5"}});
  const CommandResult up = group.Vswitch({"up"});
  EXPECT_EQ(up.exit_code, 2);
  EXPECT_NE(up.output.find("--vm2vm: 5 is not a mode"), std::string::npos) << up.output;
  EXPECT_EQ(group.RoleState("primary"), "down");
  EXPECT_TRUE(HugepageFiles(group.prefix()).empty());
}

TEST(GroupTest, BadCpuIsRefusedNamingTheOption) {
  TestGroup group(std::map<std::string, std::string>{{"eal.switching-cpu", "foo"}});
  const CommandResult up = group.Vswitch({"up"});
  EXPECT_EQ(up.exit_code, 2);
  EXPECT_NE(up.output.find("--switching-cpu: 'foo' is not a CPU number (allowed: auto or 0-"),
            std::string::npos)
      << up.output;
  EXPECT_TRUE(HugepageFiles(group.prefix()).empty()) << "nothing started";
  // The script reads the file through the binaries: status refuses it the same way.
  const CommandResult status = group.Vswitch({"status", "--json"});
  EXPECT_EQ(status.exit_code, 2);
  EXPECT_NE(status.output.find("--switching-cpu: 'foo' is not a CPU number"), std::string::npos)
      << status.output;
  const CommandResult rates = group.Vswitch({"status", "--rates", "0"});
  EXPECT_EQ(rates.exit_code, 2);
  EXPECT_NE(rates.output.find("--rates: needs a whole number of seconds"), std::string::npos)
      << rates.output;
}

TEST(GroupTest, CommandErrorsNameWhatIsWrong) {
  TestGroup group;
  CommandResult r = group.Vswitch({"restart", "router"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown role 'router'"), std::string::npos) << r.output;
  r = group.Vswitch({"restart", "vhost"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("deploy/vswitch up"), std::string::npos) << r.output;
  r = group.Vswitch({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown command 'frobnicate'"), std::string::npos) << r.output;
  r = RunCommand({SourceDir() + "/deploy/vswitch", "up", "--config", "/nonexistent.conf"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--config: cannot read '/nonexistent.conf'"), std::string::npos) << r.output;
}

TEST(GroupTest, NoBinaryLinksDpdkVhostLibrary) {
  for (const std::string bin : {"primary/vswitch-primary", "secondary/vhost/vswitch-vhost",
                                "secondary/switching/vswitch-switching", "monitor/vswitch-monitor"}) {
    const CommandResult r = RunCommand({"readelf", "-d", BinaryDir() + "/" + bin});
    ASSERT_EQ(r.exit_code, 0) << bin << r.output;
    EXPECT_NE(r.output.find("librte_eal"), std::string::npos) << bin;
    EXPECT_EQ(r.output.find("librte_vhost"), std::string::npos) << bin << " links DPDK's vhost";
  }
}

}  // namespace
}  // namespace vswitch::test
