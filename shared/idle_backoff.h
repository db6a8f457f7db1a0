// Sleep when idle. The machines have 2 cores; two busy pollers on one core collapse to
// kilo-packets per second, so a poller with no work backs off: it spins briefly (keeping
// latency low under load), then sleeps, doubling the sleep up to a cap.
#pragma once

#include <time.h>

#include <algorithm>
#include <cstdint>

namespace vswitch {

class IdleBackoff {
 public:
  static constexpr uint32_t kSpinRounds = 256;
  static constexpr long kFirstSleepNs = 20'000;
  static constexpr long kMaxSleepNs = 1'000'000;

  // Call once per poll round with the packets (or events) handled in it.
  void Round(uint32_t work) {
    if (work != 0) {
      idle_rounds_ = 0;
      sleep_ns_ = kFirstSleepNs;
      return;
    }
    if (++idle_rounds_ < kSpinRounds) return;
    timespec ts{0, sleep_ns_};
    nanosleep(&ts, nullptr);
    sleep_ns_ = std::min(sleep_ns_ * 2, kMaxSleepNs);
  }

 private:
  uint32_t idle_rounds_ = 0;
  long sleep_ns_ = kFirstSleepNs;
};

}  // namespace vswitch
