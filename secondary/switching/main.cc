// vswitch-switching: MAC learning and routing between the devices' rings and the port.
// (Foundation: attaches, finds the shared objects and heartbeats; routing arrives with
// the switching issue.)
#include <rte_ethdev.h>
#include <rte_ring.h>

#include "idle_backoff.h"
#include "log.h"
#include "mac_table.h"
#include "names.h"
#include "secondary_main.h"

int main(int argc, char** argv) {
  using namespace vswitch;
  return SecondaryMain(Role::kSwitching, argc, argv,
                       [](SecondaryRuntime& rt, const Config&, std::atomic<bool>& stop) {
    const SharedState& s = rt.state();
    if (MacTable::Find(kMacTable) == nullptr || rte_ring_lookup(ToVmRingName(0).c_str()) == nullptr ||
        !rte_eth_dev_is_valid_port(s.config.port_id)) {
      VSW_LOG(ERR, "the primary's MAC table, rings or port are missing");
      return 1;
    }
    rt.MarkUp();
    IdleBackoff idle;
    while (!stop.load() && rt.Tick()) idle.Round(0);
    return rt.exit_reason().empty() ? 0 : 1;
  });
}
