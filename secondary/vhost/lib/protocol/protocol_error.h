// Why the back-end closed a vhost-user connection. Each reason is counted (Driver's
// ProtocolErrorCount) and logged; none of them affects another device.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vswitch::vhost {

enum class ProtocolError : uint8_t {
  kNone = 0,
  kTruncated,          // the peer closed in the middle of a message
  kOversized,          // header.size above kMaxPayloadSize
  kBadVersion,         // flags' version bits are not 0x1, or the reply bit is set
  kUnknownRequest,     // a request id this back-end does not implement
  kPayloadSize,        // header.size does not fit the request's payload layout
  kFdCount,            // more or fewer fds than the request carries
  kControlTruncated,   // more fds than one message may carry (MSG_CTRUNC)
  kVringIndex,         // vring index at or above the number of vrings
  kNotNegotiated,      // request gated by a protocol feature that was not negotiated
  kBadFeatures,        // SET_FEATURES / SET_PROTOCOL_FEATURES outside what was offered
  kBadMemoryTable,     // region count, zero size, arithmetic overflow, fd mismatch
  kRegionOverlap,      // two regions overlap in guest-physical or user address space
  kTooManyRegions,     // more regions than GET_MAX_MEM_SLOTS allows
  kMmapFailed,         // mapping a region or the log failed
  kUnknownRegion,      // REM_MEM_REG for a region that is not mapped
  kBadVringNum,        // SET_VRING_NUM outside [1, 32768], or (split) not a power of two
  kBadVringAddr,       // ring addresses do not translate to contiguous host memory
  kBadVringBase,       // SET_VRING_BASE above 0xffff (split), or an index outside the ring (packed)
  kBadValue,           // another out-of-range field (enable flag, MTU, status)
  kBadLogBase,         // SET_LOG_BASE size/offset overflow or zero size
  kIoError,            // recvmsg/sendmsg failed
  kGuestMemoryFault,   // guest memory faulted (SIGBUS): the front-end shrank its file
  kCount,
};

inline constexpr size_t kProtocolErrorCount = static_cast<size_t>(ProtocolError::kCount);

[[nodiscard]] constexpr const char* ProtocolErrorName(ProtocolError e) {
  switch (e) {
    case ProtocolError::kNone: return "none";
    case ProtocolError::kTruncated: return "truncated";
    case ProtocolError::kOversized: return "oversized";
    case ProtocolError::kBadVersion: return "bad_version";
    case ProtocolError::kUnknownRequest: return "unknown_request";
    case ProtocolError::kPayloadSize: return "payload_size";
    case ProtocolError::kFdCount: return "fd_count";
    case ProtocolError::kControlTruncated: return "control_truncated";
    case ProtocolError::kVringIndex: return "vring_index";
    case ProtocolError::kNotNegotiated: return "not_negotiated";
    case ProtocolError::kBadFeatures: return "bad_features";
    case ProtocolError::kBadMemoryTable: return "bad_memory_table";
    case ProtocolError::kRegionOverlap: return "region_overlap";
    case ProtocolError::kTooManyRegions: return "too_many_regions";
    case ProtocolError::kMmapFailed: return "mmap_failed";
    case ProtocolError::kUnknownRegion: return "unknown_region";
    case ProtocolError::kBadVringNum: return "bad_vring_num";
    case ProtocolError::kBadVringAddr: return "bad_vring_addr";
    case ProtocolError::kBadVringBase: return "bad_vring_base";
    case ProtocolError::kBadValue: return "bad_value";
    case ProtocolError::kBadLogBase: return "bad_log_base";
    case ProtocolError::kIoError: return "io_error";
    case ProtocolError::kGuestMemoryFault: return "guest_memory_fault";
    case ProtocolError::kCount: break;
  }
  return "?";
}

}  // namespace vswitch::vhost
