// Why vswitch-vhost's dequeue zero-copy copied a guest packet instead of passing it by
// reference: one enumerator per reason, with the text an operator reads in the Prometheus
// help. Same order as the vhost library's vhost::ZeroCopyCopyReason (checked where the
// counters are copied into shared memory).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vswitch {

enum class ZeroCopyCopyReason : uint32_t {
  kBelowThreshold = 0,  // shorter than 512 bytes
  kCapReached,          // half the TX queue already in flight
  kRegionNotShared,     // vswitch-switching has not mapped (acknowledged) the region
  kOther,               // no mbufs, too many pieces, an offload header it cannot apply
  kCount
};
inline constexpr std::size_t kZeroCopyCopyReasonCount =
    static_cast<std::size_t>(ZeroCopyCopyReason::kCount);

struct ZeroCopyCopyReasonInfo {
  std::string_view name;  // metric label value
  std::string_view help;
};

inline constexpr std::array<ZeroCopyCopyReasonInfo, kZeroCopyCopyReasonCount> kZeroCopyCopyReasons = {{
    {"below_threshold", "shorter than the 512-byte threshold: copying small packets is cheaper"},
    {"cap_reached", "half the guest's TX queue was already in flight by reference: the consumer "
                    "holds packets long (a slow port or guest)"},
    {"region_not_acknowledged", "vswitch-switching had not mapped the guest memory region: "
                                "just after a guest connected or switching restarted, or its "
                                "address was taken there (see vswitch_zero_copy_mapping_refusals_total)"},
    {"other", "no mbufs for the chain, too many pieces, or an offload header that does not fit"},
}};

}  // namespace vswitch
