// vswitch-vhost: the group's vhost-user backend. Serves (or connects to) one vhost-user
// socket per device with our own protocol library (lib/), and moves packets between the
// guests' virtqueues and the devices' rings in shared memory.
#include <grp.h>
#include <pwd.h>
#include <rte_mempool.h>

#include <cstdio>

#include "driver.h"
#include "feature_bits.h"
#include "log.h"
#include "mapping_publisher.h"
#include "names.h"
#include "packed_ring_records.h"
#include "poll_pacer.h"
#include "vhost_log.h"
#include "secondary_main.h"
#include "vhost_forwarder.h"

namespace vswitch {
namespace {

// Features as DPDK's vhost-switch sets them: mergeable RX only with --mergeable 1, TSO and
// checksum offload only when asked for.
bool ConfigureFeatures(vhost::Driver& driver, const VhostOptions& o) {
  uint64_t off = 0;
  if (o.mergeable == 0) off |= vhost::kFeatureMergeable;
  if (o.tso == 0) off |= vhost::kFeatureTso;
  if (o.tx_csum == 0) off |= vhost::kFeatureChecksum;
  if (o.packed == 0) off |= vhost::kFeaturePacked;
  if (o.packed == 1 && driver.FeatureEnable(vhost::kFeaturePacked) != 0) return false;
  return off == 0 || driver.FeatureDisable(off) == 0;
}

bool SocketOwnership(const VhostOptions& o, vhost::SocketOptions* out, std::string* error) {
  out->mode = static_cast<mode_t>(o.socket_mode);
  if (!o.socket_owner.empty()) {
    const passwd* pw = getpwnam(o.socket_owner.c_str());
    if (pw == nullptr) {
      *error = "--socket-owner: no user '" + o.socket_owner + "'";
      return false;
    }
    out->owner = pw->pw_uid;
  }
  if (!o.socket_group.empty()) {
    const group* gr = getgrnam(o.socket_group.c_str());
    if (gr == nullptr) {
      *error = "--socket-group: no group '" + o.socket_group + "'";
      return false;
    }
    out->group = gr->gr_gid;
  }
  return true;
}

int RunVhost(SecondaryRuntime& rt, const Config& config, std::atomic<bool>& stop) {
  SharedState& state = rt.state();
  const VhostOptions& o = config.vhost;
  // The library's lines (VHOST_CONFIG, VHOST_DATA) under the role's logtype: one log,
  // one level ([eal] log-level).
  vhost::SetLogType(LogType());
  if (o.socket_files.size() > state.config.max_devices) {
    VSW_LOG(ERR, "--socket-file: %zu sockets but the primary has rings for %u devices "
            "([primary] max-devices)", o.socket_files.size(), state.config.max_devices);
    return 2;
  }
  rte_mempool* pool = rte_mempool_lookup(kMbufPool);
  if (pool == nullptr) {
    VSW_LOG(ERR, "the primary's mbuf pool %s is missing", kMbufPool);
    return 1;
  }
  // Declared before the driver: the driver's zero-copy slots hand their mappings back to
  // it when they go. Always made, so a table an earlier instance published is cleared.
  MappingPublisher publisher(state);
  // Before the driver, which writes into it until it is gone.
  PackedRingRecordSlots packed_records;
  {
    std::string records_error;
    if (!packed_records.Init(o.socket_files, &records_error)) {
      VSW_LOG(ERR, "%s", records_error.c_str());
      return 1;
    }
  }
  vhost::Driver driver;
  if (o.dequeue_zero_copy) driver.SetMappingSharer(&publisher);
  // A packed ring resumes where the previous instance left it when the front-end cannot
  // say where that was (QEMU after a back-end that died or left: docs/architecture.md
  // "Resuming a packed ring").
  driver.SetPackedRingRecords(&packed_records);
  VhostForwarder forwarder(driver, state, pool, o.socket_files,
                           o.dequeue_zero_copy ? &publisher : nullptr);
  std::string error;
  // Woken by vswitch-switching when it fills a to_vm ring and by the guests' kicks; rings
  // vswitch-switching when it fills a from_vm ring.
  PollPacer pacer(state, Role::kVhost, Role::kSwitching);
  if (!pacer.Init(&error) || !pacer.AddWaitFd(driver.kick_epoll_fd(), &error)) {
    VSW_LOG(ERR, "%s", error.c_str());
    return 1;
  }
  forwarder.SetWakeFds(pacer.own_doorbell_fd(), pacer.peer_doorbell_fd());
  vhost::SocketOptions socket_options;
  if (!forwarder.LookupRings(o.client, &error) || !SocketOwnership(o, &socket_options, &error)) {
    VSW_LOG(ERR, "%s", error.c_str());
    return 1;
  }
  if (!ConfigureFeatures(driver, o)) {
    VSW_LOG(ERR, "the vhost library refused the feature set");
    return 1;
  }
  driver.CallbackRegister({
      [&](int vid) { return forwarder.OnNewDevice(vid); },
      [&](int vid) { forwarder.OnDestroyDevice(vid); },
      [&](int vid, uint16_t q, int enable) { return forwarder.OnVringStateChanged(vid, q, enable); },
      [&](const std::string& path) { forwarder.OnConnectionRefused(path); },
      [&](const std::string& path) { forwarder.OnMemoryFault(path); },
  });
  uint64_t flags = 0;
  if (o.client) flags |= vhost::kRegisterClient;
  // Guest TX packets of 512 bytes or more go to vswitch-switching by reference once it
  // has mapped the guest's memory (docs/architecture.md "Dequeue zero-copy across
  // processes"); until then, and below the threshold, they are copied (and counted).
  if (o.dequeue_zero_copy) {
    flags |= vhost::kRegisterDequeueZeroCopy;
    VSW_LOG(INFO, "--dequeue-zero-copy: guest memory is published for vswitch-switching to map "
                  "at the same addresses");
  }
  for (const std::string& path : o.socket_files) {
    if (driver.Register(path, flags, socket_options, &error) != 0) {
      VSW_LOG(ERR, "--socket-file %s: %s", path.c_str(), error.c_str());
      return 1;
    }
    VSW_LOG(INFO, "vhost-user socket %s registered (%s mode)", path.c_str(), o.client ? "client" : "server");
  }
  if (driver.SessionStart() != 0) {
    VSW_LOG(ERR, "cannot start the vhost-user session thread");
    return 1;
  }
  VSW_LOG(INFO, "features offered: 0x%lx (mergeable %u, packed %u, tso %u, tx-csum %u)",
          static_cast<unsigned long>(driver.GetFeatures()), o.mergeable, o.packed, o.tso, o.tx_csum);
  rt.MarkUp();
  while (!stop.load() && rt.Tick()) {
    const uint32_t work = forwarder.Poll();
    pacer.AfterRound(work, forwarder.handed_off(), forwarder);
  }
  driver.SessionStop();
  forwarder.SetWakeFds(-1, -1);
  // Frames held here first: unregistering gives each guest its zero-copy chains back
  // (Device::Leave) and would otherwise wait for these.
  forwarder.FreeHeldFrames();
  for (const std::string& path : o.socket_files) (void)driver.Unregister(path);
  forwarder.Shutdown();
  return rt.exit_reason().empty() || rt.orderly_exit() ? 0 : 1;
}

}  // namespace
}  // namespace vswitch

int main(int argc, char** argv) {
  return vswitch::SecondaryMain(vswitch::Role::kVhost, argc, argv, vswitch::RunVhost);
}
