// NotifyReady/NotifyStopping speak systemd's notify protocol: one datagram per call to
// the unix socket named by $NOTIFY_SOCKET, as systemd reads it for Type=notify; nothing
// at all without the variable.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "service_notify.h"
#include "test_env.h"

namespace vswitch {
namespace {

// A datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  NotifySocket() : path_(dir_ / "notify") {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    bound_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval timeout{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
  }
  [[nodiscard]] bool bound() const { return bound_; }
  [[nodiscard]] const std::string& path() const { return path_; }
  // The next datagram, or "" after a second without one.
  [[nodiscard]] std::string Receive() {
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  test::TempDir dir_;
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

TEST(ServiceNotifyTest, ReadyAndStoppingReachTheNotifySocket) {
  NotifySocket sock;
  ASSERT_TRUE(sock.bound());
  setenv("NOTIFY_SOCKET", sock.path().c_str(), 1);
  NotifyReady("serving file-prefix 'vswitch'");
  EXPECT_EQ(sock.Receive(), "READY=1\nSTATUS=serving file-prefix 'vswitch'");
  // STATUS= is one line: a newline in the text must not start another assignment.
  NotifyReady("two\nlines MAINPID=1");
  EXPECT_EQ(sock.Receive(), "READY=1\nSTATUS=two lines MAINPID=1");
  NotifyStopping();
  EXPECT_EQ(sock.Receive(), "STOPPING=1");
  unsetenv("NOTIFY_SOCKET");
}

TEST(ServiceNotifyTest, NothingWithoutNotifySocket) {
  NotifySocket sock;
  ASSERT_TRUE(sock.bound());
  unsetenv("NOTIFY_SOCKET");
  NotifyReady("not under systemd");
  EXPECT_EQ(sock.Receive(), "");
}

}  // namespace
}  // namespace vswitch
