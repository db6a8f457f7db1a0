// Reading the guest kit's serial console (tests/peers/guest/README.md: VSW-* lines).
#pragma once

#include <string>

namespace vswitch::test {

// The value of `key=` on the last console line that starts with `prefix` ("VSW-STATS",
// "VSW-PING", ...), or -1 when no such line has it.
[[nodiscard]] long long ConsoleValue(const std::string& console, const std::string& prefix,
                                     const std::string& key);

}  // namespace vswitch::test
