#include "poll_pacer.h"

#include <rte_cycles.h>
#include <sched.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "clock.h"
#include "fd_handover.h"
#include "log.h"

namespace vswitch {
namespace {

constexpr uint64_t kPlacementPeriodNs = 100'000'000;

// The CPUs this process may run on, as a mask of the first 64.
uint64_t OwnCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  uint64_t mask = 0;
  for (int i = 0; i < 64; ++i) {
    if (CPU_ISSET(i, &set)) mask |= 1ull << i;
  }
  return mask;
}

}  // namespace

PollPacer::PollPacer(SharedState& state, Role self, Role peer)
    : state_(state), self_(self), peer_(peer), slot_(state.doorbells[static_cast<size_t>(self)]) {}

PollPacer::~PollPacer() {
  slot_.asleep.store(0);
  if (epoll_fd_ >= 0) close(epoll_fd_);
  for (int fd : fds_) {
    if (fd >= 0) close(fd);
  }
}

bool PollPacer::Init(std::string* error) {
  std::vector<int> fds;
  if (!RequestFds(kDoorbellAction, kRoleCount, &fds, error)) {
    *error = "no doorbells from the primary: " + *error +
             " (is it an older vswitch-primary? restart the group: deploy/vswitch down; "
             "deploy/vswitch up)";
    return false;
  }
  std::copy(fds.begin(), fds.end(), fds_.begin());
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0 || !AddWaitFd(own_doorbell_fd(), error)) {
    if (error->empty()) *error = "epoll_create1: " + std::string(std::strerror(errno));
    return false;
  }
  const auto peer = static_cast<size_t>(peer_);
  peer_ringer_ = DoorbellRinger(&state_.doorbells[peer], fds_[peer]);
  own_cpus_ = OwnCpus();
  slot_.cpus.store(own_cpus_);
  slot_.asleep.store(0);
  RefreshPlacement(MonotonicNs());
  return true;
}

bool PollPacer::AddWaitFd(int fd, std::string* error) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    *error = "epoll_ctl: " + std::string(std::strerror(errno));
    return false;
  }
  return true;
}

void PollPacer::RefreshPlacement(uint64_t now_ns) {
  next_placement_ns_ = now_ns + kPlacementPeriodNs;
  const uint64_t peer_cpus = state_.doorbells[static_cast<size_t>(peer_)].cpus.load(std::memory_order_relaxed);
  const int32_t peer_pid = state_.roles[static_cast<size_t>(peer_)].pid.load(std::memory_order_relaxed);
  // One CPU for both: the case where spinning starves the other. Wider masks leave the
  // kernel room to run them apart.
  const bool shares = peer_pid != 0 && peer_cpus == own_cpus_ && __builtin_popcountll(own_cpus_) == 1;
  if (shares != shares_cpu_) {
    VSW_LOG(INFO, "%s %s a CPU with %s: %s", RoleBinary(self_).data(), shares ? "shares" : "no longer shares",
            RoleBinary(peer_).data(), shares ? "yielding to it after each hand-off" : "polling on");
  }
  shares_cpu_ = shares;
}

void PollPacer::WaitForPeer(unsigned us) {
  (void)peer_ringer_.Ring();
  if (shares_cpu_) {
    Bump(slot_.yields);
    sched_yield();
  } else {
    rte_delay_us_block(us);
  }
}

void PollPacer::AfterRound(uint32_t work, bool handed_off, SleepHooks& hooks) {
  if (handed_off) (void)peer_ringer_.Ring();
  // The clock is read on idle rounds only (and every 4096th busy one, for placement).
  uint64_t now = 0;
  if (work == 0 || (++rounds_ & 4095) == 0) {
    now = MonotonicNs();
    if (now >= next_placement_ns_) RefreshPlacement(now);
  }
  const bool peer_awake =
      work == 0 && shares_cpu_ &&
      state_.doorbells[static_cast<size_t>(peer_)].asleep.load(std::memory_order_relaxed) == 0;
  switch (policy_.Next(work, handed_off, shares_cpu_, peer_awake, now)) {
    case PaceAction::kPoll:
      return;
    case PaceAction::kYield:
      Bump(slot_.yields);
      sched_yield();
      return;
    case PaceAction::kSleep:
      Sleep(hooks);
      policy_.Woke();
      return;
  }
}

void PollPacer::Sleep(SleepHooks& hooks) {
  hooks.Arm();
  DoorbellOwner owner(slot_);
  owner.Announce();
  if (hooks.HasWork()) {
    owner.Awake();
    hooks.Disarm();
    return;
  }
  Bump(slot_.sleeps);
  const uint64_t us = hooks.MaxSleepUs();
  const timespec timeout{static_cast<time_t>(us / 1'000'000), static_cast<long>(us % 1'000'000) * 1000};
  epoll_event events[8];
  const int n = epoll_pwait2(epoll_fd_, events, 8, &timeout, nullptr);
  owner.Awake();
  if (n > 0) {
    Bump(slot_.woken);
    const int own = own_doorbell_fd();
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd != own) continue;
      uint64_t value;
      [[maybe_unused]] const ssize_t r = read(own, &value, sizeof(value));  // non-blocking
    }
  } else if (n == 0) {
    Bump(slot_.timed_out);
  }
  hooks.Disarm();
}

}  // namespace vswitch
