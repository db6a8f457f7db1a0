// Doorbells: how one polling role wakes another that sleeps, across processes.
//
// The primary makes one eventfd per role and hands copies to the secondaries (DPDK's IPC
// carries fds), so a doorbell outlives any one secondary: a restarted role rings and
// sleeps on the same eventfd as the instance before it. The owner of a doorbell sleeps in
// epoll on it (vswitch-vhost also on its guests' kick eventfds); a producer rings it
// after handing the owner work, but only when the owner sleeps: while the owner polls, a
// round's ring costs a full fence, a load and a branch.
//
// No lost wake-up. Owner, going to sleep:   (1) asleep = n   (2) fence  (3) check inputs
// Producer, after putting work in a ring:   (a) ring tail    (b) fence  (c) load asleep
// With a full fence between each side's store and load, (3) and (c) cannot both miss the
// other's store: either the owner sees the work at (3) and does not sleep, or the
// producer sees asleep = n at (c) and writes the eventfd, whose count stays readable
// until the owner reads it, so an epoll_wait that starts after the write returns at
// once. A producer rings once per sleep number; the owner clears `asleep` when it wakes.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "fd_handover.h"
#include "role.h"
#include "state_layout.h"

namespace vswitch {

// DPDK IPC action answered by the primary with the doorbells' eventfds, one per role in
// Role order (<= RTE_MP_MAX_NAME_LEN - 1 characters).
inline constexpr const char* kDoorbellAction = "vsw_doorbells";
static_assert(kRoleCount <= kMaxHandedFds, "one IPC reply carries every doorbell");

// A full fence: orders this thread's earlier stores before its later loads (x86 reorders
// exactly that pair). A locked add on the stack costs less than mfence.
inline void FullFence() {
#if defined(__x86_64__)
  asm volatile("lock addl $0, -128(%%rsp)" ::: "memory", "cc");
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// The owner's side of its doorbell: the steps (1)-(2) above, and clearing them.
class DoorbellOwner {
 public:
  explicit DoorbellOwner(DoorbellSlot& slot) : slot_(slot) {}

  // About to sleep: publishes a new sleep number and fences. The caller then checks every
  // input once more and sleeps only if all are empty.
  void Announce() {
    // A new number for every attempt, continued across restarts of the owner (the slot
    // outlives it), so that no producer takes it for a sleep it already rang for.
    uint32_t number = slot_.last_sleep.load(std::memory_order_relaxed) + 1;
    if (number == 0) number = 1;  // 0 means awake
    slot_.last_sleep.store(number, std::memory_order_relaxed);
    slot_.asleep.store(number, std::memory_order_relaxed);
    FullFence();
  }
  // Polling again, whether it slept or found work at the last check.
  void Awake() { slot_.asleep.store(0, std::memory_order_relaxed); }

 private:
  DoorbellSlot& slot_;
};

// The producer's side of one doorbell.
class DoorbellRinger {
 public:
  DoorbellRinger() = default;
  DoorbellRinger(DoorbellSlot* slot, int fd) : slot_(slot), fd_(fd) {}

  [[nodiscard]] bool valid() const { return slot_ != nullptr && fd_ >= 0; }

  // Call after the stores that handed the owner its work (once per round is enough).
  // Returns true when it rang.
  bool Ring() {
    if (!valid()) return false;
    FullFence();
    const uint32_t sleep = slot_->asleep.load(std::memory_order_relaxed);
    if (sleep == 0 || sleep == rung_) return false;
    rung_ = sleep;
    const uint64_t one = 1;
    // EAGAIN only when the count is at its maximum: the owner is woken anyway.
    [[maybe_unused]] const ssize_t n = write(fd_, &one, sizeof(one));
    return true;
  }

 private:
  DoorbellSlot* slot_ = nullptr;
  int fd_ = -1;
  uint32_t rung_ = 0;  // the sleep this producer last rang for
};

}  // namespace vswitch
