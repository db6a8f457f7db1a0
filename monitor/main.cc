// vswitch-monitor: the group's Prometheus endpoint. A DPDK secondary that serves
// GET /metrics (prometheus-cpp's pull Exposer on [monitor] metrics-listen) and otherwise
// only heartbeats. Read-only: each scrape reads the shared counters and the primary's DPDK
// objects; it never writes them and never takes a lock a datapath process takes.
#include <prometheus/exposer.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dpdk_objects.h"
#include "log.h"
#include "secondary_main.h"
#include "shared_state_collector.h"

namespace vswitch {
namespace {

// The HTTP server's limits. Scrapes are small and rare; these keep a misbehaving client
// (idle connections, endless headers) from holding the endpoint for long.
std::vector<std::string> ServerOptions(const std::string& listen) {
  return {
      "listening_ports", listen,
      // Each open connection holds a thread while it sends its request: enough threads
      // for Prometheus plus a few stragglers.
      "num_threads", "8",
      // A client that does not finish its request in this time is disconnected.
      "request_timeout_ms", "3000",
      "enable_keep_alive", "no",
  };
}

int Serve(SecondaryRuntime& rt, const Config& config, std::atomic<bool>& stop) {
  const std::string& listen = config.monitor.metrics_listen;
  auto collector = std::make_shared<SharedStateCollector>(rt.state(), DpdkObjects::Lookup(rt.state()));
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(ServerOptions(listen));
  } catch (const std::exception& e) {
    VSW_LOG(ERR, "cannot serve metrics on %s: %s (is another process listening there? set "
            "[monitor] metrics-listen)", listen.c_str(), e.what());
    return 1;
  }
  exposer->RegisterCollectable(collector);
  VSW_LOG(INFO, "serving Prometheus metrics on http://%s/metrics", listen.c_str());
  rt.MarkUp();
  while (!stop.load() && rt.Tick()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // Stop serving (and wait for in-flight scrapes) before the runtime detaches from the
  // memory the collector reads.
  exposer.reset();
  return rt.exit_reason().empty() ? 0 : 1;
}

}  // namespace
}  // namespace vswitch

int main(int argc, char** argv) {
  return vswitch::SecondaryMain(vswitch::Role::kMonitor, argc, argv, vswitch::Serve);
}
