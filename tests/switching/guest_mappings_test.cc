// vswitch-switching's side of dequeue zero-copy (guest_mappings.h) in one process: a
// memfd stands for a guest's memory file, published in a MappingTable on the heap as
// vswitch-vhost would (this process plays vswitch-vhost too, so its own fd is opened
// through /proc/self's pid). No EAL: mbufs are plain structs with the external flag.
#include "guest_mappings.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>

namespace vswitch {
namespace {

constexpr size_t kSize = 1 << 16;

class GuestMappingsTest : public testing::Test {
 protected:
  GuestMappingsTest() : state_(new SharedState()) {
    state_->mappings.vhost_pid = getpid();
    state_->roles[static_cast<size_t>(Role::kSwitching)].pid = getpid();
    fd_ = memfd_create("guest", MFD_CLOEXEC);
    EXPECT_EQ(ftruncate(fd_, kSize), 0);
    // An address nothing maps: reserve and release it (vswitch-vhost's mapping lives in
    // another process; here the address must be free for the switching side).
    // The range after it is where a test puts a mapping of its own.
    void* p = mmap(nullptr, 3 * kSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    munmap(p, 3 * kSize);
    va_ = reinterpret_cast<uintptr_t>(p);
  }
  ~GuestMappingsTest() override { close(fd_); }

  void Publish(uint32_t index, uintptr_t va) { (void)PublishEntry(state_->mappings, index, va, kSize, 0, fd_); }
  void Unpublish(uint32_t index) { (void)WithdrawEntry(state_->mappings, index); }
  AckRecord Ack() {
    AckRecord a;
    EXPECT_TRUE(ReadAck(state_->mapping_ack, a));
    return a;
  }
  static bool Mapped(uintptr_t va) {
    errno = 0;
    return msync(reinterpret_cast<void*>(va), 4096, MS_ASYNC) == 0;
  }
  // A two-segment zero-copy packet: a direct head, then an external buffer at `addr`.
  struct Packet {
    rte_mbuf head{};
    rte_mbuf ext{};
  };
  static void Point(Packet& p, uintptr_t addr, uint16_t len) {
    p.head.next = &p.ext;
    p.ext.ol_flags = RTE_MBUF_F_EXTERNAL;
    p.ext.buf_addr = reinterpret_cast<void*>(addr);
    p.ext.buf_len = len;
  }

  std::unique_ptr<SharedState> state_;
  int fd_ = -1;
  uintptr_t va_ = 0;
};

TEST_F(GuestMappingsTest, MapsAtTheSameAddressReadOnlyAndAcknowledges) {
  ASSERT_EQ(pwrite(fd_, "guest!", 6, 100), 6);
  Publish(3, va_);
  GuestMappings m(*state_);
  m.Sync(0);
  ASSERT_TRUE(Mapped(va_));
  EXPECT_EQ(std::memcmp(reinterpret_cast<const char*>(va_ + 100), "guest!", 6), 0) << "the same file";
  const AckRecord a = Ack();
  EXPECT_EQ(a.switching_pid, getpid());
  EXPECT_EQ(a.vhost_pid, getpid());
  EXPECT_EQ(a.generation, state_->mappings.generation.load());
  EXPECT_FALSE(a.Refused(3));
  EXPECT_TRUE(MappingShared(a, getpid(), getpid(), 3, state_->mappings.entries[3].add_generation));
  EXPECT_EQ(state_->mapping_ack.mapped.load(), 1u);
  Packet p;
  Point(p, va_ + 128, 1000);
  EXPECT_TRUE(m.Readable(&p.head));
  Point(p, va_ + kSize - 10, 100);
  EXPECT_FALSE(m.Readable(&p.head)) << "runs past the mapping";
  Point(p, va_ + kSize + 4096, 64);
  EXPECT_FALSE(m.Readable(&p.head));
  // Read-only: the guest's memory is never written from here. (The default action, so
  // that a sanitizer's own SEGV handler does not turn the signal into an abort.)
  EXPECT_EXIT({ std::signal(SIGSEGV, SIG_DFL); *reinterpret_cast<volatile char*>(va_ + 100) = 'x'; std::_Exit(0); },
              testing::KilledBySignal(SIGSEGV), "");
}

// The front-end shrinks its memory file while a packet in it is read here (the port's
// transmit): the read completes on zeros instead of killing the process with SIGBUS, and
// the mapping still goes away when the table drops it.
TEST_F(GuestMappingsTest, AShrunkGuestFileReadsAsZerosInsteadOfKilling) {
  ASSERT_EQ(pwrite(fd_, "guest!", 6, kSize - 4096), 6);
  Publish(2, va_);
  GuestMappings m(*state_);
  m.Sync(0);
  ASSERT_TRUE(Mapped(va_));
  const auto* last_page = reinterpret_cast<const volatile char*>(va_ + kSize - 4096);
  ASSERT_EQ(last_page[0], 'g');
  ASSERT_EQ(ftruncate(fd_, 4096), 0);
  EXPECT_EQ(last_page[0], 0) << "past the new end of the file: zeros, not SIGBUS";
  EXPECT_EQ(last_page[5], 0);
  Unpublish(2);
  m.Sync(1);
  EXPECT_FALSE(Mapped(va_)) << "the replacement is unmapped with the entry";
}

TEST_F(GuestMappingsTest, UnmapsWhatTheTableDropsBeforeAcknowledging) {
  Publish(0, va_);
  GuestMappings m(*state_);
  m.Sync(0);
  ASSERT_TRUE(Mapped(va_));
  Unpublish(0);
  const uint64_t without = state_->mappings.generation.load();
  m.Sync(1);
  EXPECT_FALSE(Mapped(va_)) << "unmapped";
  EXPECT_EQ(Ack().generation, without);
  EXPECT_TRUE(MayUnmapRetired(Ack(), getpid(), getpid(), without)) << "vhost may unmap its copy now";
  Packet p;
  Point(p, va_ + 128, 100);
  EXPECT_FALSE(m.Readable(&p.head)) << "a packet into it is stale now";
}

TEST_F(GuestMappingsTest, AnAddressTakenHereIsRefusedCountedAndNotShared) {
  void* taken = mmap(reinterpret_cast<void*>(va_ + 2 * kSize), kSize, PROT_READ,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  ASSERT_EQ(taken, reinterpret_cast<void*>(va_ + 2 * kSize));
  Publish(1, reinterpret_cast<uintptr_t>(taken));
  Publish(2, va_);
  GuestMappings m(*state_);
  m.Sync(0);
  const AckRecord a = Ack();
  EXPECT_TRUE(a.Refused(1));
  EXPECT_FALSE(a.Refused(2));
  EXPECT_EQ(a.generation, state_->mappings.generation.load()) << "refused still counts as applied";
  EXPECT_FALSE(MappingShared(a, getpid(), getpid(), 1, state_->mappings.entries[1].add_generation));
  EXPECT_TRUE(MappingShared(a, getpid(), getpid(), 2, state_->mappings.entries[2].add_generation));
  EXPECT_EQ(state_->mapping_ack.refusals.load(), 1u);
  EXPECT_EQ(state_->mapping_ack.mapped.load(), 1u);
  m.Sync(1);
  EXPECT_EQ(state_->mapping_ack.refusals.load(), 1u) << "not retried every round";
  munmap(taken, kSize);
}

TEST_F(GuestMappingsTest, AGoneVhostInstanceMapsNothing) {
  Publish(0, va_);
  GuestMappings m(*state_);
  m.Sync(0);
  ASSERT_TRUE(Mapped(va_));
  // The publishing instance dies (a pid that no process has).
  state_->mappings.vhost_pid = 0x3ffffffe;
  BeginTableWrite(state_->mappings);
  EndTableWrite(state_->mappings);
  m.Sync(1);
  EXPECT_FALSE(Mapped(va_));
  EXPECT_EQ(m.mapped(), 0u);
}

}  // namespace
}  // namespace vswitch
