// vswitch-switching: MAC learning and MAC/VLAN routing between the devices' rings and the
// port (switch_engine.h), with DPDK vhost-switch's options (--vm2vm, --rx-retry*,
// --stats).
#include "clock.h"
#include "log.h"
#include "poll_pacer.h"
#include "secondary_main.h"
#include "switch_engine.h"

namespace vswitch {
namespace {

int RunSwitching(SecondaryRuntime& rt, const Config& config, std::atomic<bool>& stop) {
  SwitchEngine engine(rt.state(), config.switching);
  std::string error;
  if (!engine.Init(&error)) {
    VSW_LOG(ERR, "%s", error.c_str());
    return 1;
  }
  // Woken by vswitch-vhost when it fills a from_vm ring; rings vswitch-vhost when it
  // fills a to_vm ring.
  PollPacer pacer(rt.state(), Role::kSwitching, Role::kVhost);
  if (!pacer.Init(&error)) {
    VSW_LOG(ERR, "%s", error.c_str());
    return 1;
  }
  engine.SetPacer(&pacer);
  // ... and by a frame reaching the port, where the port can say so.
  engine.WakeOnPort(pacer);
  rt.MarkUp();
  while (!stop.load(std::memory_order_relaxed) && rt.Tick()) {
    const uint32_t work = engine.Poll();
    pacer.AfterRound(work, engine.handed_off(), engine);
    engine.MaybePrintStats(MonotonicNs());
  }
  engine.Shutdown();
  engine.SetPacer(nullptr);
  return rt.exit_reason().empty() || rt.orderly_exit() ? 0 : 1;
}

}  // namespace
}  // namespace vswitch

int main(int argc, char** argv) {
  return vswitch::SecondaryMain(vswitch::Role::kSwitching, argc, argv, vswitch::RunSwitching);
}
