// The SIGBUS guard over guest memory (shared/guest_fault_guard.h), on a memfd this test
// shrinks under its own mapping, as a hostile front-end would: an access inside a
// guarded range completes (zeros), is recorded and notified; every other SIGBUS still
// kills the process.
#include "guest_fault_guard.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace vswitch {
namespace {

constexpr size_t kLen = 4 * 4096;

// A memfd of kLen bytes filled with 0xab, mapped shared read-write.
struct ShrinkableMemory {
  ShrinkableMemory() {
    fd = memfd_create("vsw-guard-test", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, kLen) != 0) return;
    base = static_cast<uint8_t*>(mmap(nullptr, kLen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    if (base == MAP_FAILED) base = nullptr;
    if (base != nullptr) std::memset(base, 0xab, kLen);
  }
  ~ShrinkableMemory() {
    if (base != nullptr) munmap(base, kLen);
    if (fd >= 0) close(fd);
  }
  int fd = -1;
  uint8_t* base = nullptr;
};

// Reads through a volatile pointer so the compiler keeps the access.
uint8_t ReadByte(const uint8_t* p) { return *static_cast<const volatile uint8_t*>(p); }

TEST(GuestFaultGuardTest, AccessToAShrunkGuardedRangeReadsZerosAndIsReported) {
  ASSERT_TRUE(InstallGuestFaultHandler(nullptr));
  ShrinkableMemory mem;
  ASSERT_NE(mem.base, nullptr);
  const int notify = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(notify, 0);
  const int slot = GuardRange(mem.base, kLen, PROT_READ | PROT_WRITE, GuardOwner{42, 7, 0x1000, notify});
  ASSERT_GE(slot, 0);
  EXPECT_EQ(ReadByte(mem.base + 3 * 4096), 0xab);
  const uint64_t before = GuestFaultCount();

  ASSERT_EQ(ftruncate(mem.fd, 4096), 0);  // the last three pages are past the file's end now
  EXPECT_EQ(ReadByte(mem.base + 2 * 4096 + 5), 0) << "the faulting read completes on zeros";
  mem.base[3 * 4096] = 1;  // a write too, into private memory
  EXPECT_EQ(ReadByte(mem.base + 3 * 4096), 1);
  EXPECT_EQ(ReadByte(mem.base), 0) << "the whole range was replaced, not only the pages past the end";

  ASSERT_EQ(GuestFaultCount(), before + 1) << "one fault for the range, however many accesses";
  GuestFault f;
  ASSERT_TRUE(GuestFaultAt(before, &f));
  EXPECT_EQ(f.who.owner, 42u);
  EXPECT_EQ(f.who.tag, 7u);
  EXPECT_EQ(f.who.detail, 0x1000u);
  EXPECT_EQ(f.base, reinterpret_cast<uintptr_t>(mem.base));
  EXPECT_EQ(f.len, kLen);
  EXPECT_EQ(f.addr, reinterpret_cast<uintptr_t>(mem.base + 2 * 4096 + 5));
  uint64_t value = 0;
  EXPECT_EQ(read(notify, &value, sizeof(value)), static_cast<ssize_t>(sizeof(value)));
  EXPECT_EQ(value, 1u);
  UnguardRange(slot);
  close(notify);
}

TEST(GuestFaultGuardTest, ReadOnlyRangeStaysReadOnly) {
  ASSERT_TRUE(InstallGuestFaultHandler(nullptr));
  ShrinkableMemory mem;
  ASSERT_NE(mem.base, nullptr);
  // vswitch-switching's mappings are read-only: the zeros that replace them are too.
  ASSERT_EQ(mprotect(mem.base, kLen, PROT_READ), 0);
  const int slot = GuardRange(mem.base, kLen, PROT_READ, GuardOwner{1, 0, 0, -1});
  ASSERT_GE(slot, 0);
  ASSERT_EQ(ftruncate(mem.fd, 0), 0);
  EXPECT_EQ(ReadByte(mem.base + 100), 0);
  // (SIGSEGV's default action: a sanitizer's handler would turn the signal into an abort.)
  EXPECT_EXIT({ signal(SIGSEGV, SIG_DFL); mem.base[0] = 1; }, testing::KilledBySignal(SIGSEGV), "");
  UnguardRange(slot);
}

TEST(GuestFaultGuardDeathTest, FaultOutsideEveryGuardedRangeStillKills) {
  ASSERT_TRUE(InstallGuestFaultHandler(nullptr));
  ShrinkableMemory guarded, other;
  ASSERT_NE(guarded.base, nullptr);
  ASSERT_NE(other.base, nullptr);
  const int slot = GuardRange(guarded.base, kLen, PROT_READ | PROT_WRITE, GuardOwner{1, 0, 0, -1});
  ASSERT_GE(slot, 0);
  ASSERT_EQ(ftruncate(other.fd, 0), 0);
  EXPECT_EXIT((void)ReadByte(other.base + 10), testing::KilledBySignal(SIGBUS), "");
  UnguardRange(slot);
}

TEST(GuestFaultGuardDeathTest, UnguardedRangeFaultsAsBefore) {
  ASSERT_TRUE(InstallGuestFaultHandler(nullptr));
  ShrinkableMemory mem;
  ASSERT_NE(mem.base, nullptr);
  UnguardRange(GuardRange(mem.base, kLen, PROT_READ | PROT_WRITE, GuardOwner{1, 0, 0, -1}));
  ASSERT_EQ(ftruncate(mem.fd, 0), 0);
  EXPECT_EXIT((void)ReadByte(mem.base), testing::KilledBySignal(SIGBUS), "");
}

TEST(GuestFaultGuardDeathTest, SigbusSentByAProcessStillKills) {
  ASSERT_TRUE(InstallGuestFaultHandler(nullptr));
  EXPECT_EXIT(kill(getpid(), SIGBUS), testing::KilledBySignal(SIGBUS), "");
}

}  // namespace
}  // namespace vswitch
