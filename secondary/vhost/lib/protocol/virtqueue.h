// One vring of a device: what the front-end configured (SET_VRING_NUM/ADDR/BASE/KICK/
// CALL/ENABLE), the ring built from it (split or packed), the call notifier and the counters.
//
// Locking rule. `mutex` guards everything below it. The datapath takes it with
// try_lock for one burst and returns 0 packets when it is busy; the control path (the
// session thread) takes it with lock before it changes the ring, the notifier, the
// features or the memory the ring points into, so a burst never sees a half-made change
// and memory is never unmapped under a burst. `active` is only true while the device is
// running and the ring is started, enabled and translated. `num` and `enabled` are
// atomic besides: the Driver's getters (GetQueueNum, IsQueueEnabled) read them without
// any lock, so a datapath thread can ask for them at any time (see driver.h).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "message.h"
#include "net_datapath.h"
#include "notifier.h"
#include "queue_stats.h"
#include "queue_ring.h"
#include "unique_fd.h"
#include "zero_copy.h"

namespace vswitch::vhost {

struct Virtqueue {
  std::mutex mutex;

  // Front-end configuration.
  std::atomic<uint32_t> num{0};  // SET_VRING_NUM (0: not set)
  VringAddr addr{};              // SET_VRING_ADDR
  bool addr_set = false;
  uint32_t base = 0;             // SET_VRING_BASE (packed: wrap counters in bits 15, 31)
  UniqueFd kick_fd;              // SET_VRING_KICK (drained by the session thread)
  bool kick_set = false;         // kick fd given, or "no fd: poll"
  std::unique_ptr<Notifier> call;  // SET_VRING_CALL (nullptr: the driver polls)
  bool call_set = false;
  std::atomic<bool> enabled{false};  // SET_VRING_ENABLE (or started, without PROTOCOL_FEATURES)
  bool guest_notify = false;     // EnableGuestNotification

  // Datapath state.
  bool active = false;
  QueueRing ring;
  NetQueueConfig net;
  uint64_t features = 0;         // negotiated, for header offload translation
  DatapathScratch scratch;
  QueueStats stats;
  ZeroCopyQueue zc;              // dequeue zero-copy state (TX queues of zero-copy sockets)

  // Before the ring stops: writes the used elements of zero-copy buffers already freed
  // and orphans the rest (zero_copy.h). Caller holds `mutex`.
  void StopZeroCopy() {
    if (!zc.enabled()) return;
    zc.Stop([this](uint16_t head) {
      if (ring.valid()) ring.PutUsed(head, 0);
    });
    if (ring.valid()) (void)ring.PublishUsed();
  }

  // Forgets the configuration (the counters stay). Caller holds `mutex`.
  void ResetConfig() {
    num = 0;
    addr = VringAddr{};
    addr_set = false;
    base = 0;
    kick_fd.Reset();
    kick_set = false;
    call.reset();
    call_set = false;
    enabled = false;
    active = false;
    StopZeroCopy();
    ring.Clear();
  }
};

}  // namespace vswitch::vhost
