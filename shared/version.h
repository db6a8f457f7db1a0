#pragma once

namespace vswitch {
// VSWITCH_VERSION comes from the CMake project version.
inline constexpr const char* kVersionString = VSWITCH_VERSION;
}  // namespace vswitch
