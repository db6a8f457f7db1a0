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

// Sends one message (header + payload + optional fds), waiting up to 1 s for room in
// the socket buffer. Returns false on any error or timeout.
[[nodiscard]] bool SendMessage(int fd, const MessageHeader& header,
                               std::span<const uint8_t> payload, std::span<const int> fds = {});

// Sends raw bytes with optional fds in one sendmsg (for front-end test clients that
// want to send malformed framing). Returns bytes sent or -1.
[[nodiscard]] long SendRaw(int fd, std::span<const uint8_t> bytes, std::span<const int> fds = {});

}  // namespace vswitch::vhost
