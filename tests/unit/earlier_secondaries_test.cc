// The primary's wait for secondaries of an earlier primary: who holds the group's DPDK
// runtime files, read from /proc/locks and from real flock(2) locks in a scratch directory.
#include "earlier_secondaries.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "test_env.h"

namespace vswitch {
namespace {

using test::TempDir;
using test::WriteFile;

constexpr const char* kLocks =
    "1: POSIX  ADVISORY  WRITE 700 00:1a:99 0 EOF\n"
    "2: FLOCK  ADVISORY  READ  812 00:1a:4242 0 EOF\n"
    "2: -> FLOCK  ADVISORY  WRITE 900 00:1a:4242 0 EOF\n"
    "3: FLOCK  ADVISORY  READ  813 00:1a:4242 0 EOF\n"
    "4: FLOCK  ADVISORY  READ  814 fd:01:4242 0 EOF\n";

TEST(LockHoldersTest, NamesTheHoldersOfThatFileOnly) {
  // The waiter (->) holds nothing; the same inode on another device is another file.
  EXPECT_EQ(LockHolders(kLocks, {0x00, 0x1a, 4242}), (std::vector<pid_t>{812, 813}));
  EXPECT_EQ(LockHolders(kLocks, {0xfd, 0x01, 4242}), (std::vector<pid_t>{814}));
  EXPECT_TRUE(LockHolders(kLocks, {0x00, 0x1a, 4243}).empty());
  EXPECT_TRUE(LockHolders("garbage\n\n1: FLOCK\n", {0x00, 0x1a, 4242}).empty());
}

TEST(EarlierGroupMembersTest, FindsWhoHoldsAnFbarrayFile) {
  TempDir dir;
  EXPECT_TRUE(EarlierGroupMembers(dir / "absent").empty());
  WriteFile(dir / "fbarray_memzone", "");
  WriteFile(dir / "config", "");
  EXPECT_TRUE(EarlierGroupMembers(dir.path()).empty());
  // A lock on another file of the directory is none of our business.
  const int config = open((dir / "config").c_str(), O_RDONLY);
  ASSERT_EQ(flock(config, LOCK_SH), 0);
  EXPECT_TRUE(EarlierGroupMembers(dir.path()).empty());
  // A shared lock on an fbarray file, as an attached DPDK process holds it (flock locks
  // belong to the open file, so this process's own lock counts as someone else's).
  const int memzone = open((dir / "fbarray_memzone").c_str(), O_RDONLY);
  ASSERT_EQ(flock(memzone, LOCK_SH), 0);
  EXPECT_EQ(EarlierGroupMembers(dir.path()), std::vector<pid_t>{getpid()});
  const std::string error = WaitForEarlierSecondaries(dir.path(), "grp", std::chrono::milliseconds(100));
  EXPECT_NE(error.find("file-prefix 'grp' (pid " + std::to_string(getpid()) + ") still hold"), std::string::npos)
      << error;
  EXPECT_NE(error.find("deploy/vswitch down"), std::string::npos) << error;
  close(memzone);
  EXPECT_TRUE(EarlierGroupMembers(dir.path()).empty());
  EXPECT_EQ(WaitForEarlierSecondaries(dir.path(), "grp", std::chrono::milliseconds(100)), "");
  close(config);
}

}  // namespace
}  // namespace vswitch
