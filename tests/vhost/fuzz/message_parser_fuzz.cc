// libFuzzer target: the vhost-user message parser. The input is the byte stream a
// front-end writes to the socket (in pieces of fuzzer-chosen sizes, some carrying fds);
// MessageReader frames it, ValidateMessage checks each message against the message
// table, and the payload of a memory-table / region / log message goes through the
// same range checks a device applies (GuestMemoryTable, DirtyLog arithmetic) without
// mapping anything. Nothing may crash, read past the stream, or leak an fd.
//
// Input: byte 0 bits 0-1 fds to attach to the first piece, bits 2-7 piece size
// (1..64 bytes, 0 = all at once); byte 1 protocol features selector; then the stream.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "feature_bits.h"
#include "guest_memory.h"
#include "message.h"
#include "message_table.h"
#include "socket_channel.h"

using namespace vswitch::vhost;

namespace {

void Exercise(const Message& msg, const ValidatedMessage& v) {
  if (v.rule == nullptr) return;
  GuestMemoryTable table;
  static uint8_t dummy[1];
  switch (v.rule->payload) {
    case PayloadRule::kMemTable: {
      MemoryTableHeader h;
      std::memcpy(&h, msg.payload, sizeof(h));
      for (uint32_t i = 0; i < h.nregions && i < kMemTableMaxRegions; ++i) {
        MemoryRegion r;
        std::memcpy(&r, msg.payload + sizeof(h) + i * sizeof(r), sizeof(r));
        // AddHost runs the overflow / overlap / slot checks; `dummy` is never touched.
        (void)table.AddHost(r, dummy);
      }
      for (size_t i = 0; i < table.size(); ++i) (void)table.Translate(table.region(i).guest_phys_addr, ~0ull);
      break;
    }
    case PayloadRule::kSingleRegion: {
      SingleMemoryRegion s;
      std::memcpy(&s, msg.payload, sizeof(s));
      (void)table.AddHost(s.region, dummy);
      (void)table.Remove(s.region);
      break;
    }
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint32_t nfds = data[0] & 3;
  const size_t piece = (data[0] >> 2) == 0 ? size : (data[0] >> 2);
  const uint64_t pf = data[1] & 1 ? kSupportedProtocolFeatures : 0;
  data += 2;
  size -= 2;

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) return 0;
  int fds[3];
  for (uint32_t i = 0; i < nfds; ++i) fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
  MessageReader reader;
  size_t off = 0;
  bool first = true;
  bool done = false;
  while (!done) {
    if (off < size) {
      const size_t n = std::min(piece, size - off);
      const long sent = SendRaw(sv[1], std::span(data + off, n),
                                first ? std::span<const int>(fds, nfds) : std::span<const int>());
      if (sent > 0) {
        off += static_cast<size_t>(sent);
        first = false;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        off = size;  // cannot send: read what arrived, then stop
      }
      if (off >= size) shutdown(sv[1], SHUT_WR);
    }
    for (;;) {
      ProtocolError e = ProtocolError::kNone;
      const auto st = reader.Read(sv[0], e);
      if (st == MessageReader::Status::kMessage) {
        ProtocolError ve = ProtocolError::kNone;
        const auto v = ValidateMessage(reader.message(), static_cast<uint32_t>(reader.fds().size()),
                                       kMaxVrings, pf, ve);
        if (ve == ProtocolError::kNone) Exercise(reader.message(), v);
        reader.Consume();
        continue;
      }
      if (st == MessageReader::Status::kNeedMore && off < size) break;
      done = true;  // closed, error, or everything sent and read
      break;
    }
  }
  for (uint32_t i = 0; i < nfds; ++i) close(fds[i]);
  close(sv[0]);
  close(sv[1]);
  return 0;
}
