// A vswitch group of its own for one test: a unique file prefix, tap interface, run and
// log directories and sockets in a temporary directory, driven through deploy/vswitch as
// an operator would. The destructor brings it down and removes every leftover.
#pragma once

#include <map>
#include <string>

#include "process.h"
#include "test_env.h"

namespace vswitch::test {

class TestGroup {
 public:
  // `overrides` maps "section.key" to a value (a value with '\n' repeats the key, e.g.
  // socket files); they replace the defaults written to the config file.
  explicit TestGroup(const std::map<std::string, std::string>& overrides = {});
  ~TestGroup();
  TestGroup(const TestGroup&) = delete;
  TestGroup& operator=(const TestGroup&) = delete;

  [[nodiscard]] const std::string& config() const { return config_; }
  [[nodiscard]] const std::string& prefix() const { return prefix_; }
  [[nodiscard]] const std::string& iface() const { return iface_; }
  [[nodiscard]] const std::string& run_dir() const { return run_dir_; }
  [[nodiscard]] std::string socket(int i) const { return dir_ / ("vm" + std::to_string(i) + ".sock"); }
  [[nodiscard]] const TempDir& dir() const { return dir_; }
  // The monitor's endpoint, "http://127.0.0.1:<port>/metrics".
  [[nodiscard]] const std::string& metrics_url() const { return metrics_url_; }
  // Scrapes the monitor: the sum of the samples of `name` whose labels include every
  // `labels` pair (0 when there are none).
  [[nodiscard]] double Metric(const std::string& name, const std::map<std::string, std::string>& labels = {});
  // Scrapes the monitor: the whole exposition text ("" when it did not answer).
  [[nodiscard]] std::string Scrape();

  // deploy/vswitch SUBCOMMAND ARGS... --config <ours>
  [[nodiscard]] CommandResult Vswitch(const std::vector<std::string>& args,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(90));
  // `status --json [STATUS_ARGS...]` piped through `jq -r EXPR`; empty on failure.
  [[nodiscard]] std::string Status(const std::string& jq_expr,
                                   const std::vector<std::string>& status_args = {});
  // Brings the port's tap up with IPv6 off on it, so the kernel's side sends nothing
  // toward the guests (no router solicitations or address probes to count among their
  // frames), at `mtu` when given. True when `ip link set ... up` succeeded.
  [[nodiscard]] bool TapUp(const std::string& mtu = "");
  [[nodiscard]] pid_t RolePid(const std::string& role);
  [[nodiscard]] std::string RoleState(const std::string& role) { return Status(".roles." + role + ".state"); }
  // Waits until `role` reports `state`; false after `timeout`.
  [[nodiscard]] bool WaitRoleState(const std::string& role, const std::string& state,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(10));
  [[nodiscard]] std::string Log(const std::string& role) const;

 private:
  TempDir dir_;
  std::string prefix_;
  std::string iface_;
  std::string run_dir_;
  std::string config_;
  std::string metrics_url_;
};

}  // namespace vswitch::test
