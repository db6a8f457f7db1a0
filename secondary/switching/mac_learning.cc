#include "mac_learning.h"

#include "ethernet_frame.h"

namespace vswitch {

LearnDecision DecideLearning(uint32_t device, bool learned, MacKey learned_mac, MacKey src,
                             std::optional<uint32_t> owner) {
  if (learned && src == learned_mac) return {LearnAction::kNone, device};
  if (!IsValidSource(src)) return {LearnAction::kInvalidSource, 0};
  if (owner && *owner != device) return {LearnAction::kRefuse, *owner};
  // Not learned yet and nobody owns src (or a stale entry of ours): register. Once
  // learned, a source that nobody owns is routed as it is (vhost-switch learns once).
  if (!learned) return {LearnAction::kRegister, device};
  return {LearnAction::kNone, device};
}

}  // namespace vswitch
