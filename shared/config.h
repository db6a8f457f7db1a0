// Configuration of every role: command line and the group's INI file (one section per
// role plus [eal] and [group]), parsed with Boost.Program_options. Command-line values
// override the file. Parsing is pure: it never prints or exits, so every error path is
// unit-tested; the binary prints ParseResult::message and exits with ParseResult::exit_code.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "role.h"

namespace vswitch {

// [eal]: what every process of the group passes to DPDK.
struct EalOptions {
  std::string file_prefix = "vswitch";
  std::string huge_dir;                 // empty: DPDK finds the hugetlbfs mount
  unsigned memory_mb = 0;               // primary's -m; 0: allocate on demand
  // The CPU each role runs (and polls) on, resolved by ParseConfig: a role whose
  // `<role>-cpu` is `auto` (the default) gets PlaceRoles(AllowedCpus()) (cpu_placement.h).
  std::array<int, kRoleCount> cpu = {0, 0, 0, 0};
  std::array<bool, kRoleCount> cpu_auto = {true, true, true, true};  // chosen by `auto`
  std::string log_level = "info";       // vswitch's own log level
};

// [group]: shared by the processes and deploy/vswitch.
struct GroupOptions {
  std::string run_dir = "/run/vswitch";      // status.json, pid files
  std::string log_dir = "/var/log/vswitch";  // one log file per role (deploy/vswitch)
};

struct PrimaryOptions {
  std::string port = "net_tap0,iface=vsw0";  // PCI address or vdev string
  unsigned max_devices = 8;
  unsigned mbufs = 16383;
  unsigned mbuf_cache = 256;
  unsigned ring_size = 1024;
  unsigned mac_table_size = 1024;
  unsigned rx_desc = 1024;
  unsigned tx_desc = 1024;
  bool dcb = false;
  unsigned heartbeat_timeout_ms = 3000;
  unsigned status_interval_ms = 250;
  // The port's MTU: 68-65535, or 0 for `auto` (1500; 9710 when [vhost] mergeable is 1).
  // Clamped to what the port takes (port_mtu.h).
  unsigned mtu = 0;
};

struct VhostOptions {
  std::vector<std::string> socket_files = {"/run/vswitch/vm0.sock", "/run/vswitch/vm1.sock"};
  bool client = false;
  unsigned mergeable = 0;
  // Packed virtqueues (VIRTIO_F_RING_PACKED) offered to the front-ends. Off by default
  // until they have run against every front-end and mode split rings have.
  unsigned packed = 0;
  bool dequeue_zero_copy = false;
  unsigned tso = 0;
  unsigned tx_csum = 0;
  unsigned socket_mode = 0660;
  std::string socket_owner;  // user name; empty: root
  std::string socket_group;  // group name; empty: root
};

struct SwitchingOptions {
  unsigned vm2vm = 1;
  // With software vm2vm: vswitch-vhost delivers a guest's unicast frame to another guest
  // itself once switching has learned both (docs/architecture.md, "Direct guest-to-guest").
  unsigned direct_vm2vm = 1;
  unsigned rx_retry = 1;
  unsigned rx_retry_num = 4;
  unsigned rx_retry_delay_us = 15;
  unsigned stats_s = 0;
};

struct MonitorOptions {
  std::string metrics_listen = "127.0.0.1:9469";
};

struct Config {
  Role role = Role::kPrimary;
  std::string config_file;  // empty: built-in defaults only
  bool check_only = false;  // --check-config
  bool print_only = false;  // --print-config (config_json.h)
  EalOptions eal;
  GroupOptions group;
  PrimaryOptions primary;
  VhostOptions vhost;
  SwitchingOptions switching;
  MonitorOptions monitor;
};

struct ParseResult {
  // 0 with `run` true: go on and run. 0 with `run` false: --help/--version/--check-config/
  // --print-config answered, print `message` to stdout and exit 0. 2: a usage or config error, print
  // `message` (one line naming the option) to stderr and exit 2.
  int exit_code = 0;
  bool run = true;
  std::string message;
  Config config;
};

[[nodiscard]] ParseResult ParseConfig(Role role, const std::vector<std::string>& args);
[[nodiscard]] ParseResult ParseConfig(Role role, int argc, const char* const* argv);

// Handles the parse outcome in a main(): prints, and returns true when the process should
// go on; otherwise sets *exit_code.
[[nodiscard]] bool HandleParseResult(const ParseResult& result, int* exit_code);

// Splits "a:b" into host and port; false when malformed. Pure, shared with the monitor.
[[nodiscard]] bool SplitHostPort(const std::string& s, std::string* host, unsigned* port);

}  // namespace vswitch
