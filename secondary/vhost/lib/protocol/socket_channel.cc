#include "socket_channel.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "message_table.h"

namespace vswitch::vhost {
namespace {

constexpr uint32_t kHeaderSize = sizeof(MessageHeader);

// Takes ownership of every SCM_RIGHTS fd in `mh`, whatever else is wrong with it.
void CollectFds(msghdr& mh, std::vector<UniqueFd>& out) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      out.emplace_back(fd);
    }
  }
}

}  // namespace

MessageReader::Status MessageReader::Read(int fd, ProtocolError& error) {
  error = ProtocolError::kNone;
  for (;;) {
    uint8_t* dst;
    uint32_t want;
    if (have_ < kHeaderSize) {
      dst = reinterpret_cast<uint8_t*>(&msg_.header) + have_;
      want = kHeaderSize - have_;
    } else {
      const uint32_t got = have_ - kHeaderSize;
      if (got == msg_.header.size) return Status::kMessage;
      dst = msg_.payload + got;
      want = msg_.header.size - got;
    }
    iovec iov{dst, want};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof(control);
    const ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Status::kNeedMore;
      error = ProtocolError::kIoError;
      return Status::kError;
    }
    CollectFds(mh, fds_);
    if ((mh.msg_flags & MSG_CTRUNC) != 0) {
      // More fds than any request carries: the kernel dropped the excess.
      error = ProtocolError::kControlTruncated;
      return Status::kError;
    }
    if (fds_.size() > kMaxFdsPerMessage) {
      error = ProtocolError::kFdCount;
      return Status::kError;
    }
    if (n == 0) {
      if (have_ == 0 && fds_.empty()) return Status::kClosed;
      error = ProtocolError::kTruncated;
      return Status::kError;
    }
    const uint32_t before = have_;
    have_ += static_cast<uint32_t>(n);
    if (before < kHeaderSize && have_ >= kHeaderSize) {
      error = ValidateHeader(msg_.header);
      if (error != ProtocolError::kNone) return Status::kError;
    }
  }
}

void MessageReader::Consume() {
  have_ = 0;
  fds_.clear();
  msg_.header = MessageHeader{};
}

long SendRaw(int fd, std::span<const uint8_t> bytes, std::span<const int> fds) {
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 64)];
  if (!fds.empty()) {
    if (fds.size() > 64) return -1;
    mh.msg_control = control;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    const ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

std::vector<uint8_t> EncodeMessage(const MessageHeader& header, std::span<const uint8_t> payload) {
  if (payload.size() != header.size || payload.size() > kMaxPayloadSize) return {};
  std::vector<uint8_t> bytes(kHeaderSize + payload.size());
  std::memcpy(bytes.data(), &header, kHeaderSize);
  if (!payload.empty()) std::memcpy(bytes.data() + kHeaderSize, payload.data(), payload.size());
  return bytes;
}

}  // namespace vswitch::vhost
