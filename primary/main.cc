// vswitch-primary: owns the group's DPDK runtime (hugepages, mbuf pool, rings, MAC table,
// state memzone, the port) and watches the secondaries. No datapath loop: it sleeps.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <thread>

#include "clock.h"
#include "config.h"
#include "doorbells.h"
#include "eal_args.h"
#include "earlier_secondaries.h"
#include "hugepage_check.h"
#include "liveness.h"
#include "log.h"
#include "port.h"
#include "port_mtu.h"
#include "process_util.h"
#include "service_notify.h"
#include "shared_objects.h"
#include "status_file.h"
#include "status_json.h"

namespace vswitch {
namespace {

constexpr auto kLoopPeriod = std::chrono::milliseconds(50);

bool MakeDirs(const std::string& dir) {
  std::string path;
  for (size_t i = 0; i <= dir.size(); ++i) {
    if (i == dir.size() || (dir[i] == '/' && i > 0)) {
      path = dir.substr(0, i);
      if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return false;
    }
  }
  return true;
}

void PublishConfig(const Config& config, const PortInfo& port, SharedState& s) {
  auto& c = s.config;
  std::snprintf(c.port, sizeof(c.port), "%s", config.primary.port.c_str());
  c.max_devices = config.primary.max_devices;
  c.ring_size = config.primary.ring_size;
  c.mbufs = config.primary.mbufs;
  c.port_id = port.port_id;
  c.port_rx_queues = port.rx_queues;
  c.port_tx_queues = port.tx_queues;
  c.vmdq_pools = port.vmdq_pools;
  c.heartbeat_timeout_ms = config.primary.heartbeat_timeout_ms;
  c.port_rx_wake_fds = static_cast<uint16_t>(port.rx_wake_fds.size());
  c.port_mtu = port.mtu;
  c.port_max_frame = uint32_t{port.mtu} + RTE_ETHER_HDR_LEN;
}

// --vm2vm 2 needs the port's VT loopback, set when the port is configured; the switching
// role's option lives in the group's file ([switching] vm2vm), read here the way
// vswitch-switching reads it.
bool SwitchingWantsLoopback(const Config& config) {
  if (config.config_file.empty()) return false;
  const ParseResult s = ParseConfig(Role::kSwitching, {"--config", config.config_file});
  return s.exit_code == 0 && s.config.switching.vm2vm == 2;
}

// [primary] mtu = auto follows [vhost] mergeable (jumbo frames only when guests can take
// them), read from the group's file the way vswitch-vhost reads it.
uint32_t WantedMtu(const Config& config) {
  if (config.primary.mtu != 0) return config.primary.mtu;
  bool mergeable = false;
  if (!config.config_file.empty()) {
    const ParseResult v = ParseConfig(Role::kVhost, {"--config", config.config_file});
    mergeable = v.exit_code == 0 && v.config.vhost.mergeable == 1;
  }
  const uint32_t mtu = AutoMtu(mergeable);
  VSW_LOG(INFO, "[primary] mtu auto: %u ([vhost] mergeable %d)", mtu, mergeable ? 1 : 0);
  return mtu;
}

int Run(const Config& config) {
  const std::string hugepage_problem = CheckHugepagesOnThisMachine();
  if (!hugepage_problem.empty()) {
    std::fprintf(stderr, "vswitch-primary: %s\n", hugepage_problem.c_str());
    return 1;
  }
  const std::string runtime_config = "/var/run/dpdk/" + config.eal.file_prefix + "/config";
  if (access(runtime_config.c_str(), F_OK) == 0 &&
      rte_eal_primary_proc_alive(runtime_config.c_str()) != 0) {
    std::fprintf(stderr,
                 "vswitch-primary: a primary with file-prefix '%s' is already running "
                 "(see deploy/vswitch status)\n",
                 config.eal.file_prefix.c_str());
    return 1;
  }
  // systemd's restart of a dead primary can come while one of its secondaries is still
  // leaving; DPDK's init would fail on the files that secondary holds.
  const std::string earlier = WaitForEarlierSecondaries("/var/run/dpdk/" + config.eal.file_prefix,
                                                        config.eal.file_prefix, std::chrono::seconds(10));
  if (!earlier.empty()) {
    std::fprintf(stderr, "vswitch-primary: %s\n", earlier.c_str());
    return 1;
  }
  if (!MakeDirs(config.group.run_dir)) {
    std::fprintf(stderr, "vswitch-primary: --run-dir: cannot create '%s': %s\n",
                 config.group.run_dir.c_str(), std::strerror(errno));
    return 1;
  }
  std::vector<std::string> args = BuildEalArgs(config, config.primary.port);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    const int err = rte_errno;
    std::fprintf(stderr, "vswitch-primary: DPDK EAL init failed: %s (see the EAL messages above)\n",
                 rte_strerror(err));
    return 1;
  }
  InitLog(Role::kPrimary, config.eal.log_level);
  std::atomic<bool>& stop = InstallStopSignals();

  SharedObjects objects;
  std::string error;
  if (!CreateSharedObjects(config.primary, &objects, &error)) {
    VSW_LOG(ERR, "%s", error.c_str());
    rte_eal_cleanup();
    return 1;
  }
  PortInfo port;
  if (!SetupPort(config.primary, SwitchingWantsLoopback(config), WantedMtu(config), objects.pool, &port,
                 &error)) {
    VSW_LOG(ERR, "%s", error.c_str());
    FreeSharedObjects(&objects);
    rte_eal_cleanup();
    return 1;
  }
  const bool serve_vmdq = port.vmdq_pools > 0;
  if (serve_vmdq && !ServeVmdqMacRequests(port.port_id, &error)) {
    VSW_LOG(ERR, "%s", error.c_str());
    ClosePort(port.port_id);
    FreeSharedObjects(&objects);
    rte_eal_cleanup();
    return 1;
  }
  // Before the state is published: a port whose fds cannot be served has none.
  if (!port.rx_wake_fds.empty() && !ServePortRxFds(port.rx_wake_fds, &error)) {
    VSW_LOG(WARNING, "%s: vswitch-switching will look at the port on a timer", error.c_str());
    port.rx_wake_fds.clear();
  }
  const bool serve_rx_fds = !port.rx_wake_fds.empty();
  PrimaryDoorbells doorbells;
  if (!doorbells.Serve(&error)) {
    VSW_LOG(ERR, "%s", error.c_str());
    if (serve_rx_fds) StopServingPortRxFds();
    if (serve_vmdq) StopServingVmdqMacRequests();
    ClosePort(port.port_id);
    FreeSharedObjects(&objects);
    rte_eal_cleanup();
    return 1;
  }
  SharedState& state = *objects.state;
  PublishConfig(config, port, state);
  RoleSlot& self = state.roles[static_cast<size_t>(Role::kPrimary)];
  self.pid.store(getpid());
  self.start_ns.store(RealtimeNs());
  self.heartbeat_ns.store(MonotonicNs());
  self.instances.store(1);
  self.state.store(static_cast<uint32_t>(RoleState::kUp));
  state.primary_pid.store(getpid());
  state.primary_start_ns = RealtimeNs();
  state.ready.store(1);
  VSW_LOG(INFO, "vswitch-primary (pid %d) ready: file-prefix '%s', port '%s', %u devices, "
          "layout %u", getpid(), config.eal.file_prefix.c_str(), config.primary.port.c_str(),
          config.primary.max_devices, kLayoutVersion);

  const std::string status_path = config.group.run_dir + "/status.json";
  LinkWatch link(port.port_id);
  uint64_t next_status = 0, next_link = 0;
  bool announced = false;
  const uint64_t timeout_ns = uint64_t{config.primary.heartbeat_timeout_ms} * 1000000;
  while (!stop.load()) {
    const uint64_t now = MonotonicNs();
    self.heartbeat_ns.store(now);
    for (const LivenessEvent& e : CheckLiveness(state, now, timeout_ns, ProcessAlive)) {
      if (e.gone) {
        VSW_LOG(WARNING, "%s (pid %d) is down: the process is gone; the role is free for a "
                "new one (deploy/vswitch restart %s)", RoleBinary(e.role).data(), e.pid,
                RoleName(e.role).data());
      } else {
        VSW_LOG(WARNING, "%s (pid %d) is down: no heartbeat for %lu ms", RoleBinary(e.role).data(),
                e.pid, static_cast<unsigned long>(e.silent_ms));
      }
    }
    if (now >= next_status) {
      next_status = now + uint64_t{config.primary.status_interval_ms} * 1000000;
      if (!WriteFileAtomically(status_path, RenderStatusJson(state, {now, RealtimeNs()}))) {
        VSW_LOG(WARNING, "cannot write %s: %s", status_path.c_str(), std::strerror(errno));
      }
    }
    // Serving once the state is published and deploy/vswitch status can read it:
    // systemd starts the secondaries (After= this unit) from here on.
    if (!announced) {
      announced = true;
      NotifyReady("serving file-prefix '" + config.eal.file_prefix + "', port '" +
                  config.primary.port + "'");
    }
    if (now >= next_link) {
      next_link = now + 1000000000ull;
      link.Poll();
    }
    std::this_thread::sleep_for(kLoopPeriod);
  }

  VSW_LOG(INFO, "vswitch-primary stopping");
  NotifyStopping();
  self.state.store(static_cast<uint32_t>(RoleState::kDown));
  // Secondaries see ready == 0 and leave; free nothing they may still touch (DPDK zeroes
  // freed memory, and a secondary would read zeros as "slot free").
  state.ready.store(0);
  doorbells.RingAll();
  const uint64_t deadline = MonotonicNs() + 5'000'000'000ull;
  for (;;) {
    bool attached = false;
    for (Role r : kAllRoles) {
      const int32_t pid = state.roles[static_cast<size_t>(r)].pid.load();
      if (r != Role::kPrimary && pid != 0 && ProcessAlive(pid)) attached = true;
    }
    if (!attached) break;
    if (MonotonicNs() > deadline) {
      VSW_LOG(WARNING, "secondaries still attached after 5 s; stopping anyway");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  unlink(status_path.c_str());
  doorbells.StopServing();
  if (serve_rx_fds) StopServingPortRxFds();
  if (serve_vmdq) StopServingVmdqMacRequests();
  ClosePort(port.port_id);
  FreeSharedObjects(&objects);
  rte_eal_cleanup();
  return 0;
}

}  // namespace
}  // namespace vswitch

int main(int argc, char** argv) {
  const vswitch::ParseResult parsed = vswitch::ParseConfig(vswitch::Role::kPrimary, argc, argv);
  int exit_code = 0;
  if (!vswitch::HandleParseResult(parsed, &exit_code)) return exit_code;
  return vswitch::Run(parsed.config);
}
