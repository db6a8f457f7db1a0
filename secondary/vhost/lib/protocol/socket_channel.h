// vhost-user framing over a unix stream socket: a 12-byte header, `size` payload bytes,
// and file descriptors in SCM_RIGHTS ancillary data. Reads are non-blocking and resume
// where they stopped (a message may arrive in pieces); every fd received is owned by a
// UniqueFd from the moment it arrives, so an error path cannot leak it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "message.h"
#include "protocol_error.h"
#include "unique_fd.h"

namespace vswitch::vhost {

class MessageReader {
 public:
  enum class Status {
    kMessage,   // message() and fds() hold one complete message
    kNeedMore,  // the socket has no more bytes now; call again when readable
    kClosed,    // the peer closed at a message boundary
    kError,     // see the error argument; the connection must be closed
  };

  // Reads from the non-blocking socket `fd` until one message is complete, the socket
  // would block, or an error. After kMessage, call Consume() before reading the next.
  [[nodiscard]] Status Read(int fd, ProtocolError& error);

  [[nodiscard]] const Message& message() const { return msg_; }
  [[nodiscard]] std::vector<UniqueFd>& fds() { return fds_; }
  // Forgets the current message and closes any fds the handler did not take.
  void Consume();

 private:
  Message msg_;
  uint32_t have_ = 0;  // bytes of header + payload received so far
  std::vector<UniqueFd> fds_;
};

// One message's bytes (header + payload) as they go on the socket; empty when the payload
// does not match header.size or is too large. The back-end's replies carry no fds. The
// Driver sends them without waiting: a front-end that does not read must not hold up the
// session thread (driver.h).
[[nodiscard]] std::vector<uint8_t> EncodeMessage(const MessageHeader& header,
                                                 std::span<const uint8_t> payload);

// Sends raw bytes with optional fds in one sendmsg (for front-end test clients that
// want to send malformed framing). Returns bytes sent or -1.
[[nodiscard]] long SendRaw(int fd, std::span<const uint8_t> bytes, std::span<const int> fds = {});

}  // namespace vswitch::vhost
