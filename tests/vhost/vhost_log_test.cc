// The vhost library logs through rte_log, the process's one log path: its lines go to the
// stream rte_openlog_stream set, never straight to stderr, and the log levels apply to
// them (the global level, and the level of the logtype the process gives it, which is
// how vswitch-vhost's [eal] log-level reaches them).
#include <gtest/gtest.h>
#include <rte_log.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "driver.h"
#include "test_env.h"
#include "vhost_log.h"

namespace vswitch::vhost {
namespace {

using test::TempDir;

// Collects what rte_log writes, and what anything writes to stderr meanwhile.
class Capture {
 public:
  Capture() : stream_(open_memstream(&buf_, &size_)) {
    rte_openlog_stream(stream_);
    std::fflush(stderr);
    saved_stderr_ = dup(STDERR_FILENO);
    stderr_file_ = std::tmpfile();
    dup2(fileno(stderr_file_), STDERR_FILENO);
  }
  ~Capture() {
    Stop();
    std::free(buf_);
  }
  void Stop() {
    if (saved_stderr_ < 0) return;
    std::fflush(stderr);
    dup2(saved_stderr_, STDERR_FILENO);
    close(saved_stderr_);
    saved_stderr_ = -1;
    rte_openlog_stream(nullptr);
    std::fclose(stream_);
    log_.assign(buf_, size_);
    std::rewind(stderr_file_);
    char chunk[4096];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof(chunk), stderr_file_)) > 0) stderr_.append(chunk, n);
    std::fclose(stderr_file_);
  }
  const std::string& log() const { return log_; }
  const std::string& stderr_text() const { return stderr_; }

 private:
  char* buf_ = nullptr;
  size_t size_ = 0;
  FILE* stream_;
  int saved_stderr_ = -1;
  FILE* stderr_file_ = nullptr;
  std::string log_, stderr_;
};

constexpr const char* kCreated = "vhost-user server: socket created";

TEST(VhostLogTest, LinesGoThroughRteLogAndItsGlobalLevel) {
  TempDir dir;
  Driver driver;
  rte_log_set_global_level(RTE_LOG_DEBUG);
  {
    Capture c;
    ASSERT_EQ(driver.Register(dir / "a.sock", 0), 0);
    c.Stop();
    EXPECT_NE(c.log().find(kCreated), std::string::npos) << "rte_log stream: " << c.log();
    EXPECT_EQ(c.stderr_text().find(kCreated), std::string::npos) << "stderr: " << c.stderr_text();
  }
  rte_log_set_global_level(RTE_LOG_WARNING);
  {
    Capture c;
    ASSERT_EQ(driver.Register(dir / "b.sock", 0), 0);  // info: not shown
    EXPECT_EQ(driver.Register(dir / "b.sock", 0), -1);  // error: shown
    c.Stop();
    EXPECT_EQ(c.log().find(kCreated), std::string::npos) << c.log();
    EXPECT_EQ(c.stderr_text().find(kCreated), std::string::npos) << c.stderr_text();
    EXPECT_NE(c.log().find("is already registered"), std::string::npos) << c.log();
  }
  rte_log_set_global_level(RTE_LOG_DEBUG);
}

// vswitch-vhost gives the library its role's logtype, whose level [eal] log-level sets.
TEST(VhostLogTest, TheProcessLogtypeLevelApplies) {
  const int type = rte_log_register_type_and_pick_level("vswitch.test", RTE_LOG_INFO);
  ASSERT_GE(type, 0);
  SetLogType(type);
  rte_log_set_global_level(RTE_LOG_DEBUG);
  TempDir dir;
  Driver driver;
  rte_log_set_level(type, RTE_LOG_WARNING);
  {
    Capture c;
    ASSERT_EQ(driver.Register(dir / "a.sock", 0), 0);
    EXPECT_EQ(driver.Register(dir / "a.sock", 0), -1);
    c.Stop();
    EXPECT_EQ(c.log().find(kCreated), std::string::npos) << c.log();
    EXPECT_NE(c.log().find("is already registered"), std::string::npos) << c.log();
  }
  rte_log_set_level(type, RTE_LOG_INFO);
  {
    Capture c;
    ASSERT_EQ(driver.Register(dir / "b.sock", 0), 0);
    c.Stop();
    EXPECT_NE(c.log().find(kCreated), std::string::npos) << c.log();
  }
  SetLogType(-1);
}

}  // namespace
}  // namespace vswitch::vhost
