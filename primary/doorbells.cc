#include "doorbells.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "doorbell.h"
#include "log.h"

namespace vswitch {
namespace {

// The IPC callback takes no user argument: the fds of the one instance that serves.
std::array<int, kRoleCount> g_fds{-1, -1, -1, -1};

int OnDoorbellRequest(const rte_mp_msg* /*msg*/, const void* peer) {  // NOLINT
  rte_mp_msg reply{};
  std::snprintf(reply.name, sizeof(reply.name), "%s", kDoorbellAction);
  // SCM_RIGHTS duplicates the fds into the asking process; ours stay open.
  for (size_t i = 0; i < kRoleCount; ++i) reply.fds[i] = g_fds[i];
  reply.num_fds = static_cast<int>(kRoleCount);
  return rte_mp_reply(&reply, static_cast<const char*>(peer));
}

}  // namespace

void PrimaryDoorbells::StopServing() {
  if (!serving_) return;
  rte_mp_action_unregister(kDoorbellAction);
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
  g_fds = fds_;
  if (rte_mp_action_register(kDoorbellAction, OnDoorbellRequest) != 0) {
    *error = "cannot register the doorbell request handler: " + std::string(rte_strerror(rte_errno));
    return false;
  }
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
