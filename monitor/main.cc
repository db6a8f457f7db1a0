// vswitch-monitor: the group's Prometheus endpoint. (Foundation: attaches and heartbeats;
// the metrics arrive with the monitor issue.)
#include "idle_backoff.h"
#include "secondary_main.h"

int main(int argc, char** argv) {
  using namespace vswitch;
  return SecondaryMain(Role::kMonitor, argc, argv,
                       [](SecondaryRuntime& rt, const Config&, std::atomic<bool>& stop) {
    rt.MarkUp();
    IdleBackoff idle;
    while (!stop.load() && rt.Tick()) idle.Round(0);
    return rt.exit_reason().empty() ? 0 : 1;
  });
}
