// Which guest RX queues a device's frames are spread over: the queue pairs the front-end
// configured AND whose RX vring it enabled (vhost-user.rst "Ring states":
// SET_VRING_ENABLE; a guest that runs `ethtool -L eth0 combined 1` after negotiating 4
// pairs disables the RX vrings of pairs 1-3). Spreading over configured pairs instead
// offered 3 bursts in 4 to rings that take nothing. Pure logic, no I/O: the forwarder
// feeds it what the vhost library says.
#pragma once

#include <array>
#include <cstdint>

namespace vswitch {

template <uint16_t kMaxPairs>
class RxQueueSpread {
 public:
  // `pairs` configured (capped at kMaxPairs); `rx_enabled(q)`: is pair q's RX vring enabled.
  template <typename RxEnabled>
  void Refresh(uint16_t pairs, RxEnabled rx_enabled) {
    count_ = 0;
    for (uint16_t q = 0; q < pairs && q < kMaxPairs; ++q) {
      if (rx_enabled(q)) pairs_[count_++] = q;
    }
    if (next_ >= count_) next_ = 0;
  }
  // The pair to offer the next burst to, round robin; false while none is enabled (the
  // frames wait, as they do for a guest with no room).
  [[nodiscard]] bool Next(uint16_t* pair) {
    if (count_ == 0) return false;
    *pair = pairs_[next_];
    next_ = static_cast<uint16_t>(next_ + 1 == count_ ? 0 : next_ + 1);
    return true;
  }
  [[nodiscard]] uint16_t count() const { return count_; }
  void Clear() {
    count_ = 0;
    next_ = 0;
  }

 private:
  std::array<uint16_t, kMaxPairs> pairs_{};
  uint16_t count_ = 0;
  uint16_t next_ = 0;
};

}  // namespace vswitch
