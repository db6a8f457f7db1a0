// The vhost-user message table and framing: every malformed message is refused for the
// right reason before any handler sees it.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>

#include "feature_bits.h"
#include "message_table.h"
#include "socket_channel.h"

namespace vswitch::vhost {
namespace {

Message Make(Request r, uint32_t size, const void* payload = nullptr, uint32_t flags = kVersion) {
  Message m;
  m.header = {static_cast<uint32_t>(r), flags, size};
  if (payload != nullptr) std::memcpy(m.payload, payload, size);
  return m;
}

ProtocolError Check(const Message& m, uint32_t fds, uint64_t pf = kSupportedProtocolFeatures) {
  ProtocolError e;
  (void)ValidateMessage(m, fds, kMaxVrings, pf, e);
  return e;
}

TEST(MessageTable, CoversTheImplementedRequestsInOrder) {
  std::set<std::string> names;
  for (const auto& rule : MessageTable()) names.insert(rule.name);
  for (const char* n : {"VHOST_USER_GET_FEATURES", "VHOST_USER_SET_MEM_TABLE",
                        "VHOST_USER_GET_MAX_MEM_SLOTS", "VHOST_USER_ADD_MEM_REG",
                        "VHOST_USER_REM_MEM_REG", "VHOST_USER_SET_LOG_BASE",
                        "VHOST_USER_SET_VRING_ENABLE", "VHOST_USER_GET_STATUS",
                        "VHOST_USER_NET_SET_MTU", "VHOST_USER_SEND_RARP"}) {
    EXPECT_EQ(names.count(n), 1u) << n;
  }
  EXPECT_EQ(MessageTable().size(), 25u);
  EXPECT_STREQ(RequestName(5), "VHOST_USER_SET_MEM_TABLE");
  EXPECT_STREQ(RequestName(31), "unknown");
}

TEST(MessageTable, HeaderVersionReplyBitAndSize) {
  EXPECT_EQ(ValidateHeader({1, kVersion, 0}), ProtocolError::kNone);
  EXPECT_EQ(ValidateHeader({1, 0, 0}), ProtocolError::kBadVersion);
  EXPECT_EQ(ValidateHeader({1, 2, 0}), ProtocolError::kBadVersion);
  EXPECT_EQ(ValidateHeader({1, kVersion | kFlagReply, 0}), ProtocolError::kBadVersion);
  EXPECT_EQ(ValidateHeader({1, kVersion, kMaxPayloadSize}), ProtocolError::kNone);
  EXPECT_EQ(ValidateHeader({1, kVersion, kMaxPayloadSize + 1}), ProtocolError::kOversized);
  EXPECT_EQ(ValidateHeader({1, kVersion, 0xffffffffu}), ProtocolError::kOversized);
}

TEST(MessageTable, PayloadSizeMustMatchTheLayout) {
  const uint64_t v = 0;
  EXPECT_EQ(Check(Make(Request::kSetFeatures, 8, &v), 0), ProtocolError::kNone);
  EXPECT_EQ(Check(Make(Request::kSetFeatures, 4, &v), 0), ProtocolError::kPayloadSize);  // truncated
  EXPECT_EQ(Check(Make(Request::kSetFeatures, 16), 0), ProtocolError::kPayloadSize);     // oversized
  EXPECT_EQ(Check(Make(Request::kGetFeatures, 8), 0), ProtocolError::kPayloadSize);
  EXPECT_EQ(Check(Make(Request::kSetVringAddr, 32), 0), ProtocolError::kPayloadSize);
  EXPECT_EQ(Check(Make(Request::kSetMemTable, 8), 1), ProtocolError::kPayloadSize);
  EXPECT_EQ(Check(Make(Request::kSetMemTable, 8 + 9 * 32), 1), ProtocolError::kPayloadSize);
}

TEST(MessageTable, FdCounts) {
  const uint64_t v = 0;
  EXPECT_EQ(Check(Make(Request::kSetFeatures, 8, &v), 1), ProtocolError::kFdCount);
  EXPECT_EQ(Check(Make(Request::kSetOwner, 0), 3), ProtocolError::kFdCount);
  // Kick/call/err: bit 8 says "no fd".
  const uint64_t with_fd = 1, no_fd = 1 | kVringNoFdFlag;
  EXPECT_EQ(Check(Make(Request::kSetVringKick, 8, &with_fd), 1), ProtocolError::kNone);
  EXPECT_EQ(Check(Make(Request::kSetVringKick, 8, &with_fd), 0), ProtocolError::kFdCount);
  EXPECT_EQ(Check(Make(Request::kSetVringCall, 8, &no_fd), 0), ProtocolError::kNone);
  EXPECT_EQ(Check(Make(Request::kSetVringCall, 8, &no_fd), 1), ProtocolError::kFdCount);
  // SET_MEM_TABLE: one fd per region.
  uint8_t table[8 + 2 * 32] = {};
  const uint32_t two = 2;
  std::memcpy(table, &two, 4);
  EXPECT_EQ(Check(Make(Request::kSetMemTable, sizeof(table), table), 2), ProtocolError::kNone);
  EXPECT_EQ(Check(Make(Request::kSetMemTable, sizeof(table), table), 1), ProtocolError::kFdCount);
  EXPECT_EQ(Check(Make(Request::kSetMemTable, sizeof(table), table), 3), ProtocolError::kFdCount);
  const uint32_t three = 3;  // more regions than the payload holds
  std::memcpy(table, &three, 4);
  EXPECT_EQ(Check(Make(Request::kSetMemTable, sizeof(table), table), 3),
            ProtocolError::kBadMemoryTable);
  const uint32_t zero = 0;
  std::memcpy(table, &zero, 4);
  EXPECT_EQ(Check(Make(Request::kSetMemTable, sizeof(table), table), 1),
            ProtocolError::kBadMemoryTable);
  // REM_MEM_REG may carry one stray fd (to be closed), not two.
  uint8_t single[40] = {};
  EXPECT_EQ(Check(Make(Request::kRemMemReg, 40, single), 1), ProtocolError::kNone);
  EXPECT_EQ(Check(Make(Request::kRemMemReg, 40, single), 2), ProtocolError::kFdCount);
  EXPECT_EQ(Check(Make(Request::kAddMemReg, 40, single), 0), ProtocolError::kFdCount);
}

TEST(MessageTable, UnknownAndUnofferedRequests) {
  EXPECT_EQ(Check(Make(static_cast<Request>(200), 0), 0), ProtocolError::kUnknownRequest);
  EXPECT_EQ(Check(Make(Request::kGetInflightFd, 24), 0), ProtocolError::kUnknownRequest);
  EXPECT_EQ(Check(Make(Request::kIotlbMsg, 0), 0), ProtocolError::kUnknownRequest);
  EXPECT_EQ(Check(Make(Request::kNone, 0), 0), ProtocolError::kUnknownRequest);
  // Gated by a protocol feature that was not negotiated.
  EXPECT_EQ(Check(Make(Request::kGetStatus, 0), 0, 0), ProtocolError::kNotNegotiated);
  EXPECT_EQ(Check(Make(Request::kGetMaxMemSlots, 0), 0, 0), ProtocolError::kNotNegotiated);
  EXPECT_EQ(Check(Make(Request::kGetStatus, 0), 0), ProtocolError::kNone);
}

TEST(MessageTable, VringIndexCheckedBeforeNarrowing) {
  VringState s{kMaxVrings - 1, 256};
  EXPECT_EQ(Check(Make(Request::kSetVringNum, 8, &s), 0), ProtocolError::kNone);
  s.index = kMaxVrings;
  EXPECT_EQ(Check(Make(Request::kSetVringNum, 8, &s), 0), ProtocolError::kVringIndex);
  s.index = 0x10000;  // 0 after a 16-bit truncation (CVE-2020-10723)
  EXPECT_EQ(Check(Make(Request::kSetVringBase, 8, &s), 0), ProtocolError::kVringIndex);
  s.index = 0xffffffffu;
  EXPECT_EQ(Check(Make(Request::kGetVringBase, 8, &s), 0), ProtocolError::kVringIndex);
  VringAddr a{};
  a.index = 0x100;
  EXPECT_EQ(Check(Make(Request::kSetVringAddr, 40, &a), 0), ProtocolError::kVringIndex);
  const uint64_t call = kMaxVrings | kVringNoFdFlag;
  EXPECT_EQ(Check(Make(Request::kSetVringCall, 8, &call), 0), ProtocolError::kVringIndex);
  const uint64_t high = (1ull << 32) | kVringNoFdFlag;  // index 0 after truncation
  EXPECT_EQ(Check(Make(Request::kSetVringCall, 8, &high), 0), ProtocolError::kBadValue);
}

class ReaderTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv_), 0); }
  void TearDown() override {
    if (sv_[0] >= 0) close(sv_[0]);
    if (sv_[1] >= 0) close(sv_[1]);
  }
  int sv_[2] = {-1, -1};
};

TEST_F(ReaderTest, MessageInPiecesWithFds) {
  MessageReader reader;
  ProtocolError e;
  const uint64_t value = 5;
  MessageHeader h{static_cast<uint32_t>(Request::kSetVringCall), kVersion, 8};
  const int efd = eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  // Header in two pieces, the first carrying the fd, then the payload.
  ASSERT_EQ(SendRaw(sv_[1], std::span(reinterpret_cast<const uint8_t*>(&h), 5), std::span(&efd, 1)), 5);
  close(efd);
  EXPECT_EQ(reader.Read(sv_[0], e), MessageReader::Status::kNeedMore);
  ASSERT_EQ(SendRaw(sv_[1], std::span(reinterpret_cast<const uint8_t*>(&h) + 5, 7)), 7);
  EXPECT_EQ(reader.Read(sv_[0], e), MessageReader::Status::kNeedMore);
  ASSERT_EQ(SendRaw(sv_[1], std::span(reinterpret_cast<const uint8_t*>(&value), 8)), 8);
  ASSERT_EQ(reader.Read(sv_[0], e), MessageReader::Status::kMessage);
  EXPECT_EQ(reader.message().request(), Request::kSetVringCall);
  ASSERT_EQ(reader.fds().size(), 1u);
  uint64_t got;
  std::memcpy(&got, reader.message().payload, 8);
  EXPECT_EQ(got, 5u);
  reader.Consume();
  EXPECT_TRUE(reader.fds().empty());
  close(sv_[1]);
  sv_[1] = -1;
  EXPECT_EQ(reader.Read(sv_[0], e), MessageReader::Status::kClosed);
}

TEST_F(ReaderTest, TruncatedOversizedAndTooManyFds) {
  {
    MessageReader reader;
    ProtocolError e;
    MessageHeader h{2, kVersion, 8};
    ASSERT_EQ(SendRaw(sv_[1], std::span(reinterpret_cast<const uint8_t*>(&h), 12)), 12);
    ASSERT_EQ(SendRaw(sv_[1], std::span(reinterpret_cast<const uint8_t*>(&h), 4)), 4);
    shutdown(sv_[1], SHUT_WR);
    EXPECT_EQ(reader.Read(sv_[0], e), MessageReader::Status::kError);
    EXPECT_EQ(e, ProtocolError::kTruncated);
  }
  TearDown();
  SetUp();
  {
    MessageReader reader;
    ProtocolError e;
    MessageHeader h{2, kVersion, 1u << 20};
    ASSERT_EQ(SendRaw(sv_[1], std::span(reinterpret_cast<const uint8_t*>(&h), 12)), 12);
    EXPECT_EQ(reader.Read(sv_[0], e), MessageReader::Status::kError);
    EXPECT_EQ(e, ProtocolError::kOversized);
  }
  TearDown();
  SetUp();
  {
    MessageReader reader;
    ProtocolError e;
    MessageHeader h{3, kVersion, 0};
    int fds[12];
    for (int& f : fds) f = eventfd(0, EFD_CLOEXEC);
    ASSERT_EQ(SendRaw(sv_[1], std::span(reinterpret_cast<const uint8_t*>(&h), 12), fds), 12);
    for (int f : fds) close(f);
    EXPECT_EQ(reader.Read(sv_[0], e), MessageReader::Status::kError);
    EXPECT_EQ(e, ProtocolError::kControlTruncated);
  }
}

}  // namespace
}  // namespace vswitch::vhost
