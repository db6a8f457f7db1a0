// The one table that says, for every request the back-end accepts, its name, its payload
// layout, how many fds it may carry, whether it always gets a reply, which protocol
// feature gates it and where its vring index lives. Every received message is checked
// against it before any handler runs; anything absent from the table is refused
// (fail closed).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "message.h"
#include "protocol_error.h"

namespace vswitch::vhost {

enum class PayloadRule : uint8_t {
  kNone,         // size == 0
  kU64,          // size == 8
  kVringState,   // size == sizeof(VringState)
  kVringAddr,    // size == sizeof(VringAddr)
  kMemTable,     // 8 + nregions * 32 <= size <= 8 + 8 * 32, 1 <= nregions <= 8
  kSingleRegion, // size == sizeof(SingleMemoryRegion)
  kLog,          // size == sizeof(LogDescription)
};

// Where the message names a vring (checked against the vring limit before any use).
enum class VringIndexField : uint8_t {
  kNone,
  kState,      // VringState::index (u32)
  kAddr,       // VringAddr::index (u32)
  kU64Fd,      // u64 bits 0-7, bit 8 = no fd, other bits must be 0
};

enum class ReplyRule : uint8_t {
  kNone,      // a reply only when REPLY_ACK is negotiated and need_reply is set
  kAlways,    // the request has its own reply payload
};

struct MessageRule {
  Request request;
  const char* name;
  PayloadRule payload;
  uint8_t fds_min;
  uint8_t fds_max;
  ReplyRule reply;
  VringIndexField vring_index;
  int8_t needs_protocol_feature;  // -1: none
};

// The whole table, ordered by request id.
[[nodiscard]] std::span<const MessageRule> MessageTable();

// The rule for `request`, or nullptr when the back-end does not accept it.
[[nodiscard]] const MessageRule* FindRule(uint32_t request);

// The request's name for logs ("VHOST_USER_SET_MEM_TABLE"), "unknown" otherwise.
[[nodiscard]] const char* RequestName(uint32_t request);

// Checks header flags and size against the largest payload, before the payload is read.
[[nodiscard]] ProtocolError ValidateHeader(const MessageHeader& header);

struct ValidatedMessage {
  const MessageRule* rule = nullptr;
  std::optional<uint32_t> vring_index;  // when the request names one
};

// Checks a complete message: known request, payload size for its layout, fd count, the
// vring index (as sent, before any narrowing) against `num_vrings`, and the gating
// protocol feature against `protocol_features`. On failure `error` is set; the caller
// must close the fds and the connection.
[[nodiscard]] ValidatedMessage ValidateMessage(const Message& msg, uint32_t fd_count,
                                               uint32_t num_vrings, uint64_t protocol_features,
                                               ProtocolError& error);

}  // namespace vswitch::vhost
