#include "message_table.h"

#include <array>
#include <cstring>

namespace vswitch::vhost {
namespace {

namespace pf = protocol_feature;
using P = PayloadRule;
using V = VringIndexField;
using R = ReplyRule;

// vhost-user.rst "Front-end message types" and "Communication" (which requests carry
// fds, which always get a reply). Requests not listed (IOTLB, config space, postcopy,
// inflight tracking, GPU, crypto, in-band kicks, back-end channel) are not offered in
// the protocol features and are refused.
constexpr std::array kTable = {
    MessageRule{Request::kGetFeatures, "VHOST_USER_GET_FEATURES", P::kNone, 0, 0, R::kAlways, V::kNone, -1},
    MessageRule{Request::kSetFeatures, "VHOST_USER_SET_FEATURES", P::kU64, 0, 0, R::kNone, V::kNone, -1},
    MessageRule{Request::kSetOwner, "VHOST_USER_SET_OWNER", P::kNone, 0, 0, R::kNone, V::kNone, -1},
    MessageRule{Request::kResetOwner, "VHOST_USER_RESET_OWNER", P::kNone, 0, 0, R::kNone, V::kNone, -1},
    // One fd per region; ValidateMessage checks fds == nregions.
    MessageRule{Request::kSetMemTable, "VHOST_USER_SET_MEM_TABLE", P::kMemTable, 1, kMemTableMaxRegions, R::kNone, V::kNone, -1},
    // Replied to when LOG_SHMFD is negotiated, which this rule requires.
    MessageRule{Request::kSetLogBase, "VHOST_USER_SET_LOG_BASE", P::kLog, 1, 1, R::kAlways, V::kNone, pf::kLogShmfd},
    MessageRule{Request::kSetLogFd, "VHOST_USER_SET_LOG_FD", P::kNone, 1, 1, R::kNone, V::kNone, -1},
    MessageRule{Request::kSetVringNum, "VHOST_USER_SET_VRING_NUM", P::kVringState, 0, 0, R::kNone, V::kState, -1},
    MessageRule{Request::kSetVringAddr, "VHOST_USER_SET_VRING_ADDR", P::kVringAddr, 0, 0, R::kNone, V::kAddr, -1},
    MessageRule{Request::kSetVringBase, "VHOST_USER_SET_VRING_BASE", P::kVringState, 0, 0, R::kNone, V::kState, -1},
    MessageRule{Request::kGetVringBase, "VHOST_USER_GET_VRING_BASE", P::kVringState, 0, 0, R::kAlways, V::kState, -1},
    // Bit 8 set: no fd (poll); clear: exactly one fd. Checked in ValidateMessage.
    MessageRule{Request::kSetVringKick, "VHOST_USER_SET_VRING_KICK", P::kU64, 0, 1, R::kNone, V::kU64Fd, -1},
    MessageRule{Request::kSetVringCall, "VHOST_USER_SET_VRING_CALL", P::kU64, 0, 1, R::kNone, V::kU64Fd, -1},
    MessageRule{Request::kSetVringErr, "VHOST_USER_SET_VRING_ERR", P::kU64, 0, 1, R::kNone, V::kU64Fd, -1},
    MessageRule{Request::kGetProtocolFeatures, "VHOST_USER_GET_PROTOCOL_FEATURES", P::kNone, 0, 0, R::kAlways, V::kNone, -1},
    MessageRule{Request::kSetProtocolFeatures, "VHOST_USER_SET_PROTOCOL_FEATURES", P::kU64, 0, 0, R::kNone, V::kNone, -1},
    MessageRule{Request::kGetQueueNum, "VHOST_USER_GET_QUEUE_NUM", P::kNone, 0, 0, R::kAlways, V::kNone, pf::kMq},
    MessageRule{Request::kSetVringEnable, "VHOST_USER_SET_VRING_ENABLE", P::kVringState, 0, 0, R::kNone, V::kState, -1},
    MessageRule{Request::kSendRarp, "VHOST_USER_SEND_RARP", P::kU64, 0, 0, R::kNone, V::kNone, pf::kRarp},
    MessageRule{Request::kNetSetMtu, "VHOST_USER_NET_SET_MTU", P::kU64, 0, 0, R::kNone, V::kNone, pf::kNetMtu},
    MessageRule{Request::kGetMaxMemSlots, "VHOST_USER_GET_MAX_MEM_SLOTS", P::kNone, 0, 0, R::kAlways, V::kNone, pf::kConfigureMemSlots},
    MessageRule{Request::kAddMemReg, "VHOST_USER_ADD_MEM_REG", P::kSingleRegion, 1, 1, R::kNone, V::kNone, pf::kConfigureMemSlots},
    // "No file descriptors SHOULD be passed ... If a file descriptor is passed, the
    // back-end MUST close it": accepted and closed.
    MessageRule{Request::kRemMemReg, "VHOST_USER_REM_MEM_REG", P::kSingleRegion, 0, 1, R::kNone, V::kNone, pf::kConfigureMemSlots},
    MessageRule{Request::kSetStatus, "VHOST_USER_SET_STATUS", P::kU64, 0, 0, R::kNone, V::kNone, pf::kStatus},
    MessageRule{Request::kGetStatus, "VHOST_USER_GET_STATUS", P::kNone, 0, 0, R::kAlways, V::kNone, pf::kStatus},
};

constexpr bool TableIsSorted() {
  for (size_t i = 1; i < kTable.size(); ++i) {
    if (static_cast<uint32_t>(kTable[i - 1].request) >= static_cast<uint32_t>(kTable[i].request)) {
      return false;
    }
  }
  return true;
}
static_assert(TableIsSorted(), "message table must be ordered by request id, no duplicates");

constexpr uint32_t kMemTableMinSize = sizeof(MemoryTableHeader) + sizeof(MemoryRegion);
constexpr uint32_t kMemTableMaxSize =
    sizeof(MemoryTableHeader) + kMemTableMaxRegions * sizeof(MemoryRegion);

bool PayloadSizeFits(PayloadRule rule, uint32_t size) {
  switch (rule) {
    case P::kNone: return size == 0;
    case P::kU64: return size == sizeof(uint64_t);
    case P::kVringState: return size == sizeof(VringState);
    case P::kVringAddr: return size == sizeof(VringAddr);
    case P::kMemTable: return size >= kMemTableMinSize && size <= kMemTableMaxSize;
    case P::kSingleRegion: return size == sizeof(SingleMemoryRegion);
    case P::kLog: return size == sizeof(LogDescription);
  }
  return false;
}

}  // namespace

std::span<const MessageRule> MessageTable() { return kTable; }

const MessageRule* FindRule(uint32_t request) {
  for (const auto& rule : kTable) {
    if (static_cast<uint32_t>(rule.request) == request) return &rule;
  }
  return nullptr;
}

const char* RequestName(uint32_t request) {
  const MessageRule* rule = FindRule(request);
  return rule != nullptr ? rule->name : "unknown";
}

ProtocolError ValidateHeader(const MessageHeader& header) {
  // vhost-user.rst "Header": version 0x1 in the low two bits; the reply bit is only set
  // on messages from the back-end.
  if ((header.flags & kVersionMask) != kVersion || (header.flags & kFlagReply) != 0) {
    return ProtocolError::kBadVersion;
  }
  if (header.size > kMaxPayloadSize) return ProtocolError::kOversized;
  return ProtocolError::kNone;
}

ValidatedMessage ValidateMessage(const Message& msg, uint32_t fd_count, uint32_t num_vrings,
                                 uint64_t protocol_features, ProtocolError& error) {
  ValidatedMessage out;
  error = ValidateHeader(msg.header);
  if (error != ProtocolError::kNone) return out;
  const MessageRule* rule = FindRule(msg.header.request);
  if (rule == nullptr) {
    error = ProtocolError::kUnknownRequest;
    return out;
  }
  if (rule->needs_protocol_feature >= 0 &&
      (protocol_features & (1ull << rule->needs_protocol_feature)) == 0) {
    error = ProtocolError::kNotNegotiated;
    return out;
  }
  const uint32_t size = msg.header.size;
  if (!PayloadSizeFits(rule->payload, size)) {
    error = ProtocolError::kPayloadSize;
    return out;
  }
  if (fd_count < rule->fds_min || fd_count > rule->fds_max) {
    error = ProtocolError::kFdCount;
    return out;
  }
  switch (rule->payload) {
    case P::kMemTable: {
      MemoryTableHeader table;
      std::memcpy(&table, msg.payload, sizeof(table));
      if (table.nregions == 0 || table.nregions > kMemTableMaxRegions ||
          sizeof(MemoryTableHeader) + uint64_t{table.nregions} * sizeof(MemoryRegion) > size) {
        error = ProtocolError::kBadMemoryTable;
        return out;
      }
      // "The size and ordering of the fds matches the number and ordering of memory
      // regions" (SET_MEM_TABLE).
      if (fd_count != table.nregions) {
        error = ProtocolError::kFdCount;
        return out;
      }
      break;
    }
    default:
      break;
  }
  // The vring index is compared at the width it was sent (u32 or u64), never after
  // narrowing it (CVE-2020-10723).
  switch (rule->vring_index) {
    case V::kNone:
      break;
    case V::kState:
    case V::kAddr: {
      uint32_t index;
      std::memcpy(&index, msg.payload, sizeof(index));
      if (index >= num_vrings) {
        error = ProtocolError::kVringIndex;
        return out;
      }
      out.vring_index = index;
      break;
    }
    case V::kU64Fd: {
      uint64_t value;
      std::memcpy(&value, msg.payload, sizeof(value));
      if ((value & ~(kVringIndexMask | kVringNoFdFlag)) != 0) {
        error = ProtocolError::kBadValue;
        return out;
      }
      if ((value & kVringIndexMask) >= num_vrings) {
        error = ProtocolError::kVringIndex;
        return out;
      }
      // SET_VRING_KICK/CALL/ERR: bit 8 says whether an fd is attached.
      const uint32_t expected_fds = (value & kVringNoFdFlag) != 0 ? 0 : 1;
      if (fd_count != expected_fds) {
        error = ProtocolError::kFdCount;
        return out;
      }
      out.vring_index = static_cast<uint32_t>(value & kVringIndexMask);
      break;
    }
  }
  out.rule = rule;
  return out;
}

}  // namespace vswitch::vhost
