// The start time a secondary reports its start-up against ("up ... ms after exec"):
// field 22 of /proc/PID/stat, counted from the last ')' because a command name may hold
// spaces and parentheses (proc(5)).
#include <gtest/gtest.h>
#include <unistd.h>

#include "process_util.h"

namespace vswitch {
namespace {

// A real line's shape: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
// majflt cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime ...
constexpr const char* kLine =
    "4242 (vswitch-switch) S 1 4242 4242 0 -1 4194560 900 0 0 0 12 30 0 0 20 0 3 0 "
    "987654 123456789 2000 18446744073709551615\n";

TEST(ProcessStartTest, ReadsFieldTwentyTwo) {
  EXPECT_EQ(ParseStartTicks(kLine), std::optional<uint64_t>(987654));
}

TEST(ProcessStartTest, ACommandNameWithSpacesAndParenthesesDoesNotShiftTheFields) {
  const std::string line =
      "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 31337 1 1 1\n";
  EXPECT_EQ(ParseStartTicks(line), std::optional<uint64_t>(31337));
}

TEST(ProcessStartTest, ATruncatedOrGarbledLineGivesNothing) {
  EXPECT_FALSE(ParseStartTicks("4242 (x) S 1 2 3").has_value());
  EXPECT_FALSE(ParseStartTicks("no parenthesis here").has_value());
  EXPECT_FALSE(ParseStartTicks("7 (x) R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 12ab 1\n").has_value());
}

TEST(ProcessStartTest, ThisProcessIsOlderThanZeroAndYoungerThanTheTestTimeout) {
  const double ms = MsSinceExec();
  EXPECT_GE(ms, 0.0);
  EXPECT_LT(ms, 30'000.0);
  usleep(50'000);
  EXPECT_GT(MsSinceExec(), ms);
}

}  // namespace
}  // namespace vswitch
