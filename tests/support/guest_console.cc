#include "guest_console.h"

#include <regex>
#include <sstream>

namespace vswitch::test {

long long ConsoleValue(const std::string& console, const std::string& prefix, const std::string& key) {
  std::istringstream in(console);
  std::string line;
  long long value = -1;
  const std::regex re("(^| )" + key + "=([0-9]+)");
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.rfind(prefix, 0) == 0 && std::regex_search(line, m, re)) value = std::stoll(m[2]);
  }
  return value;
}

}  // namespace vswitch::test
