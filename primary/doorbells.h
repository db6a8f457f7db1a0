// The primary's side of the doorbells (doorbell.h): it makes one eventfd per role at
// start, hands copies to any secondary that asks (DPDK IPC, kDoorbellAction), and keeps
// them for the group's life, so that a restarted secondary sleeps on, or rings, the same
// eventfd as the instance before it.
#pragma once

#include <array>
#include <string>

#include "role.h"

namespace vswitch {

class PrimaryDoorbells {
 public:
  PrimaryDoorbells() = default;
  ~PrimaryDoorbells();
  PrimaryDoorbells(const PrimaryDoorbells&) = delete;
  PrimaryDoorbells& operator=(const PrimaryDoorbells&) = delete;

  // Makes the eventfds and starts answering requests. False with an operator-facing *error.
  [[nodiscard]] bool Serve(std::string* error);
  // Stops answering (before rte_eal_cleanup); the eventfds close with the object.
  void StopServing();
  // Wakes every sleeping role (the group is stopping: let them see it now).
  void RingAll() const;

 private:
  std::array<int, kRoleCount> fds_{-1, -1, -1, -1};
  bool serving_ = false;
};

}  // namespace vswitch
