#include "test_group.h"

#include <unistd.h>

#include <sstream>

namespace vswitch::test {
namespace {

int g_groups = 0;

}  // namespace

TestGroup::TestGroup(const std::map<std::string, std::string>& overrides) {
  const int group = g_groups++;
  const std::string n = std::to_string(getpid() % 100000) + "x" + std::to_string(group);
  prefix_ = "vswt" + n;
  iface_ = "vt" + n;  // <= 15 characters (IFNAMSIZ)
  run_dir_ = dir_ / "run";
  std::map<std::string, std::string> values = {
      {"eal.file-prefix", prefix_},
      {"eal.primary-cpu", "0"},
      {"eal.vhost-cpu", "1"},
      {"eal.switching-cpu", "0"},
      {"eal.monitor-cpu", "0"},
      {"group.run-dir", run_dir_},
      {"group.log-dir", dir_ / "log"},
      {"primary.port", "net_tap0,iface=" + iface_},
      {"primary.mbufs", "8191"},
      {"vhost.socket-file", socket(0) + "\n" + socket(1)},
      {"monitor.metrics-listen", "127.0.0.1:" + std::to_string(FreeTcpPort())},
  };
  for (const auto& [k, v] : overrides) values[k] = v;
  metrics_url_ = "http://" + values["monitor.metrics-listen"] + "/metrics";
  std::map<std::string, std::ostringstream> sections;
  for (const auto& [k, v] : values) {
    const auto dot = k.find('.');
    std::istringstream lines(v);
    std::string line;
    while (std::getline(lines, line)) sections[k.substr(0, dot)] << k.substr(dot + 1) << " = " << line << "\n";
  }
  std::ostringstream out;
  for (const auto& [section, body] : sections) out << "[" << section << "]\n" << body.str();
  config_ = dir_ / "vswitch.conf";
  WriteFile(config_, out.str());
}

TestGroup::~TestGroup() {
  (void)Vswitch({"down"}, std::chrono::seconds(60));
  RemoveDpdkLeftovers(prefix_);
}

CommandResult TestGroup::Vswitch(const std::vector<std::string>& args,
                                 std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {SourceDir() + "/deploy/vswitch"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--config");
  argv.push_back(config_);
  return RunCommand(argv, timeout, {"VSWITCH_BUILD_DIR=" + BinaryDir()});
}

std::string TestGroup::Status(const std::string& jq_expr, const std::vector<std::string>& status_args) {
  std::vector<std::string> argv = {
      "bash", "-c", "\"$0\" status --json --config \"$1\" \"${@:3}\" | jq -r \"$2\"",
      SourceDir() + "/deploy/vswitch", config_, jq_expr};
  argv.insert(argv.end(), status_args.begin(), status_args.end());
  const CommandResult r = RunCommand(argv, std::chrono::seconds(20), {"VSWITCH_BUILD_DIR=" + BinaryDir()});
  std::string out = r.output;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return r.exit_code == 0 ? out : "";
}

bool TestGroup::TapUp(const std::string& mtu) {
  (void)RunCommand({"sysctl", "-qw", "net.ipv6.conf." + iface_ + ".disable_ipv6=1"});
  if (!mtu.empty()) (void)RunCommand({"ip", "link", "set", iface_, "mtu", mtu});
  return RunCommand({"ip", "link", "set", iface_, "up"}).exit_code == 0;
}

pid_t TestGroup::RolePid(const std::string& role) {
  const std::string s = Status(".roles." + role + ".pid");
  return s.empty() ? 0 : static_cast<pid_t>(std::stol(s));
}

bool TestGroup::WaitRoleState(const std::string& role, const std::string& state,
                              std::chrono::milliseconds timeout) {
  return WaitFor([&] { return RoleState(role) == state; }, timeout);
}

std::string TestGroup::Log(const std::string& role) const { return ReadFile(dir_ / ("log/" + role + ".log")); }

std::string TestGroup::Scrape() {
  const CommandResult r = RunCommand({"curl", "-sS", "--fail", "--max-time", "10", metrics_url_}, std::chrono::seconds(15));
  return r.exit_code == 0 ? r.output : "";
}

double TestGroup::Metric(const std::string& name, const std::map<std::string, std::string>& labels) {
  const CommandResult r = RunCommand({"curl", "-sS", "--max-time", "10", metrics_url_}, std::chrono::seconds(15));
  double sum = 0;
  std::istringstream in(r.output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0) continue;
    bool match = true;
    for (const auto& [k, v] : labels) match = match && line.find(k + "=\"" + v + "\"") != std::string::npos;
    if (match) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

}  // namespace vswitch::test
