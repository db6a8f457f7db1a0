// vswitch-vhost: the vhost-user backend of the group. (Foundation: attaches, publishes
// its configured sockets in the device table and heartbeats; the protocol and datapath
// arrive with the vhost issues.)
#include <cstdio>

#include "idle_backoff.h"
#include "log.h"
#include "secondary_main.h"

int main(int argc, char** argv) {
  using namespace vswitch;
  return SecondaryMain(Role::kVhost, argc, argv,
                       [](SecondaryRuntime& rt, const Config& config, std::atomic<bool>& stop) {
    SharedState& s = rt.state();
    const auto& sockets = config.vhost.socket_files;
    if (sockets.size() > s.config.max_devices) {
      VSW_LOG(ERR, "--socket-file: %zu sockets but the primary has rings for %u devices "
              "([primary] max-devices)", sockets.size(), s.config.max_devices);
      return 2;
    }
    for (size_t i = 0; i < sockets.size(); ++i) {
      DeviceInfo& d = s.devices[i];
      std::snprintf(d.socket_path, sizeof(d.socket_path), "%s", sockets[i].c_str());
      d.client_mode.store(config.vhost.client ? 1 : 0);
      d.vid.store(-1);
      d.state.store(static_cast<uint32_t>(DeviceState::kWaiting));
    }
    rt.MarkUp();
    IdleBackoff idle;
    while (!stop.load() && rt.Tick()) idle.Round(0);
    for (size_t i = 0; i < sockets.size(); ++i) {
      s.devices[i].state.store(static_cast<uint32_t>(DeviceState::kUnused));
    }
    return rt.exit_reason().empty() ? 0 : 1;
  });
}
