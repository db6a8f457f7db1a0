// The shape of every secondary's main(): parse options, attach and register, run the
// role's body, report why it stopped.
#pragma once

#include <atomic>
#include <functional>

#include "config.h"
#include "secondary_runtime.h"

namespace vswitch {

// `body` runs after a successful attach and returns the exit code. It loops while
// `stop` is false and runtime.Tick() is true, and returns 1 when Tick failed.
using SecondaryBody = std::function<int(SecondaryRuntime& runtime, const Config& config,
                                        std::atomic<bool>& stop)>;

[[nodiscard]] int SecondaryMain(Role role, int argc, char** argv, const SecondaryBody& body);

}  // namespace vswitch
