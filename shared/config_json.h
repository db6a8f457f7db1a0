// `vswitch-<role> --print-config`: the configuration a role resolved (file, command line,
// defaults, `auto` CPUs), as one JSON object. deploy/vswitch reads the group's settings
// from it, so the script and the binaries never parse the INI file two ways.
//
//   {"role": "vhost", "config_file": "...", "eal": {...}, "group": {...}, "vhost": {...}}
//
// Keys are the option names (`file-prefix`, `socket-file`); only [eal], [group] and the
// role's own section appear, the sections this role reads and validates.
#pragma once

#include <string>

#include "config.h"

namespace vswitch {

[[nodiscard]] std::string RenderConfigJson(const Config& config);

}  // namespace vswitch
