#include "test_env.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace vswitch::test {

std::string SourceDir() {
  const char* v = std::getenv("VSWITCH_SOURCE_DIR");
  return v ? v : VSWITCH_DEFAULT_SOURCE_DIR;
}

std::string BinaryDir() {
  const char* v = std::getenv("VSWITCH_BINARY_DIR");
  return v ? v : VSWITCH_DEFAULT_BINARY_DIR;
}

std::string UniqueName(const std::string& stem) { return stem + std::to_string(getpid()); }

TempDir::TempDir() {
  char tmpl[] = "/tmp/vsw-test-XXXXXX";
  const char* p = mkdtemp(tmpl);
  path_ = p ? p : "/tmp";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (path_ != "/tmp") fs::remove_all(path_, ec);
}

std::vector<std::string> HugepageFiles(const std::string& file_prefix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/dev/hugepages", ec)) {
    const std::string name = e.path().filename();
    if (name.rfind(file_prefix + "map_", 0) == 0 || name.rfind(file_prefix + "-", 0) == 0) {
      out.push_back(e.path());
    }
  }
  return out;
}

void RemoveDpdkLeftovers(const std::string& file_prefix) {
  std::error_code ec;
  for (const auto& f : HugepageFiles(file_prefix)) fs::remove(f, ec);
  fs::remove_all("/var/run/dpdk/" + file_prefix, ec);
}

int FreeTcpPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
}

}  // namespace vswitch::test
