// The poll loop's pacing for vswitch-vhost and vswitch-switching: rings the other role's
// doorbell when a round handed it work, gives the CPU up when the two share it, and sleeps
// in epoll on this role's doorbell (and whatever else the role adds, e.g. the guests'
// kicks) when idle. The protocol and its ordering argument are in doorbell.h; the
// decisions in pace_policy.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "doorbell.h"
#include "pace_policy.h"
#include "role.h"
#include "state_layout.h"

namespace vswitch {

// The longest sleep of a role whose every source of work wakes it: its heartbeat
// (SecondaryRuntime::Tick acts every 100 ms) and periodic work still need it.
inline constexpr uint64_t kHeartbeatBoundSleepUs = 50'000;

// What the role does around a sleep.
class SleepHooks {
 public:
  virtual ~SleepHooks() = default;
  // Asks every source of work that can signal (a guest's kick) to do so from now on.
  virtual void Arm() = 0;
  // Called after `asleep` is published and fenced: true when work arrived meanwhile (a ring
  // or a virtqueue that is not empty), and the role must not sleep.
  [[nodiscard]] virtual bool HasWork() = 0;
  // The longest the sleep may last, in microseconds (work that no event announces: a port
  // without interrupts, buffers the other process frees).
  [[nodiscard]] virtual uint64_t MaxSleepUs() = 0;
  // After the sleep (woken or not): drain the role's event sources, stop their signals.
  virtual void Disarm() = 0;
};

class PollPacer {
 public:
  PollPacer(SharedState& state, Role self, Role peer);
  ~PollPacer();
  PollPacer(const PollPacer&) = delete;
  PollPacer& operator=(const PollPacer&) = delete;

  // Fetches the doorbells from the primary and sets up the epoll. False with an
  // operator-facing *error.
  [[nodiscard]] bool Init(std::string* error);
  // Adds an fd whose readability ends a sleep (the role drains it in Disarm).
  [[nodiscard]] bool AddWaitFd(int fd, std::string* error);
  // This role's doorbell: another thread of the process rings it to wake the poller (a
  // new device, for example).
  [[nodiscard]] int own_doorbell_fd() const { return fds_[static_cast<size_t>(self_)]; }
  // The other role's doorbell, for control-path wake-ups that do not wait for it to sleep.
  [[nodiscard]] int peer_doorbell_fd() const { return fds_[static_cast<size_t>(peer_)]; }

  // Waits about `us` for the other role to take work from a full ring: rings it, and
  // gives it the CPU when the two share one (a busy wait there would only delay it).
  void WaitForPeer(unsigned us);

  // Call after every round.
  void AfterRound(uint32_t work, bool handed_off, SleepHooks& hooks);

 private:
  void Sleep(SleepHooks& hooks);
  void RefreshPlacement(uint64_t now_ns);

  SharedState& state_;
  Role self_;
  Role peer_;
  DoorbellSlot& slot_;
  std::array<int, kRoleCount> fds_{-1, -1, -1, -1};
  int epoll_fd_ = -1;
  DoorbellRinger peer_ringer_;
  PacePolicy policy_;
  uint64_t own_cpus_ = 0;
  bool shares_cpu_ = false;
  uint64_t next_placement_ns_ = 0;
  uint32_t rounds_ = 0;
};

}  // namespace vswitch
