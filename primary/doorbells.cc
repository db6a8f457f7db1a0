#include "doorbells.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "doorbell.h"
#include "fd_handover.h"

namespace vswitch {

void PrimaryDoorbells::StopServing() {
  if (!serving_) return;
  StopHandingOverFds(kDoorbellAction);
  serving_ = false;
}

PrimaryDoorbells::~PrimaryDoorbells() {
  for (int& fd : fds_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

bool PrimaryDoorbells::Serve(std::string* error) {
  for (int& fd : fds_) {
    // Non-blocking: a reader that lost a race with another wake-up must not block.
    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
      *error = "cannot create the doorbell eventfds: " + std::string(std::strerror(errno));
      return false;
    }
  }
  if (!HandOverFds(kDoorbellAction, std::vector<int>(fds_.begin(), fds_.end()), error)) return false;
  serving_ = true;
  return true;
}

void PrimaryDoorbells::RingAll() const {
  const uint64_t one = 1;
  for (int fd : fds_) {
    if (fd >= 0) {
      [[maybe_unused]] const ssize_t n = write(fd, &one, sizeof(one));
    }
  }
}

}  // namespace vswitch
