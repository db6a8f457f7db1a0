// MAC learning (as DPDK's vhost-switch): the first frame a device sends registers its
// source MAC; a MAC another device already owns is refused. After that, a frame whose
// source is another device's MAC is spoofed. Pure: the caller looks the MAC up in the
// table and applies the decision.
#pragma once

#include <cstdint>
#include <optional>

#include "mac_table.h"

namespace vswitch {

enum class LearnAction {
  kNone,           // already learned: route the frame
  kRegister,       // add {src -> device} to the table, then route the frame
  kRefuse,         // src belongs to another device: refuse the registration, drop the frame
  kInvalidSource,  // multicast or all-zero source: not an address a guest can own, drop
};

struct LearnDecision {
  LearnAction action = LearnAction::kNone;
  uint32_t owner = 0;  // for kRefuse: the device that owns the MAC
};

// `learned` and `learned_mac`: what this device registered so far. `owner`: the table's
// answer for `src`.
[[nodiscard]] LearnDecision DecideLearning(uint32_t device, bool learned, MacKey learned_mac,
                                           MacKey src, std::optional<uint32_t> owner);

}  // namespace vswitch
