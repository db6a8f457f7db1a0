// vhost-user wire format: the message header, the request ids and every payload layout
// the back-end accepts (QEMU docs/interop/vhost-user.rst, "Message Specification").
// All numbers are in the machine's native byte order. Layouts are checked at compile time.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vswitch::vhost {

// vhost-user.rst "Front-end message types": the request ids the front-end sends.
enum class Request : uint32_t {
  kNone = 0,
  kGetFeatures = 1,
  kSetFeatures = 2,
  kSetOwner = 3,
  kResetOwner = 4,
  kSetMemTable = 5,
  kSetLogBase = 6,
  kSetLogFd = 7,
  kSetVringNum = 8,
  kSetVringAddr = 9,
  kSetVringBase = 10,
  kGetVringBase = 11,
  kSetVringKick = 12,
  kSetVringCall = 13,
  kSetVringErr = 14,
  kGetProtocolFeatures = 15,
  kSetProtocolFeatures = 16,
  kGetQueueNum = 17,
  kSetVringEnable = 18,
  kSendRarp = 19,
  kNetSetMtu = 20,
  kSetBackendReqFd = 21,
  kIotlbMsg = 22,
  kSetVringEndian = 23,
  kGetConfig = 24,
  kSetConfig = 25,
  kCreateCryptoSession = 26,
  kCloseCryptoSession = 27,
  kPostcopyAdvise = 28,
  kPostcopyListen = 29,
  kPostcopyEnd = 30,
  kGetInflightFd = 31,
  kSetInflightFd = 32,
  kGpuSetSocket = 33,
  kResetDevice = 34,
  kVringKick = 35,
  kGetMaxMemSlots = 36,
  kAddMemReg = 37,
  kRemMemReg = 38,
  kSetStatus = 39,
  kGetStatus = 40,
};

// vhost-user.rst "Header": flags field.
inline constexpr uint32_t kVersionMask = 0x3;
inline constexpr uint32_t kVersion = 0x1;
inline constexpr uint32_t kFlagReply = 1u << 2;
inline constexpr uint32_t kFlagNeedReply = 1u << 3;

// vhost-user.rst "Protocol features".
namespace protocol_feature {
inline constexpr unsigned kMq = 0;
inline constexpr unsigned kLogShmfd = 1;
inline constexpr unsigned kRarp = 2;
inline constexpr unsigned kReplyAck = 3;
inline constexpr unsigned kNetMtu = 4;
inline constexpr unsigned kBackendReq = 5;
inline constexpr unsigned kInflightShmfd = 12;
inline constexpr unsigned kConfigureMemSlots = 15;
inline constexpr unsigned kStatus = 16;
}  // namespace protocol_feature

// SET_VRING_KICK / SET_VRING_CALL / SET_VRING_ERR u64 payload: bits 0-7 the vring
// index, bit 8 "no file descriptor" (poll instead). Every other bit must be zero.
inline constexpr uint64_t kVringIndexMask = 0xff;
inline constexpr uint64_t kVringNoFdFlag = 1u << 8;

// The baseline number of regions in SET_MEM_TABLE (vhost-user.rst "Memory regions
// description": region0 ... region7).
inline constexpr uint32_t kMemTableMaxRegions = 8;

// VHOST_VRING_F_LOG: SET_VRING_ADDR flags bit 0, log used-ring writes (vhost-user.rst
// "Migration").
inline constexpr uint32_t kVringAddrFlagLog = 1u << 0;

// The dirty log's page size, VHOST_LOG_PAGE (vhost-user.rst "Migration").
inline constexpr uint64_t kLogPageSize = 0x1000;

struct MessageHeader {
  uint32_t request;
  uint32_t flags;
  uint32_t size;
};
static_assert(sizeof(MessageHeader) == 12);
static_assert(offsetof(MessageHeader, size) == 8);

// "A vring state description".
struct VringState {
  uint32_t index;
  uint32_t num;
};
static_assert(sizeof(VringState) == 8);

// "A vring address description". The addresses are front-end user addresses (no IOMMU).
struct VringAddr {
  uint32_t index;
  uint32_t flags;
  uint64_t desc_user_addr;
  uint64_t used_user_addr;
  uint64_t avail_user_addr;
  uint64_t log_guest_addr;
};
static_assert(sizeof(VringAddr) == 40);
static_assert(offsetof(VringAddr, desc_user_addr) == 8);
static_assert(offsetof(VringAddr, used_user_addr) == 16);
static_assert(offsetof(VringAddr, avail_user_addr) == 24);
static_assert(offsetof(VringAddr, log_guest_addr) == 32);

// One region of "Memory regions description" and "Single memory region description".
struct MemoryRegion {
  uint64_t guest_phys_addr;
  uint64_t memory_size;
  uint64_t userspace_addr;
  uint64_t mmap_offset;
};
static_assert(sizeof(MemoryRegion) == 32);

// SET_MEM_TABLE's payload header; `nregions` regions follow.
struct MemoryTableHeader {
  uint32_t nregions;
  uint32_t padding;
};
static_assert(sizeof(MemoryTableHeader) == 8);

// ADD_MEM_REG / REM_MEM_REG: "Single memory region description".
struct SingleMemoryRegion {
  uint64_t padding;
  MemoryRegion region;
};
static_assert(sizeof(SingleMemoryRegion) == 40);
static_assert(offsetof(SingleMemoryRegion, region) == 8);

// SET_LOG_BASE: "Log description".
struct LogDescription {
  uint64_t mmap_size;
  uint64_t mmap_offset;
};
static_assert(sizeof(LogDescription) == 16);

// GET_INFLIGHT_FD / SET_INFLIGHT_FD: "Inflight description" (not offered; its size is
// known so that a message carrying it is rejected for the right reason).
struct InflightDescription {
  uint64_t mmap_size;
  uint64_t mmap_offset;
  uint16_t num_queues;
  uint16_t queue_size;
  uint32_t padding;
};
static_assert(sizeof(InflightDescription) == 24);

// The largest payload a valid request carries: SET_MEM_TABLE with 8 regions is 264
// bytes, GET/SET_CONFIG at most 12 + 256. Anything above this is refused unread.
inline constexpr uint32_t kMaxPayloadSize = 4096;

// At most this many fds travel with one message (SET_MEM_TABLE: one per region).
inline constexpr uint32_t kMaxFdsPerMessage = kMemTableMaxRegions;

// A received message: header plus payload bytes (payload.size() == header.size).
struct Message {
  MessageHeader header{};
  alignas(8) uint8_t payload[kMaxPayloadSize]{};

  [[nodiscard]] Request request() const { return static_cast<Request>(header.request); }
  [[nodiscard]] bool need_reply() const { return (header.flags & kFlagNeedReply) != 0; }
};

}  // namespace vswitch::vhost
