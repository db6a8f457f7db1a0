#pragma once

#include <string>

namespace vswitch {

// Replaces `path` atomically (write to a temporary file, then rename), so readers never
// see half a document. False on any I/O error.
[[nodiscard]] bool WriteFileAtomically(const std::string& path, const std::string& content);

}  // namespace vswitch
