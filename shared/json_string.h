// A JSON string literal (RFC 8259 section 7): the one escaper behind status.json and
// --print-config.
#pragma once

#include <string>
#include <string_view>

namespace vswitch {

// Appends `s` to `out` as a quoted JSON string: '"' and '\' escaped, control characters
// as \u00XX; other bytes (UTF-8 included) as they are.
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace vswitch
