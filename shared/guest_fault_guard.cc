#include "guest_fault_guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace vswitch {
namespace {

enum SlotState : uint32_t { kFree = 0, kClaimed, kArmed, kReplacing, kReplaced };

// Plain fields read by the handler: atomics, so a reader racing a writer sees a whole
// value; the state's release/acquire orders them.
struct Slot {
  std::atomic<uint32_t> state{kFree};
  std::atomic<uintptr_t> base{0};
  std::atomic<size_t> len{0};
  std::atomic<int> prot{0};
  std::atomic<uint64_t> owner{0};
  std::atomic<uint64_t> tag{0};
  std::atomic<uint64_t> detail{0};
  std::atomic<int> notify_fd{-1};
};

constexpr size_t kRecords = 64;

struct Record {
  std::atomic<uint64_t> published{0};  // seq + 1 once complete
  GuestFault fault;
};

Slot g_slots[kMaxGuardedRanges];
Record g_records[kRecords];
std::atomic<uint64_t> g_faults{0};
std::atomic<bool> g_installed{false};

static_assert(std::atomic<uintptr_t>::is_always_lock_free && std::atomic<uint64_t>::is_always_lock_free &&
              std::atomic<uint32_t>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "the SIGBUS handler may only touch lock-free atomics");

void DieAsBefore(const siginfo_t* info) {
  struct sigaction dfl{};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, nullptr);
  // A fault returns to the faulting instruction, which faults again and now kills the
  // process with a core. A SIGBUS sent by kill() is delivered again once we return.
  if (info->si_code <= 0) raise(SIGBUS);
}

void RecordFault(const Slot& s, uintptr_t addr) {
  const uint64_t seq = g_faults.fetch_add(1, std::memory_order_relaxed);
  Record& r = g_records[seq % kRecords];
  r.published.store(0, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  r.fault.who.owner = s.owner.load(std::memory_order_relaxed);
  r.fault.who.tag = s.tag.load(std::memory_order_relaxed);
  r.fault.who.detail = s.detail.load(std::memory_order_relaxed);
  r.fault.who.notify_fd = s.notify_fd.load(std::memory_order_relaxed);
  r.fault.base = s.base.load(std::memory_order_relaxed);
  r.fault.len = s.len.load(std::memory_order_relaxed);
  r.fault.addr = addr;
  r.published.store(seq + 1, std::memory_order_release);
}

void OnSigbus(int, siginfo_t* info, void*) {
  // Only a fault the kernel raised on an access (si_code > 0: BUS_ADRERR for a mapping
  // past the end of its file) names an address.
  if (info->si_code <= 0) return DieAsBefore(info);
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& s : g_slots) {
    uint32_t state = s.state.load(std::memory_order_acquire);
    if (state < kArmed) continue;
    const uintptr_t base = s.base.load(std::memory_order_relaxed);
    if (addr < base || addr - base >= s.len.load(std::memory_order_relaxed)) continue;
    if (state == kArmed && s.state.compare_exchange_strong(state, kReplacing, std::memory_order_acq_rel)) {
      // The slot may have been freed and re-armed for another range since we read it.
      const uintptr_t b = s.base.load(std::memory_order_relaxed);
      const size_t len = s.len.load(std::memory_order_relaxed);
      if (addr < b || addr - b >= len) {
        s.state.store(kArmed, std::memory_order_release);
        continue;
      }
      // Zeros in place of the file, at the same address and protection: the access
      // retried reads or writes private memory nobody else sees.
      void* got = mmap(reinterpret_cast<void*>(b), len, s.prot.load(std::memory_order_relaxed),
                       MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (got != reinterpret_cast<void*>(b)) {
        s.state.store(kArmed, std::memory_order_release);
        return DieAsBefore(info);
      }
      RecordFault(s, addr);
      s.state.store(kReplaced, std::memory_order_release);
      const int fd = s.notify_fd.load(std::memory_order_relaxed);
      if (fd >= 0) {
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = write(fd, &one, sizeof(one));
      }
      return;
    }
    // Another thread is replacing this range, or has: the access can be retried.
    while (s.state.load(std::memory_order_acquire) == kReplacing) {
    }
    return;
  }
  DieAsBefore(info);
}

}  // namespace

bool InstallGuestFaultHandler(std::string* error) {
  if (g_installed.exchange(true)) return true;
  struct sigaction sa{};
  sa.sa_sigaction = OnSigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGBUS, &sa, nullptr) != 0) {
    g_installed.store(false);
    if (error != nullptr) *error = std::string("sigaction(SIGBUS): ") + std::strerror(errno);
    return false;
  }
  return true;
}

int GuardRange(void* base, size_t len, int prot, const GuardOwner& who) {
  for (size_t i = 0; i < kMaxGuardedRanges; ++i) {
    Slot& s = g_slots[i];
    uint32_t expected = kFree;
    if (!s.state.compare_exchange_strong(expected, kClaimed, std::memory_order_acq_rel)) continue;
    s.base.store(reinterpret_cast<uintptr_t>(base), std::memory_order_relaxed);
    s.len.store(len, std::memory_order_relaxed);
    s.prot.store(prot, std::memory_order_relaxed);
    s.owner.store(who.owner, std::memory_order_relaxed);
    s.tag.store(who.tag, std::memory_order_relaxed);
    s.detail.store(who.detail, std::memory_order_relaxed);
    s.notify_fd.store(who.notify_fd, std::memory_order_relaxed);
    s.state.store(kArmed, std::memory_order_release);
    return static_cast<int>(i);
  }
  return -1;
}

void UnguardRange(int slot) {
  if (slot < 0 || static_cast<size_t>(slot) >= kMaxGuardedRanges) return;
  Slot& s = g_slots[slot];
  for (;;) {
    uint32_t state = s.state.load(std::memory_order_acquire);
    if (state == kReplacing) continue;  // a handler is mid-replace: it finishes without waiting
    if (s.state.compare_exchange_weak(state, kFree, std::memory_order_acq_rel)) return;
  }
}

uint64_t GuestFaultCount() { return g_faults.load(std::memory_order_acquire); }

bool GuestFaultAt(uint64_t seq, GuestFault* out) {
  const Record& r = g_records[seq % kRecords];
  if (r.published.load(std::memory_order_acquire) != seq + 1) return false;
  *out = r.fault;
  std::atomic_thread_fence(std::memory_order_acquire);
  return r.published.load(std::memory_order_relaxed) == seq + 1;
}

}  // namespace vswitch
