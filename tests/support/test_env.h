// Where the tests find the project, scratch directories that clean themselves up, and
// DPDK runtime leftovers (hugepage files, runtime directory) removed by file prefix.
#pragma once

#include <string>
#include <vector>

namespace vswitch::test {

[[nodiscard]] std::string SourceDir();  // $VSWITCH_SOURCE_DIR (set by CTest)
[[nodiscard]] std::string BinaryDir();  // $VSWITCH_BINARY_DIR (set by CTest)

// A unique name for this test process: "<stem><pid>"; safe as a DPDK file prefix,
// a tap interface name (<= 15 chars when stem is short) and a path component.
[[nodiscard]] std::string UniqueName(const std::string& stem);

class TempDir {
 public:
  TempDir();  // /tmp/vsw-test-XXXXXX
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Removes /dev/hugepages/<prefix>map_* (and <prefix>-*) files and /var/run/dpdk/<prefix>.
void RemoveDpdkLeftovers(const std::string& file_prefix);
// Lists the hugepage files a DPDK group with this prefix still holds.
[[nodiscard]] std::vector<std::string> HugepageFiles(const std::string& file_prefix);

// A TCP port on 127.0.0.1 that nobody listens on right now (the kernel picks it).
[[nodiscard]] int FreeTcpPort();

[[nodiscard]] std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& content);

}  // namespace vswitch::test
