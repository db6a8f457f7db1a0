#include "config.h"

#include <boost/make_shared.hpp>
#include <boost/program_options.hpp>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "config_json.h"
#include "cpu_placement.h"
#include "state_layout.h"
#include "version.h"

namespace po = boost::program_options;

namespace vswitch {
namespace {

constexpr std::array<std::string_view, 6> kSections = {"eal", "group", "primary",
                                                       "vhost", "switching", "monitor"};

// Each option is declared once and registered twice: under its long name for the command
// line and as "section.name" for the INI file.
class OptionSet {
 public:
  OptionSet() : cli_("Options"), file_("file") {}

  template <typename T>
  void Add(std::string_view section, const char* name, po::typed_value<T>* semantic,
           const char* help) {
    cli_.add_options()(name, semantic, help);
    const std::string key = std::string(section) + "." + name;
    file_.add(boost::make_shared<po::option_description>(key.c_str(), po::value<std::string>()));
    sections_.emplace_back(section);
  }
  void AddFlag(const char* name, const char* help) { cli_.add_options()(name, help); }

  po::options_description& cli() { return cli_; }
  po::options_description& file() { return file_; }

 private:
  po::options_description cli_;
  po::options_description file_;
  std::vector<std::string_view> sections_;
};

struct UsageError {
  std::string message;
};

// The `<role>-cpu` values as written ("auto" or a number), resolved in Validate.
using CpuOptions = std::array<std::string, kRoleCount>;

void DeclareCommon(OptionSet& set, Config& c, CpuOptions* cpus) {
  set.Add("eal", "file-prefix", po::value<std::string>(&c.eal.file_prefix)->default_value(c.eal.file_prefix),
          "DPDK --file-prefix shared by the whole group");
  set.Add("eal", "huge-dir", po::value<std::string>(&c.eal.huge_dir),
          "hugetlbfs mount to use (default: DPDK finds it)");
  set.Add("eal", "memory", po::value<unsigned>(&c.eal.memory_mb)->default_value(c.eal.memory_mb),
          "MB of hugepage memory the primary reserves up front (0: on demand)");
  for (Role r : kAllRoles) {
    static std::array<std::string, kRoleCount> names;
    names[static_cast<size_t>(r)] = std::string(RoleName(r)) + "-cpu";
    set.Add("eal", names[static_cast<size_t>(r)].c_str(),
            po::value<std::string>(&(*cpus)[static_cast<size_t>(r)])->default_value("auto"),
            "CPU this role runs (and polls) on, or auto: picked from the CPUs the process may "
            "run on, pollers apart from the guests' CPU when there are 2 or more");
  }
  set.Add("eal", "log-level", po::value<std::string>(&c.eal.log_level)->default_value(c.eal.log_level),
          "vswitch log level: error, warning, notice, info or debug");
  set.Add("group", "run-dir", po::value<std::string>(&c.group.run_dir)->default_value(c.group.run_dir),
          "directory for status.json and pid files");
  set.Add("group", "log-dir", po::value<std::string>(&c.group.log_dir)->default_value(c.group.log_dir),
          "directory of the roles' log files (written by deploy/vswitch)");
}

void DeclarePrimary(OptionSet& set, PrimaryOptions& p, std::string* mtu) {
  set.Add("primary", "port", po::value<std::string>(&p.port)->default_value(p.port),
          "the port: a PCI address (0000:01:00.0) or a DPDK vdev string");
  set.Add("primary", "max-devices", po::value<unsigned>(&p.max_devices)->default_value(p.max_devices),
          "vhost devices the group can serve (1-64)");
  set.Add("primary", "mbufs", po::value<unsigned>(&p.mbufs)->default_value(p.mbufs),
          "mbufs in the shared pool (1023-1048575)");
  set.Add("primary", "mbuf-cache", po::value<unsigned>(&p.mbuf_cache)->default_value(p.mbuf_cache),
          "per-lcore mbuf cache (0-512)");
  set.Add("primary", "ring-size", po::value<unsigned>(&p.ring_size)->default_value(p.ring_size),
          "entries in each to_vm/from_vm ring (power of two, 64-65536)");
  set.Add("primary", "mac-table-size",
          po::value<unsigned>(&p.mac_table_size)->default_value(p.mac_table_size),
          "entries in the MAC table (64-1048576)");
  set.Add("primary", "rx-desc", po::value<unsigned>(&p.rx_desc)->default_value(p.rx_desc),
          "port RX descriptors per queue (64-4096)");
  set.Add("primary", "tx-desc", po::value<unsigned>(&p.tx_desc)->default_value(p.tx_desc),
          "port TX descriptors per queue (64-4096)");
  set.Add("primary", "dcb", po::value<bool>(&p.dcb)->default_value(false)->implicit_value(true),
          "VMDQ+DCB on an 82599 port");
  set.Add("primary", "heartbeat-timeout-ms",
          po::value<unsigned>(&p.heartbeat_timeout_ms)->default_value(p.heartbeat_timeout_ms),
          "a secondary silent this long is marked down (500-60000)");
  set.Add("primary", "status-interval-ms",
          po::value<unsigned>(&p.status_interval_ms)->default_value(p.status_interval_ms),
          "how often status.json is rewritten (50-10000)");
  set.Add("primary", "mtu", po::value<std::string>(mtu)->default_value("auto"),
          "the port's MTU (68-65535, clamped to what the port takes), or auto: 1500, or 9710 "
          "(jumbo frames) when [vhost] mergeable is 1");
}

void DeclareVhost(OptionSet& set, VhostOptions& v, std::string* socket_mode) {
  set.Add("vhost", "socket-file",
          po::value<std::vector<std::string>>(&v.socket_files)
              ->default_value(v.socket_files, "/run/vswitch/vm0.sock /run/vswitch/vm1.sock"),
          "vhost-user socket path (repeat for each device)");
  set.Add("vhost", "client", po::value<bool>(&v.client)->default_value(false)->implicit_value(true),
          "connect to the frontends' sockets (vhost-user client mode, with reconnect)");
  set.Add("vhost", "mergeable", po::value<unsigned>(&v.mergeable)->default_value(v.mergeable),
          "mergeable RX buffers: 0 or 1");
  set.Add("vhost", "packed", po::value<unsigned>(&v.packed)->default_value(v.packed),
          "offer packed virtqueues (VIRTIO_F_RING_PACKED; a front-end asks with packed_vq=1 or "
          "packed=on): 0 or 1");
  set.Add("vhost", "dequeue-zero-copy",
          po::value<bool>(&v.dequeue_zero_copy)->default_value(false)->implicit_value(true),
          "guest TX without copying packet data");
  set.Add("vhost", "tso", po::value<unsigned>(&v.tso)->default_value(v.tso), "TSO: 0 or 1");
  set.Add("vhost", "tx-csum", po::value<unsigned>(&v.tx_csum)->default_value(v.tx_csum),
          "TX checksum offload: 0 or 1");
  set.Add("vhost", "socket-mode", po::value<std::string>(socket_mode)->default_value("0660"),
          "server socket permissions (octal)");
  set.Add("vhost", "socket-owner", po::value<std::string>(&v.socket_owner), "server socket owner");
  set.Add("vhost", "socket-group", po::value<std::string>(&v.socket_group), "server socket group");
}

void DeclareSwitching(OptionSet& set, SwitchingOptions& s) {
  set.Add("switching", "vm2vm", po::value<unsigned>(&s.vm2vm)->default_value(s.vm2vm),
          "guest-to-guest traffic: 0 via the port, 1 in software, 2 via the port's loopback");
  set.Add("switching", "direct-vm2vm",
          po::value<unsigned>(&s.direct_vm2vm)->default_value(s.direct_vm2vm),
          "software vm2vm between learned guests done by vswitch-vhost itself: 0 or 1 (default)");
  set.Add("switching", "rx-retry", po::value<unsigned>(&s.rx_retry)->default_value(s.rx_retry),
          "retry when a device's ring is full: 0 or 1");
  set.Add("switching", "rx-retry-num",
          po::value<unsigned>(&s.rx_retry_num)->default_value(s.rx_retry_num),
          "retries before dropping (1-1000)");
  set.Add("switching", "rx-retry-delay",
          po::value<unsigned>(&s.rx_retry_delay_us)->default_value(s.rx_retry_delay_us),
          "microseconds between retries (1-10000)");
  set.Add("switching", "stats", po::value<unsigned>(&s.stats_s)->default_value(s.stats_s),
          "print per-device statistics every N seconds (0: off)");
  set.Add("switching", "vlan-strip", po::value<std::string>(),
          "removed: VLAN tags are always stripped toward guests");
}

void DeclareMonitor(OptionSet& set, MonitorOptions& m) {
  set.Add("monitor", "metrics-listen",
          po::value<std::string>(&m.metrics_listen)->default_value(m.metrics_listen),
          "address:port of the Prometheus endpoint");
}

void Range(const char* option, unsigned value, unsigned lo, unsigned hi) {
  if (value < lo || value > hi) {
    throw UsageError{"--" + std::string(option) + ": " + std::to_string(value) +
                     " is out of range (allowed: " + std::to_string(lo) + "-" + std::to_string(hi) +
                     ")"};
  }
}

void ZeroOrOne(const char* option, unsigned value) {
  if (value > 1) {
    throw UsageError{"--" + std::string(option) + ": " + std::to_string(value) +
                     " is not allowed (allowed: 0 or 1)"};
  }
}

// Every role's CPU: an explicit number wins (a CPU of this machine), `auto` takes the
// role's place from PlaceRoles over the CPUs this process may run on. Each process of the
// group resolves every role, its own included, the same way: they agree as long as they
// start with the same affinity (deploy/vswitch starts them all from one shell).
void ResolveCpus(EalOptions& eal, const CpuOptions& cpus) {
  const unsigned machine = std::max(1u, std::thread::hardware_concurrency());
  const std::string allowed = "auto or 0-" + std::to_string(machine - 1);
  const std::array<unsigned, kRoleCount> placed = PlaceRoles(AllowedCpus());
  for (Role r : kAllRoles) {
    const size_t i = static_cast<size_t>(r);
    const std::string option = "--" + std::string(RoleName(r)) + "-cpu";
    const std::string& text = cpus[i];
    if (text == "auto") {
      eal.cpu[i] = static_cast<int>(placed[i]);
      eal.cpu_auto[i] = true;
      continue;
    }
    unsigned cpu = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), cpu);
    if (text.empty() || ec == std::errc::invalid_argument || end != text.data() + text.size()) {
      throw UsageError{option + ": '" + text + "' is not a CPU number (allowed: " + allowed + ")"};
    }
    if (ec == std::errc::result_out_of_range || cpu >= machine) {
      throw UsageError{option + ": " + text + " is not a CPU of this machine (allowed: " +
                       allowed + ")"};
    }
    eal.cpu[i] = static_cast<int>(cpu);
    eal.cpu_auto[i] = false;
  }
}

// `[primary] mtu`: "auto" (0) or a number of bytes.
unsigned ParseMtu(const std::string& text) {
  if (text == "auto") return 0;
  unsigned mtu = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), mtu);
  if (text.empty() || ec == std::errc::invalid_argument || end != text.data() + text.size()) {
    throw UsageError{"--mtu: '" + text + "' is not an MTU (allowed: auto or 68-65535)"};
  }
  if (ec == std::errc::result_out_of_range || mtu < 68 || mtu > 65535) {
    throw UsageError{"--mtu: " + text + " is out of range (allowed: auto or 68-65535)"};
  }
  return mtu;
}

void Validate(Config& c, const std::string& socket_mode, const std::string& mtu, const CpuOptions& cpus) {
  if (c.eal.file_prefix.empty() || c.eal.file_prefix.find('/') != std::string::npos) {
    throw UsageError{"--file-prefix: must be a non-empty name without '/'"};
  }
  ResolveCpus(c.eal, cpus);
  static constexpr std::array<std::string_view, 5> kLevels = {"error", "warning", "notice", "info",
                                                              "debug"};
  if (std::find(kLevels.begin(), kLevels.end(), c.eal.log_level) == kLevels.end()) {
    throw UsageError{"--log-level: '" + c.eal.log_level +
                     "' is not a level (allowed: error, warning, notice, info, debug)"};
  }
  if (c.group.run_dir.empty() || c.group.run_dir[0] != '/') {
    throw UsageError{"--run-dir: must be an absolute path"};
  }
  switch (c.role) {
    case Role::kPrimary: {
      const auto& p = c.primary;
      if (p.port.empty()) throw UsageError{"--port: must name a PCI address or a vdev"};
      if (p.port.size() >= kPortNameMax) throw UsageError{"--port: longer than 255 characters"};
      Range("max-devices", p.max_devices, 1, kMaxDevices);
      Range("mbufs", p.mbufs, 1023, 1048575);
      Range("mbuf-cache", p.mbuf_cache, 0, 512);
      Range("ring-size", p.ring_size, 64, 65536);
      if ((p.ring_size & (p.ring_size - 1)) != 0) {
        throw UsageError{"--ring-size: " + std::to_string(p.ring_size) +
                         " is not a power of two (allowed: 64, 128, ... 65536)"};
      }
      Range("mac-table-size", p.mac_table_size, 64, 1048576);
      Range("rx-desc", p.rx_desc, 64, 4096);
      Range("tx-desc", p.tx_desc, 64, 4096);
      Range("heartbeat-timeout-ms", p.heartbeat_timeout_ms, 500, 60000);
      Range("status-interval-ms", p.status_interval_ms, 50, 10000);
      c.primary.mtu = ParseMtu(mtu);
      break;
    }
    case Role::kVhost: {
      auto& v = c.vhost;
      if (v.socket_files.empty()) throw UsageError{"--socket-file: at least one is needed"};
      if (v.socket_files.size() > kMaxDevices) {
        throw UsageError{"--socket-file: at most " + std::to_string(kMaxDevices) + " sockets"};
      }
      for (size_t i = 0; i < v.socket_files.size(); ++i) {
        const auto& s = v.socket_files[i];
        if (s.empty() || s.size() >= kSocketPathMax) {
          throw UsageError{"--socket-file: '" + s + "' must be 1-107 characters"};
        }
        for (size_t j = 0; j < i; ++j) {
          if (v.socket_files[j] == s) throw UsageError{"--socket-file: '" + s + "' given twice"};
        }
      }
      ZeroOrOne("mergeable", v.mergeable);
      ZeroOrOne("packed", v.packed);
      ZeroOrOne("tso", v.tso);
      ZeroOrOne("tx-csum", v.tx_csum);
      char* end = nullptr;
      const unsigned long mode = std::strtoul(socket_mode.c_str(), &end, 8);
      if (socket_mode.empty() || *end != '\0' || mode > 0777) {
        throw UsageError{"--socket-mode: '" + socket_mode +
                         "' is not an octal permission (allowed: 0000-0777)"};
      }
      v.socket_mode = static_cast<unsigned>(mode);
      break;
    }
    case Role::kSwitching: {
      const auto& s = c.switching;
      if (s.vm2vm > 2) {
        throw UsageError{"--vm2vm: " + std::to_string(s.vm2vm) + " is not a mode (allowed: 0, 1 or 2)"};
      }
      ZeroOrOne("rx-retry", s.rx_retry);
      ZeroOrOne("direct-vm2vm", s.direct_vm2vm);
      Range("rx-retry-num", s.rx_retry_num, 1, 1000);
      Range("rx-retry-delay", s.rx_retry_delay_us, 1, 10000);
      Range("stats", s.stats_s, 0, 86400);
      break;
    }
    case Role::kMonitor: {
      std::string host;
      unsigned port = 0;
      if (!SplitHostPort(c.monitor.metrics_listen, &host, &port)) {
        throw UsageError{"--metrics-listen: '" + c.monitor.metrics_listen +
                         "' is not address:port (port 1-65535)"};
      }
      break;
    }
  }
}

std::string Help(Role role, const po::options_description& cli) {
  std::ostringstream out;
  out << "Usage: " << RoleBinary(role) << " [--config FILE] [options]\n\n"
      << "Every option can also be set in the group's INI file: [eal] and [group] keys for "
         "all roles, [" << RoleName(role) << "] for this one; the command line wins.\n\n"
      << cli;
  return out.str();
}

}  // namespace

bool SplitHostPort(const std::string& s, std::string* host, unsigned* port) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= s.size()) return false;
  const std::string p = s.substr(colon + 1);
  if (p.find_first_not_of("0123456789") != std::string::npos || p.size() > 5) return false;
  const unsigned long n = std::stoul(p);
  if (n == 0 || n > 65535) return false;
  *host = s.substr(0, colon);
  *port = static_cast<unsigned>(n);
  return true;
}

ParseResult ParseConfig(Role role, const std::vector<std::string>& args) {
  ParseResult result;
  Config& c = result.config;
  c.role = role;
  const std::string binary(RoleBinary(role));

  OptionSet set;
  set.AddFlag("help,h", "print this help and exit");
  set.AddFlag("version", "print the version and exit");
  set.AddFlag("check-config", "validate the configuration and exit");
  set.AddFlag("print-config",
              "validate the configuration, print it as resolved (JSON: [eal], [group] and "
              "this role's section) and exit");
  set.cli().add_options()("config", po::value<std::string>(&c.config_file),
                          "the group's INI file (e.g. deploy/vswitch.conf)");
  CpuOptions cpus;
  DeclareCommon(set, c, &cpus);
  std::string socket_mode;
  std::string mtu;
  bool vlan_strip_given = false;
  switch (role) {
    case Role::kPrimary: DeclarePrimary(set, c.primary, &mtu); break;
    case Role::kVhost: DeclareVhost(set, c.vhost, &socket_mode); break;
    case Role::kSwitching: DeclareSwitching(set, c.switching); break;
    case Role::kMonitor: DeclareMonitor(set, c.monitor); break;
  }

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(set.cli()).run(), vm);
    if (vm.count("help")) {
      result.run = false;
      result.message = Help(role, set.cli());
      return result;
    }
    if (vm.count("version")) {
      result.run = false;
      result.message = binary + " " + kVersionString + " (shared layout " +
                       std::to_string(kLayoutVersion) + ")\n";
      return result;
    }
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::ifstream in(path);
      if (!in) throw UsageError{"--config: cannot read '" + path + "'"};
      po::parsed_options parsed(nullptr);
      try {
        parsed = po::parse_config_file(in, set.file(), /*allow_unregistered=*/true);
      } catch (const po::invalid_syntax& e) {
        // Comments start with '#' (anywhere on a line); ';' is not a comment here.
        const bool semicolon = e.tokens().rfind(';', 0) == 0;
        throw UsageError{path + ": " + e.what() +
                         (semicolon ? " (comments start with '#', not ';')" : "")};
      }
      std::vector<po::option> kept;
      for (auto& opt : parsed.options) {
        const auto dot = opt.string_key.find('.');
        const std::string section = opt.string_key.substr(0, dot);
        const std::string key = dot == std::string::npos ? "" : opt.string_key.substr(dot + 1);
        if (std::find(kSections.begin(), kSections.end(), section) == kSections.end()) {
          throw UsageError{path + ": unknown section [" + section + "] (allowed: [eal], [group], "
                           "[primary], [vhost], [switching], [monitor])"};
        }
        const bool ours = section == "eal" || section == "group" || section == RoleName(role);
        if (!ours) continue;  // another role's key: that role validates it
        if (opt.unregistered) {
          throw UsageError{path + ": unknown key '" + key + "' in [" + section + "]" +
                           (key.rfind(';', 0) == 0 ? " (comments start with '#', not ';')" : "")};
        }
        opt.string_key = key;
        kept.push_back(opt);
      }
      parsed.options = kept;
      parsed.description = &set.cli();
      try {
        po::store(parsed, vm);
      } catch (const po::error& e) {
        throw UsageError{path + ": " + e.what()};
      }
    }
    po::notify(vm);
    vlan_strip_given = vm.count("vlan-strip") > 0;
    c.check_only = vm.count("check-config") > 0;
    c.print_only = vm.count("print-config") > 0;
    Validate(c, socket_mode, mtu, cpus);
  } catch (const UsageError& e) {
    result.exit_code = 2;
    result.run = false;
    result.message = binary + ": " + e.message + "\n";
    return result;
  } catch (const po::error& e) {
    result.exit_code = 2;
    result.run = false;
    result.message = binary + ": " + e.what() + " (see --help)\n";
    return result;
  }
  if (vlan_strip_given) {
    result.message = binary +
                     ": note: --vlan-strip was removed; VLAN tags are always stripped toward "
                     "guests, as in DPDK's vhost-switch\n";
  }
  if (c.print_only) {
    // stdout carries the JSON alone (deploy/vswitch parses it); notes are for --check-config.
    result.run = false;
    result.message = RenderConfigJson(c) + "\n";
    return result;
  }
  if (c.check_only) {
    result.run = false;
    result.message += binary + ": configuration OK\n";
  }
  return result;
}

ParseResult ParseConfig(Role role, int argc, const char* const* argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return ParseConfig(role, args);
}

bool HandleParseResult(const ParseResult& result, int* exit_code) {
  if (result.exit_code != 0) {
    std::fputs(result.message.c_str(), stderr);
    *exit_code = result.exit_code;
    return false;
  }
  if (!result.run) {
    std::fputs(result.message.c_str(), stdout);
    *exit_code = 0;
    return false;
  }
  if (!result.message.empty()) std::fputs(result.message.c_str(), stderr);
  return true;
}

}  // namespace vswitch
