// The group under systemd, from the installed units: systemd 252 itself runs them
// (SystemdMachine: PID 1 of its own namespaces, since this machine's PID 1 may not be
// systemd). What an operator relies on: the secondaries start once the primary serves
// and never race it; READY=1 means serving; a primary that dies or is restarted brings
// the secondaries back without hitting a start limit; `deploy/vswitch logs` reads the
// journal.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "systemd_machine.h"
#include "test_group.h"

namespace vswitch::test {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kRoles = {"primary", "vhost", "switching", "monitor"};
const std::vector<std::string> kSecondaries = {"vhost", "switching", "monitor"};

std::string Unit(const std::string& role) { return "vswitch-" + role + ".service"; }

// A canary in this machine's /tmp: whatever runs in the test machine must not clean it.
class TmpCanary {
 public:
  TmpCanary() : path_("/tmp/vsw-systemd-canary-" + std::to_string(getpid())) { WriteFile(path_, "canary"); }
  ~TmpCanary() { unlink(path_.c_str()); }
  [[nodiscard]] bool Intact() const { return ReadFile(path_) == "canary"; }

 private:
  std::string path_;
};

class SystemdGroupTest : public ::testing::Test {
 protected:
  SystemdGroupTest() : machine_(group_.dir().path(), ReadFile(group_.config())) {}
  ~SystemdGroupTest() override = default;

  void SetUp() override { ASSERT_EQ(machine_.error(), "") << machine_.error(); }

  void Start() {
    const CommandResult r = machine_.Systemctl({"start", "vswitch.target"}, std::chrono::seconds(90));
    ASSERT_EQ(r.exit_code, 0) << r.output << machine_.Journal();
  }

  std::map<std::string, pid_t> MainPids() {
    std::map<std::string, pid_t> pids;
    for (const auto& role : kRoles) pids[role] = machine_.MainPid(Unit(role));
    return pids;
  }

  // Every role active under a pid that is not in `old` (each restarted).
  bool AllBackWithNewPids(const std::map<std::string, pid_t>& old, std::chrono::seconds timeout) {
    return WaitFor([&] {
      for (const auto& role : kRoles) {
        if (machine_.Property(Unit(role), "ActiveState") != "active") return false;
        const pid_t pid = machine_.MainPid(Unit(role));
        if (pid <= 0 || pid == old.at(role)) return false;
      }
      return true;
    }, timeout);
  }

  // The primary's status file (its run dir is the test's, seen from outside) names `pid`
  // as the role's process, up.
  bool StatusShows(const std::string& role, pid_t pid) {
    const CommandResult r = RunCommand(
        {"jq", "-r", ".roles." + role + " | \"\\(.pid) \\(.state)\"", group_.run_dir() + "/status.json"},
        std::chrono::seconds(10));
    return r.exit_code == 0 && r.output == std::to_string(pid) + " up\n";
  }

  std::string States() {
    std::string out;
    for (const auto& role : kRoles) {
      out += Unit(role) + ": " + machine_.Property(Unit(role), "ActiveState") + " pid " +
             std::to_string(machine_.MainPid(Unit(role))) + " restarts " +
             machine_.Property(Unit(role), "NRestarts") + "\n";
    }
    return out;
  }

  TmpCanary canary_;
  TestGroup group_;
  SystemdMachine machine_;  // after group_: gone before the group's directory is removed
};

TEST_F(SystemdGroupTest, SecondariesStartOnceThePrimaryServes) {
  Start();
  const uint64_t primary_ready =
      std::stoull(machine_.Property(Unit("primary"), "ActiveEnterTimestampMonotonic"));
  for (const auto& role : kRoles) {
    SCOPED_TRACE(role);
    EXPECT_EQ(machine_.Property(Unit(role), "ActiveState"), "active");
    // Nobody failed and was restarted on the way up.
    EXPECT_EQ(machine_.Property(Unit(role), "NRestarts"), "0");
    if (role != "primary") {
      // Started (exec) only after the primary said READY=1.
      EXPECT_GE(std::stoull(machine_.Property(Unit(role), "ExecMainStartTimestampMonotonic")), primary_ready);
    }
  }
  const std::string journal = machine_.Journal();
  EXPECT_EQ(journal.find("no vswitch-primary is running"), std::string::npos) << journal;
  // The group agrees: every role up under the pid systemd started.
  for (const auto& role : kRoles) {
    const pid_t pid = machine_.MainPid(Unit(role));
    EXPECT_TRUE(WaitFor([&] { return StatusShows(role, pid); }, std::chrono::seconds(5))) << role;
  }
  EXPECT_TRUE(canary_.Intact());
}

TEST_F(SystemdGroupTest, ReadyMeansServing) {
  Start();
  // The moment systemctl returns, systemd has READY=1: the role must already serve.
  // Monitor: the metrics endpoint answers.
  const std::string metrics = group_.metrics_url();
  CommandResult r = machine_.Shell("systemctl restart vswitch-monitor.service && curl -sf --max-time 5 '" +
                                   metrics + "' | grep -c '^vswitch_'");
  EXPECT_EQ(r.exit_code, 0) << r.output << machine_.Journal();
  // vhost: both vhost-user sockets accept a connection (they are removed on stop).
  const CommandResult stop = machine_.Systemctl({"stop", Unit("vhost")});
  ASSERT_EQ(stop.exit_code, 0) << stop.output;
  EXPECT_FALSE(fs::exists(group_.socket(0)));
  const std::string connect =
      "/usr/bin/python3 -c 'import socket, sys\n"
      "for p in sys.argv[1:]:\n"
      "    socket.socket(socket.AF_UNIX).connect(p)' ";
  r = machine_.Shell("systemctl start vswitch-vhost.service && " + connect + group_.socket(0) + " " +
                     group_.socket(1));
  EXPECT_EQ(r.exit_code, 0) << r.output << machine_.Journal();
  // Primary: its status file is there (it is removed when the primary stops) and names the
  // new process, up; the restart took the secondaries down and up with it.
  const auto before = MainPids();
  r = machine_.Shell(
      "systemctl restart vswitch-primary.service && "
      "jq -r '.roles.primary | \"\\(.pid) \\(.state)\"' '" + group_.run_dir() + "/status.json'");
  ASSERT_EQ(r.exit_code, 0) << r.output << machine_.Journal();
  EXPECT_EQ(r.output, std::to_string(machine_.MainPid(Unit("primary"))) + " up\n");
  EXPECT_TRUE(AllBackWithNewPids(before, std::chrono::seconds(30))) << States() << machine_.Journal();
  EXPECT_TRUE(canary_.Intact());
}

TEST_F(SystemdGroupTest, PrimaryDeathsBringTheGroupBack) {
  Start();
  // Three deaths in a row, each taken as soon as the group is back: the primary restarts,
  // and so does every secondary, none of them anywhere near a start limit.
  for (int round = 1; round <= 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const auto before = MainPids();
    const CommandResult kill = machine_.Systemctl(
        {"kill", "--signal=SIGKILL", "--kill-who=main", Unit("primary")});
    ASSERT_EQ(kill.exit_code, 0) << kill.output;
    ASSERT_TRUE(AllBackWithNewPids(before, std::chrono::seconds(30))) << States() << machine_.Journal();
  }
  EXPECT_EQ(machine_.Property(Unit("primary"), "NRestarts"), "3");
  const std::string journal = machine_.Journal();
  EXPECT_EQ(journal.find("Start request repeated too quickly"), std::string::npos) << journal;
  for (const auto& role : kRoles) {
    const pid_t pid = machine_.MainPid(Unit(role));
    EXPECT_TRUE(WaitFor([&] { return StatusShows(role, pid); }, std::chrono::seconds(5))) << role;
  }

  // A secondary that dies comes back alone.
  const auto before = MainPids();
  ASSERT_EQ(machine_.Systemctl({"kill", "--signal=SIGKILL", "--kill-who=main", Unit("vhost")}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] {
    const pid_t pid = machine_.MainPid(Unit("vhost"));
    return pid > 0 && pid != before.at("vhost") && machine_.Property(Unit("vhost"), "ActiveState") == "active";
  }, std::chrono::seconds(20))) << States();
  for (const auto& role : {"primary", "switching", "monitor"}) {
    EXPECT_EQ(machine_.MainPid(Unit(role)), before.at(role)) << role;
  }

  // Stopping the primary stops the group, in order, and nothing counts as failed.
  const CommandResult stop = machine_.Systemctl({"stop", Unit("primary")}, std::chrono::seconds(60));
  ASSERT_EQ(stop.exit_code, 0) << stop.output;
  bool all_inactive = true;
  for (const auto& role : kRoles) {
    const std::string state = machine_.Property(Unit(role), "ActiveState");
    EXPECT_EQ(state, "inactive") << role << "\n" << States();
    all_inactive = all_inactive && state == "inactive";
  }
  // Why a role ended otherwise (its exit status, a sanitizer's report) is in the journal.
  if (!all_inactive) ADD_FAILURE() << machine_.Journal();
  EXPECT_FALSE(fs::exists(group_.run_dir() + "/status.json"));
  EXPECT_TRUE(canary_.Intact());
}

TEST_F(SystemdGroupTest, LogsReadTheJournal) {
  Start();
  const pid_t primary = machine_.MainPid(Unit("primary"));
  // The installed script, as an operator on that host would run it.
  const CommandResult logs = machine_.Run(
      {VSWITCH_INSTALL_SCRIPT, "logs", "primary", "--config", VSWITCH_INSTALL_CONFIG});
  EXPECT_EQ(logs.exit_code, 0) << logs.output;
  EXPECT_NE(logs.output.find("vswitch-primary (pid " + std::to_string(primary) + ") ready"), std::string::npos)
      << logs.output;
  const CommandResult vhost = machine_.Run(
      {VSWITCH_INSTALL_SCRIPT, "logs", "vhost", "--config", VSWITCH_INSTALL_CONFIG});
  EXPECT_EQ(vhost.exit_code, 0) << vhost.output;
  EXPECT_NE(vhost.output.find("vhost-user socket " + group_.socket(0) + " registered"), std::string::npos)
      << vhost.output;
  EXPECT_TRUE(canary_.Intact());
}

}  // namespace
}  // namespace vswitch::test
