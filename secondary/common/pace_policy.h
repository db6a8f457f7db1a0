// What a polling role does after each round: poll again, give its CPU to the role that
// shares it, or sleep until a doorbell or a kick wakes it. Pure logic (the clock is an
// argument), so the tests drive it round by round.
//
// Two pollers on one CPU must not spin while the other holds the packets: the one that
// just handed the other work gives the CPU up at once (sched_yield), an idle one yields
// for a few rounds while the other is awake (it may be mid-burst) and then sleeps. A
// poller with a CPU of its own, or whose CPU-mate sleeps, spins a while after its last
// work, where a wake-up would cost more than the spin, then sleeps. Rounds with work never
// sleep and, on a CPU of its own, never yield: busy polling under load stays what it was.
#pragma once

#include <cstdint>

namespace vswitch {

enum class PaceAction : uint8_t { kPoll, kYield, kSleep };

class PacePolicy {
 public:
  // Idle rounds a poller sharing its CPU yields before it sleeps.
  static constexpr uint32_t kSharedIdleRounds = 4;
  // How long a poller with its own CPU spins after its last work before it sleeps. A
  // wake-up costs the producer an eventfd write (~1-2 us) and the sleeper a few
  // microseconds more; a 32-packet burst at 10 Mpps comes every 3 us.
  static constexpr uint64_t kSpinNs = 50'000;

  // `work`: packets (or events) handled this round; `handed_off`: some of them were put
  // where the other role picks them up; `shares_cpu`: the other role is pinned to our CPU;
  // `peer_awake`: it is not sleeping (it may be runnable, holding packets).
  [[nodiscard]] PaceAction Next(uint32_t work, bool handed_off, bool shares_cpu, bool peer_awake,
                                uint64_t now_ns) {
    if (work != 0) {
      idle_rounds_ = 0;
      worked_ = true;
      return shares_cpu && handed_off ? PaceAction::kYield : PaceAction::kPoll;
    }
    // A sleep that brought no work (a timeout to look at the port, a stale kick): back to
    // sleep at once, no spin and no yields.
    if (!worked_) return PaceAction::kSleep;
    if (idle_rounds_++ == 0) idle_since_ns_ = now_ns;
    if (shares_cpu && peer_awake) {
      return idle_rounds_ <= kSharedIdleRounds ? PaceAction::kYield : PaceAction::kSleep;
    }
    return now_ns - idle_since_ns_ < kSpinNs ? PaceAction::kPoll : PaceAction::kSleep;
  }
  // After a sleep: the next idle stretch starts anew, if work comes first.
  void Woke() {
    idle_rounds_ = 0;
    worked_ = false;
  }

 private:
  bool worked_ = true;
  uint32_t idle_rounds_ = 0;
  uint64_t idle_since_ns_ = 0;
};

}  // namespace vswitch
