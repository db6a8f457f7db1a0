#include "state_layout.h"

namespace vswitch {

std::string CheckLayout(const SharedState& state) {
  if (state.magic != kStateMagic) {
    return "the vswitch_state memzone is not vswitch's (bad magic); is another program using "
           "this file-prefix?";
  }
  if (state.layout_version != kLayoutVersion || state.layout_size != sizeof(SharedState)) {
    return "shared layout version mismatch: the primary has layout " +
           std::to_string(state.layout_version) + " (" + std::to_string(state.layout_size) +
           " bytes), this binary layout " + std::to_string(kLayoutVersion) + " (" +
           std::to_string(sizeof(SharedState)) +
           " bytes); rebuild and restart the whole group (deploy/vswitch down; deploy/vswitch up)";
  }
  return {};
}

}  // namespace vswitch
