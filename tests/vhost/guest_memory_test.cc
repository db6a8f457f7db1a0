// Guest memory translation and the dirty log: ranges, not start addresses; overflow-safe
// arithmetic; regions mapped from real fds at their offsets.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <limits>
#include <vector>

#include "dirty_log.h"
#include "guest_memory.h"

namespace vswitch::vhost {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

int MemFd(size_t size) {
  const int fd = memfd_create("vsw-test", MFD_CLOEXEC);
  if (fd >= 0 && ftruncate(fd, static_cast<off_t>(size)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(GuestMemory, TranslatesRangesAndReportsContiguousLength) {
  std::vector<uint8_t> a(4096), b(4096);
  GuestMemoryTable t;
  ASSERT_EQ(t.AddHost({0x10000, 4096, 0x7000000, 0}, a.data()), ProtocolError::kNone);
  // b directly follows a in guest-physical space, but not on the host.
  ASSERT_EQ(t.AddHost({0x11000, 4096, 0x9000000, 0}, b.data()), ProtocolError::kNone);
  HostRange r = t.Translate(0x10100, 16);
  EXPECT_EQ(r.ptr, a.data() + 0x100);
  EXPECT_EQ(r.len, 16u);
  // A range crossing into b: only the part inside a is contiguous.
  r = t.Translate(0x10ff0, 64);
  EXPECT_EQ(r.ptr, a.data() + 0xff0);
  EXPECT_EQ(r.len, 16u);
  EXPECT_EQ(TranslateContiguous(t, 0x10ff0, 64), nullptr);
  // Walked in pieces, the bytes come from both regions.
  std::memset(a.data() + 0xff0, 0xaa, 16);
  std::memset(b.data(), 0xbb, 48);
  uint8_t out[64];
  ASSERT_TRUE(CopyFromGuest(t, 0x10ff0, out, 64));
  EXPECT_EQ(out[15], 0xaa);
  EXPECT_EQ(out[16], 0xbb);
  EXPECT_EQ(out[63], 0xbb);
  // User addresses translate through the same regions.
  EXPECT_EQ(TranslateUserContiguous(t, 0x9000010, 8), b.data() + 0x10);
}

TEST(GuestMemory, UnmappedAndPastTheEnd) {
  std::vector<uint8_t> a(4096);
  GuestMemoryTable t;
  ASSERT_EQ(t.AddHost({0x10000, 4096, 0x7000000, 0}, a.data()), ProtocolError::kNone);
  EXPECT_EQ(t.Translate(0xffff, 1).ptr, nullptr);
  EXPECT_EQ(t.Translate(0x11000, 1).ptr, nullptr);
  EXPECT_EQ(t.Translate(kMax, 1).ptr, nullptr);
  uint8_t out[32];
  EXPECT_FALSE(CopyFromGuest(t, 0x10ff0, out, 32));  // runs off the end
  EXPECT_EQ(TranslateContiguous(t, 0x10000, 4097), nullptr);
  EXPECT_NE(TranslateContiguous(t, 0x10000, 4096), nullptr);
}

TEST(GuestMemory, RefusesOverflowZeroSizeOverlapAndTooManyRegions) {
  std::vector<uint8_t> a(1 << 16);
  GuestMemoryTable t;
  EXPECT_EQ(t.AddHost({kMax - 10, 4096, 0x1000, 0}, a.data()), ProtocolError::kBadMemoryTable);
  EXPECT_EQ(t.AddHost({0x1000, 4096, kMax - 100, 0}, a.data()), ProtocolError::kBadMemoryTable);
  EXPECT_EQ(t.AddHost({0x1000, 4096, 0x1000, kMax}, a.data()), ProtocolError::kBadMemoryTable);
  EXPECT_EQ(t.AddHost({0x1000, 0, 0x1000, 0}, a.data()), ProtocolError::kBadMemoryTable);
  ASSERT_EQ(t.AddHost({0x10000, 0x1000, 0x50000, 0}, a.data()), ProtocolError::kNone);
  EXPECT_EQ(t.AddHost({0x10fff, 0x1000, 0x90000, 0}, a.data()), ProtocolError::kRegionOverlap);
  EXPECT_EQ(t.AddHost({0x20000, 0x1000, 0x50800, 0}, a.data()), ProtocolError::kRegionOverlap);
  for (uint32_t i = 1; i < kMaxMemSlots; ++i) {
    ASSERT_EQ(t.AddHost({0x100000ull * (i + 1), 0x100, 0x10000000ull * (i + 1), 0}, a.data()),
              ProtocolError::kNone)
        << i;
  }
  EXPECT_EQ(t.size(), kMaxMemSlots);
  EXPECT_EQ(t.AddHost({0x900000000ull, 0x100, 0x900000000ull, 0}, a.data()),
            ProtocolError::kTooManyRegions);
  EXPECT_TRUE(t.Remove({0x10000, 0x1000, 0x50000, 1234}));  // mmap_offset ignored
  EXPECT_FALSE(t.Remove({0x10000, 0x1000, 0x50000, 0}));
  EXPECT_EQ(t.Translate(0x10000, 1).ptr, nullptr);
}

TEST(GuestMemory, MapsFdAtItsOffsetAndRefusesRegionsPastTheFile) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const int fd = MemFd(8 * page);
  ASSERT_GE(fd, 0);
  const char marker[] = "region-at-offset";
  ASSERT_EQ(pwrite(fd, marker, sizeof(marker), static_cast<off_t>(3 * page + 16)),
            static_cast<ssize_t>(sizeof(marker)));
  GuestMemoryTable t;
  // The region starts 3 pages (plus 16 bytes, unaligned) into the file.
  ASSERT_EQ(t.Map({0x100000, 2 * page, 0x7f0000100000, 3 * page + 16}, fd), ProtocolError::kNone);
  const uint8_t* p = TranslateContiguous(t, 0x100000, sizeof(marker));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(std::memcmp(p, marker, sizeof(marker)), 0);
  // Past the end of the file: would SIGBUS on access.
  EXPECT_EQ(t.Map({0x900000, 8 * page, 0x7f0000900000, page}, fd), ProtocolError::kBadMemoryTable);
  EXPECT_EQ(t.Map({0x900000, 1, 0x7f0000900000, kMax}, fd), ProtocolError::kBadMemoryTable);
  EXPECT_EQ(t.Map({0x900000, page, 0x7f0000900000, 0}, -1), ProtocolError::kBadMemoryTable);
  close(fd);
  // The mapping outlives the fd; removing it unmaps.
  EXPECT_EQ(std::memcmp(TranslateContiguous(t, 0x100000, 4), marker, 4), 0);
  t.Clear();
  EXPECT_EQ(t.size(), 0u);
}

TEST(DirtyLog, MarksPagesAndNeverWritesPastTheEnd) {
  std::vector<uint8_t> buf(16, 0);
  DirtyLog log;
  log.Attach(buf.data(), 8);  // 8 bytes: pages 0..63
  log.Mark(0x1000, 1);
  EXPECT_EQ(buf[0], 0x02);
  log.Mark(0x3fff, 2);  // pages 3 and 4
  EXPECT_EQ(buf[0], 0x1a);
  EXPECT_TRUE(log.IsMarked(0x4000));
  log.Mark(63 * 0x1000, 0x10000);  // page 63 in, 64.. out
  EXPECT_EQ(buf[7], 0x80);
  EXPECT_EQ(buf[8], 0);  // guard byte untouched
  log.Mark(kMax - 5, 100);  // wraps: clamped, past the end anyway
  EXPECT_EQ(buf[8], 0);
}

TEST(DirtyLog, MapRefusesOverflowAndShortFiles) {
  const int fd = MemFd(4096);
  ASSERT_GE(fd, 0);
  DirtyLog log;
  EXPECT_EQ(log.Map(fd, 16, kMax - 8), ProtocolError::kBadLogBase);  // CVE-2020-10722
  EXPECT_EQ(log.Map(fd, 0, 0), ProtocolError::kBadLogBase);
  EXPECT_EQ(log.Map(fd, 8192, 0), ProtocolError::kBadLogBase);
  ASSERT_EQ(log.Map(fd, 1024, 100), ProtocolError::kNone);
  log.Mark(0, 1);
  uint8_t b = 0;
  ASSERT_EQ(pread(fd, &b, 1, 100), 1);
  EXPECT_EQ(b, 1);
  close(fd);
}

}  // namespace
}  // namespace vswitch::vhost
