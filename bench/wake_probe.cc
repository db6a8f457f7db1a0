// vswitch-wake-probe: what one cross-CPU wake-up costs on this machine, with no vswitch
// in the way. A waker pinned to one CPU writes an eventfd after a random quiet spell; a
// sleeper pinned to another CPU waits in epoll on it and notes how long after the write
// it ran. That is the hand-off every sleeping role of the group depends on (a guest's
// kick waking vswitch-vhost, a doorbell waking vswitch-switching), so its tail is the
// floor under wake_latency_test's: on a virtual machine an idle vCPU is halted and the
// host decides when it runs again.
//
//   vswitch-wake-probe [--waker-cpu 0] [--sleeper-cpu 1] [--count 10000] [--max-gap-us 2000]
//
// Prints one line: "WAKE count=<n> median_us=<..> p99_us=<..> max_us=<..> over_1ms=<n>".
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <vector>

namespace {

struct Shared {
  std::atomic<uint64_t> written_ns;  // when the waker wrote the eventfd
  std::atomic<uint64_t> woke_ns;     // when the sleeper ran after it (0 until then)
};

uint64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

bool Pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof(set), &set) == 0;
}

void SleepNs(uint64_t ns) {
  const timespec ts{static_cast<time_t>(ns / 1'000'000'000ull), static_cast<long>(ns % 1'000'000'000ull)};
  nanosleep(&ts, nullptr);
}

[[noreturn]] void Usage(const char* what) {
  std::fprintf(stderr, "vswitch-wake-probe: %s\nusage: vswitch-wake-probe [--waker-cpu N] [--sleeper-cpu N] "
               "[--count N] [--max-gap-us N]\n", what);
  std::exit(2);
}

// The sleeper: waits in epoll, stamps the time it ran, until the eventfd reads the stop value.
[[noreturn]] void Sleeper(int efd, Shared* shared) {
  const int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = efd;
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) != 0) _exit(3);
  for (;;) {
    epoll_event out{};
    if (epoll_wait(ep, &out, 1, 1000) <= 0) continue;
    const uint64_t now = NowNs();
    uint64_t value = 0;
    if (read(efd, &value, sizeof(value)) != sizeof(value)) continue;
    shared->woke_ns.store(now);
    if (value > 1) _exit(0);  // the waker's stop signal
  }
}

}  // namespace

int main(int argc, char** argv) {
  int waker_cpu = 0, sleeper_cpu = 1;
  long count = 10'000, max_gap_us = 2000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) Usage(("missing value for " + a).c_str());
    char* end = nullptr;
    const long v = std::strtol(argv[++i], &end, 10);
    if (*end != '\0' || v < 0) Usage(("bad value for " + a).c_str());
    if (a == "--waker-cpu") waker_cpu = static_cast<int>(v);
    else if (a == "--sleeper-cpu") sleeper_cpu = static_cast<int>(v);
    else if (a == "--count" && v > 0) count = v;
    else if (a == "--max-gap-us") max_gap_us = v;
    else Usage(("unknown or bad option " + a).c_str());
  }
  auto* shared = static_cast<Shared*>(
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  const int efd = eventfd(0, EFD_CLOEXEC);
  if (shared == MAP_FAILED || efd < 0) Usage("mmap or eventfd failed");
  new (shared) Shared{};
  const pid_t child = fork();
  if (child == 0) {
    if (!Pin(sleeper_cpu)) _exit(4);
    Sleeper(efd, shared);
  }
  if (child < 0 || !Pin(waker_cpu)) Usage("fork or sched_setaffinity failed (is the CPU there?)");

  std::mt19937_64 rng(std::random_device{}());
  std::uniform_int_distribution<long> gap(0, max_gap_us);
  std::vector<double> us;
  us.reserve(static_cast<size_t>(count));
  SleepNs(50'000'000);  // let the sleeper reach epoll
  for (long i = 0; i < count; ++i) {
    SleepNs(static_cast<uint64_t>(gap(rng)) * 1000);
    shared->woke_ns.store(0);
    const uint64_t one = 1;
    shared->written_ns.store(NowNs());
    if (write(efd, &one, sizeof(one)) != sizeof(one)) break;
    // Wait for the sleeper without taking CPU time from anyone: short sleeps.
    uint64_t woke = 0;
    const uint64_t deadline = NowNs() + 1'000'000'000ull;
    while ((woke = shared->woke_ns.load()) == 0 && NowNs() < deadline) SleepNs(5'000);
    if (woke == 0) break;
    us.push_back(static_cast<double>(woke - shared->written_ns.load()) / 1000.0);
  }
  const uint64_t stop = 2;
  [[maybe_unused]] const ssize_t n = write(efd, &stop, sizeof(stop));
  int status = 0;
  waitpid(child, &status, 0);
  if (us.empty()) Usage("no wake-up measured");
  std::vector<double> sorted = us;
  std::sort(sorted.begin(), sorted.end());
  const auto at = [&](double q) { return sorted[static_cast<size_t>(q * static_cast<double>(sorted.size() - 1))]; };
  const long over_1ms = std::count_if(us.begin(), us.end(), [](double v) { return v > 1000.0; });
  std::printf("WAKE count=%zu median_us=%.0f p99_us=%.0f max_us=%.0f over_1ms=%ld\n", us.size(), at(0.5), at(0.99),
              sorted.back(), over_1ms);
  return us.size() == static_cast<size_t>(count) ? 0 : 1;
}
