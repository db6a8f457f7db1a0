// How the device tells the driver that used buffers are ready (the vring "call"): an
// eventfd in production, a counter in tests. The device does not know which.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "unique_fd.h"

namespace vswitch::vhost {

class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual void Notify() = 0;
};

// SET_VRING_CALL's eventfd: writing 8 bytes signals the front-end (vhost-user.rst
// "Introduction"). A full counter (EAGAIN) already means "signalled".
class EventFdNotifier final : public Notifier {
 public:
  explicit EventFdNotifier(UniqueFd fd) : fd_(std::move(fd)) {}
  void Notify() override {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(fd_.get(), &one, sizeof(one));
  }
  [[nodiscard]] int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
};

class CountingNotifier final : public Notifier {
 public:
  void Notify() override { count_.fetch_add(1, std::memory_order_relaxed); }
  [[nodiscard]] uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> count_{0};
};

}  // namespace vswitch::vhost
