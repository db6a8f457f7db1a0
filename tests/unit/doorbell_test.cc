// The doorbell protocol (shared/doorbell.h) between two threads over a real eventfd: a
// producer hands a sleeping consumer work through a single-producer ring and rings only
// when the consumer announced a sleep. A lost wake-up leaves the consumer asleep with work
// queued: the consumer's poll times out and the test counts it.
#include "doorbell.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <memory>
#include <thread>

namespace vswitch {
namespace {

class EventFd {
 public:
  EventFd() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~EventFd() { close(fd_); }
  [[nodiscard]] int get() const { return fd_; }
  // The count, read and reset (0 when nothing was written).
  uint64_t Take() const {
    uint64_t v = 0;
    return read(fd_, &v, sizeof(v)) == sizeof(v) ? v : 0;
  }

 private:
  int fd_;
};

TEST(DoorbellTest, RingsOnlyAnOwnerThatAnnouncedASleepAndOncePerSleep) {
  auto slot = std::make_unique<DoorbellSlot>();
  EventFd fd;
  DoorbellRinger ringer(slot.get(), fd.get());
  DoorbellOwner owner(*slot);

  EXPECT_FALSE(ringer.Ring());  // polling owner: nothing written
  EXPECT_EQ(fd.Take(), 0u);

  owner.Announce();
  EXPECT_TRUE(ringer.Ring());
  EXPECT_FALSE(ringer.Ring());  // same sleep: one wake-up is enough
  EXPECT_EQ(fd.Take(), 1u);

  owner.Awake();
  EXPECT_FALSE(ringer.Ring());
  owner.Announce();  // a new sleep gets a new number, and a new ring
  EXPECT_TRUE(ringer.Ring());
  EXPECT_EQ(fd.Take(), 1u);
}

TEST(DoorbellTest, ARestartedOwnerIsNotMistakenForTheSleepAlreadyRung) {
  auto slot = std::make_unique<DoorbellSlot>();
  EventFd fd;
  DoorbellRinger ringer(slot.get(), fd.get());
  {
    DoorbellOwner first(*slot);
    first.Announce();
    EXPECT_TRUE(ringer.Ring());
    // Killed asleep: `asleep` stays set. Its successor's first sleep must be rung again.
  }
  (void)fd.Take();
  DoorbellOwner second(*slot);
  second.Awake();
  second.Announce();
  EXPECT_TRUE(ringer.Ring());
  EXPECT_EQ(fd.Take(), 1u);
}

TEST(DoorbellTest, SleepNumbersSkipZeroWhenTheyWrap) {
  auto slot = std::make_unique<DoorbellSlot>();
  slot->last_sleep.store(UINT32_MAX);
  DoorbellOwner owner(*slot);
  owner.Announce();
  EXPECT_EQ(slot->asleep.load(), 1u);
}

TEST(DoorbellTest, NoWakeUpIsLostBetweenTwoThreads) {
  // A single-producer, single-consumer ring of sequence numbers, as the group's rings.
  constexpr uint32_t kItems = 200'000;
  constexpr uint32_t kSize = 64;
  std::array<std::atomic<uint32_t>, kSize> ring{};
  std::atomic<uint32_t> head{0};  // written by the producer
  std::atomic<uint32_t> tail{0};  // written by the consumer
  auto slot = std::make_unique<DoorbellSlot>();
  EventFd fd;

  std::thread producer([&] {
    DoorbellRinger ringer(slot.get(), fd.get());
    for (uint32_t i = 0; i < kItems; ++i) {
      while (head.load(std::memory_order_relaxed) - tail.load(std::memory_order_acquire) == kSize) {
        std::this_thread::yield();
      }
      const uint32_t h = head.load(std::memory_order_relaxed);
      ring[h % kSize].store(i, std::memory_order_relaxed);
      head.store(h + 1, std::memory_order_release);
      // Bursty, like a poller: sometimes ring after several items.
      if (i % 3 != 0 || i + 1 == kItems) (void)ringer.Ring();
    }
  });

  DoorbellOwner owner(*slot);
  uint32_t expected = 0;
  uint32_t sleeps = 0;
  uint32_t timeouts = 0;
  while (expected < kItems) {
    const uint32_t t = tail.load(std::memory_order_relaxed);
    if (head.load(std::memory_order_acquire) != t) {
      ASSERT_EQ(ring[t % kSize].load(std::memory_order_relaxed), expected);
      ++expected;
      tail.store(t + 1, std::memory_order_release);
      continue;
    }
    owner.Announce();
    if (head.load(std::memory_order_acquire) != t) {  // the re-check of doorbell.h step (3)
      owner.Awake();
      continue;
    }
    ++sleeps;
    pollfd p{fd.get(), POLLIN, 0};
    // A lost wake-up leaves the ring non-empty and this poll waiting for its timeout.
    if (poll(&p, 1, 2000) == 0) ++timeouts;
    owner.Awake();
    (void)fd.Take();
  }
  producer.join();
  EXPECT_EQ(expected, kItems);
  EXPECT_EQ(timeouts, 0u) << "the consumer slept through work " << timeouts << " times";
  EXPECT_GT(sleeps, 0u) << "the test never exercised a sleep";
}

}  // namespace
}  // namespace vswitch
