#include "driver.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "vhost_log.h"
#include "message_table.h"

namespace vswitch::vhost {

struct Driver::Socket {
  std::string path;
  uint64_t flags = 0;
  SocketOptions options;
  UniqueFd listen_fd;   // server mode
  uint64_t listen_id = 0;
  std::set<uint64_t> connections;
  bool closing = false;  // being unregistered: no reconnect

  [[nodiscard]] bool client() const { return (flags & kRegisterClient) != 0; }
  [[nodiscard]] bool reconnect() const { return (flags & kRegisterNoReconnect) == 0; }
};

struct Driver::Connection {
  uint64_t id = 0;
  UniqueFd fd;
  Socket* socket = nullptr;
  Device* device = nullptr;
  MessageReader reader;
  // Reply bytes the socket did not take yet (the front-end is not reading); the
  // connection is not read while this holds any.
  std::vector<uint8_t> outbox;
  size_t outbox_sent = 0;
  bool waiting_for_room = false;  // epoll watches for EPOLLOUT instead of EPOLLIN
};

namespace {

constexpr int kMessagesPerWakeup = 64;  // one connection cannot starve the others

uint64_t Token(uint8_t kind, uint64_t id) { return (uint64_t{kind} << 56) | (id & ((1ull << 56) - 1)); }

bool FillAddress(const std::string& path, sockaddr_un& addr) {
  addr = sockaddr_un{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) return false;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return true;
}

UniqueFd UnixSocket() {
  return UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

// 0: connected; otherwise errno.
int ConnectUnix(int fd, const std::string& path) {
  sockaddr_un addr;
  if (!FillAddress(path, addr)) return ENAMETOOLONG;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return 0;
  return errno;
}

}  // namespace

Driver::Driver() {
  epoll_fd_.Reset(epoll_create1(EPOLL_CLOEXEC));
  kick_epoll_fd_.Reset(epoll_create1(EPOLL_CLOEXEC));
  wake_fd_.Reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  timer_fd_.Reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  itimerspec spec{};
  spec.it_interval.tv_sec = 1;  // client-mode reconnect: every second
  spec.it_value.tv_sec = 1;
  if (timer_fd_) (void)timerfd_settime(timer_fd_.get(), 0, &spec, nullptr);
  (void)AddToEpoll(wake_fd_.get(), Kind::kWake, 0);
  (void)AddToEpoll(timer_fd_.get(), Kind::kTimer, 0);
  // A front-end that shrinks its memory file must cost its own connection, not the
  // process (guest_fault_guard.h).
  std::string why;
  if (!InstallGuestFaultHandler(&why)) {
    Log(LogLevel::kWarning, "VHOST_CONFIG: %s: a guest memory fault will end the process", why.c_str());
  }
  fault_fd_.Reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  faults_seen_ = GuestFaultCount();
  if (fault_fd_) (void)AddToEpoll(fault_fd_.get(), Kind::kFault, 0);
  for (auto& d : devices_) d.store(nullptr);
}

Driver::~Driver() {
  SessionStop();
  stop_.store(true);
  std::lock_guard lock(mu_);
  while (!sockets_.empty()) (void)Unregister(sockets_.begin()->first);
  for (auto& d : device_storage_) {
    if (d && d->open()) d->Close();
  }
}

bool Driver::AddToEpoll(int fd, Kind kind, uint64_t id) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = Token(static_cast<uint8_t>(kind), id);
  return epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
}

void Driver::WatchKick(int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  (void)epoll_ctl(kick_epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev);
}

void Driver::UnwatchKick(int fd) { epoll_ctl(kick_epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr); }

uint32_t Driver::DrainKicks() {
  epoll_event events[64];
  const int n = epoll_wait(kick_epoll_fd_.get(), events, 64, 0);
  for (int i = 0; i < n; ++i) {
    // We are the kick eventfds' only reader and epoll saw a count: this read returns.
    uint64_t value;
    [[maybe_unused]] const ssize_t r = read(events[i].data.fd, &value, sizeof(value));
  }
  return n > 0 ? static_cast<uint32_t>(n) : 0;
}

void Driver::CallbackRegister(const DeviceOps& ops) {
  std::lock_guard lock(mu_);
  ops_ = ops;
}

int Driver::FeatureDisable(uint64_t mask) {
  if ((mask & kMandatoryFeatures) != 0) return -1;
  features_.fetch_and(~mask);
  return 0;
}

int Driver::FeatureEnable(uint64_t mask) {
  if ((mask & ~kSupportedFeatures) != 0) return -1;
  features_.fetch_or(mask);
  return 0;
}

int Driver::Register(const std::string& path, uint64_t flags, const SocketOptions& options,
                     std::string* error) {
  auto fail = [&](const std::string& what) {
    Log(LogLevel::kError, "VHOST_CONFIG: %s", what.c_str());
    if (error != nullptr) *error = what;
    return -1;
  };
  std::lock_guard lock(mu_);
  if (sockets_.count(path) != 0) return fail("socket " + path + " is already registered");
  if ((flags & ~(kRegisterClient | kRegisterNoReconnect | kRegisterDequeueZeroCopy)) != 0) {
    return fail("unknown register flags for " + path);
  }
  sockaddr_un addr;
  if (!FillAddress(path, addr)) return fail("socket path too long or empty: " + path);
  auto socket = std::make_unique<Socket>();
  socket->path = path;
  socket->flags = flags;
  socket->options = options;
  if ((flags & kRegisterDequeueZeroCopy) != 0) {
    Log(LogLevel::kInfo,
        "VHOST_CONFIG: %s: dequeue zero-copy: guest TX packets of %u bytes or more are passed "
        "by reference%s", path.c_str(), kZeroCopyDefaultThreshold,
        sharer_ != nullptr ? " to processes that map the published guest memory"
                           : "; read them only in this process");
  }
  if (socket->client()) {
    Socket& s = *socket;
    sockets_[path] = std::move(socket);
    if (!TryConnect(s) && !s.reconnect()) {
      sockets_.erase(path);
      return fail("cannot connect to " + path + " (no reconnect): " + std::strerror(errno));
    }
    return 0;
  }
  UniqueFd fd = UnixSocket();
  if (!fd) return fail(std::string("socket(): ") + std::strerror(errno));
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EADDRINUSE) return fail("bind " + path + ": " + std::strerror(errno));
    struct stat st{};
    if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
      return fail(path + " exists and is not a socket");
    }
    UniqueFd probe = UnixSocket();
    const int rc = probe ? ConnectUnix(probe.get(), path) : errno;
    if (rc == 0 || rc == EAGAIN) {
      return fail("socket " + path + " is in use: another process is listening on it");
    }
    // Nobody listens: a stale file from a process that died. Replace it.
    Log(LogLevel::kInfo, "VHOST_CONFIG: removing stale socket %s", path.c_str());
    if (unlink(path.c_str()) != 0 ||
        bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return fail("bind " + path + ": " + std::strerror(errno));
    }
  }
  if (listen(fd.get(), 128) != 0) {
    unlink(path.c_str());
    return fail("listen " + path + ": " + std::strerror(errno));
  }
  if (chmod(path.c_str(), options.mode) != 0 ||
      ((options.owner || options.group) &&
       chown(path.c_str(), options.owner.value_or(static_cast<uid_t>(-1)),
             options.group.value_or(static_cast<gid_t>(-1))) != 0)) {
    const std::string why = std::strerror(errno);
    unlink(path.c_str());
    return fail("set owner/mode of " + path + ": " + why);
  }
  socket->listen_id = next_id_++;
  if (!AddToEpoll(fd.get(), Kind::kListen, socket->listen_id)) {
    unlink(path.c_str());
    return fail(std::string("epoll: ") + std::strerror(errno));
  }
  socket->listen_fd = std::move(fd);
  listen_ids_[socket->listen_id] = socket.get();
  Log(LogLevel::kInfo, "VHOST_CONFIG: vhost-user server: socket created, fd %d, path %s",
      socket->listen_fd.get(), path.c_str());
  sockets_[path] = std::move(socket);
  return 0;
}

int Driver::Unregister(const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = sockets_.find(path);
  if (it == sockets_.end()) return -1;
  Socket& s = *it->second;
  s.closing = true;
  const std::set<uint64_t> conns = s.connections;
  for (uint64_t id : conns) {
    // The front-end is still there and may resume with another back-end: it gets its
    // zero-copy chains back first (Device::Leave).
    if (auto c = connections_.find(id); c != connections_.end()) c->second->device->Leave();
    CloseConnection(id, ProtocolError::kNone);
  }
  if (s.listen_fd) {
    epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, s.listen_fd.get(), nullptr);
    listen_ids_.erase(s.listen_id);
    s.listen_fd.Reset();
    unlink(path.c_str());
  }
  sockets_.erase(it);
  return 0;
}

bool Driver::TryConnect(Socket& socket) {
  UniqueFd fd = UnixSocket();
  if (!fd) return false;
  const int rc = ConnectUnix(fd.get(), socket.path);
  if (rc != 0) {
    errno = rc;
    return false;
  }
  Log(LogLevel::kInfo, "VHOST_CONFIG: vhost-user client: connected to %s", socket.path.c_str());
  AddConnection(socket, std::move(fd));
  return true;
}

void Driver::ReconnectClients() {
  for (auto& [path, socket] : sockets_) {
    if (socket->client() && socket->reconnect() && socket->connections.empty()) {
      (void)TryConnect(*socket);
    }
  }
}

Device* Driver::DeviceFor(int vid) const {
  if (vid < 0 || vid >= kMaxDevices) return nullptr;
  return devices_[vid].load(std::memory_order_acquire);
}

Device* Driver::OpenDevice(int vid) const {
  Device* d = DeviceFor(vid);
  return (d != nullptr && d->open()) ? d : nullptr;
}

void Driver::AddConnection(Socket& socket, UniqueFd fd) {
  int vid = -1;
  for (int i = 0; i < kMaxDevices; ++i) {
    if (!device_storage_[i] || !device_storage_[i]->open()) {
      vid = i;
      break;
    }
  }
  if (vid < 0) {
    Log(LogLevel::kError, "VHOST_CONFIG: %s: no free device slot, connection refused",
        socket.path.c_str());
    return;
  }
  if (!device_storage_[vid]) {
    // Device objects live as long as the driver, so a datapath thread holding a stale
    // vid finds a closed device (0 packets), never freed memory.
    device_storage_[vid] = std::make_unique<Device>(vid);
    devices_[vid].store(device_storage_[vid].get(), std::memory_order_release);
  }
  auto conn = std::make_unique<Connection>();
  conn->id = next_id_++;
  conn->fd = std::move(fd);
  conn->socket = &socket;
  conn->device = device_storage_[vid].get();
  if (!AddToEpoll(conn->fd.get(), Kind::kConnection, conn->id)) {
    Log(LogLevel::kError, "VHOST_CONFIG: epoll: %s", std::strerror(errno));
    return;
  }
  const bool zero_copy = (socket.flags & kRegisterDequeueZeroCopy) != 0;
  conn->device->Open(socket.path, features_.load() & ~(zero_copy ? kFeatureInOrder : 0), &ops_, this);
  conn->device->set_dequeue_zero_copy(zero_copy);
  conn->device->set_mapping_sharer(sharer_);
  conn->device->set_packed_records(packed_records_);
  conn->device->set_fault_owner(GuardOwner{conn->id, static_cast<uint64_t>(vid), 0, fault_fd_.get()});
  socket.connections.insert(conn->id);
  Log(LogLevel::kInfo, "VHOST_CONFIG: (%d) new vhost-user connection on %s (fd %d)", vid,
      socket.path.c_str(), conn->fd.get());
  connections_[conn->id] = std::move(conn);
}

void Driver::Accept(Socket& socket) {
  for (;;) {
    UniqueFd fd(accept4(socket.listen_fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    if (!socket.connections.empty()) {
      // vhost-user is one front-end per socket: a device (and its rings in the
      // application) belongs to the socket, so a second front-end would take it over
      // from the first. Refuse it: `fd` closes here.
      refused_.fetch_add(1);
      Log(LogLevel::kWarning,
          "VHOST_CONFIG: %s: refused a second front-end: the socket already has a live "
          "connection (one front-end per socket; it may connect once the first disconnects)",
          socket.path.c_str());
      if (ops_.connection_refused) ops_.connection_refused(socket.path);
      continue;
    }
    AddConnection(socket, std::move(fd));
  }
}

void Driver::CloseConnection(uint64_t conn_id, ProtocolError reason) {
  auto it = connections_.find(conn_id);
  if (it == connections_.end()) return;
  std::unique_ptr<Connection> conn = std::move(it->second);
  connections_.erase(it);
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, conn->fd.get(), nullptr);
  if (reason == ProtocolError::kGuestMemoryFault) {
    // Not caused by a message: OnGuestFaults logged the region.
    errors_[static_cast<size_t>(reason)].fetch_add(1);
    Log(LogLevel::kError, "VHOST_CONFIG: (%d) %s: closing connection: %s", conn->device->vid(),
        conn->socket->path.c_str(), ProtocolErrorName(reason));
  } else if (reason != ProtocolError::kNone) {
    errors_[static_cast<size_t>(reason)].fetch_add(1);
    Log(LogLevel::kError, "VHOST_CONFIG: (%d) %s: closing connection: %s (request %u %s)",
        conn->device->vid(), conn->socket->path.c_str(), ProtocolErrorName(reason),
        conn->reader.message().header.request,
        RequestName(conn->reader.message().header.request));
  } else {
    Log(LogLevel::kInfo, "VHOST_CONFIG: (%d) %s: connection closed", conn->device->vid(),
        conn->socket->path.c_str());
  }
  conn->device->Close();
  conn->socket->connections.erase(conn_id);
  Socket* socket = conn->socket;
  conn.reset();  // closes the socket and any fds of a half-read message
  if (socket->client() && socket->reconnect() && !socket->closing && !stop_.load()) {
    (void)TryConnect(*socket);
  }
}

ProtocolError Driver::ProcessMessage(Connection& conn) {
  const Message& msg = conn.reader.message();
  auto& fds = conn.reader.fds();
  Device& dev = *conn.device;
  ProtocolError error;
  const ValidatedMessage v = ValidateMessage(msg, static_cast<uint32_t>(fds.size()), kMaxVrings,
                                             dev.protocol_features(), error);
  if (error != ProtocolError::kNone) return error;
  Log(LogLevel::kDebug, "VHOST_CONFIG: (%d) read message %s", dev.vid(), v.rule->name);
  Reply reply;
  error = dev.Handle(msg, v, fds, reply);
  const bool reply_ack = Has(dev.protocol_features(), protocol_feature::kReplyAck) && msg.need_reply();
  if (error != ProtocolError::kNone) {
    // vhost-user.rst REPLY_ACK: "non-zero on failure"; then the connection closes.
    if (reply_ack && v.rule->reply != ReplyRule::kAlways) {
      // Best effort: the connection closes next, so what the socket does not take now
      // is lost with it.
      const uint64_t fail = 1;
      MessageHeader h{msg.header.request, kVersion | kFlagReply, sizeof(fail)};
      (void)Send(conn, EncodeMessage(h, std::span(reinterpret_cast<const uint8_t*>(&fail), sizeof(fail))));
    }
    return error;
  }
  if (!reply.send && reply_ack) {
    const uint64_t ok = 0;
    reply.send = true;
    reply.size = sizeof(ok);
    std::memcpy(reply.payload, &ok, sizeof(ok));
  }
  if (reply.send) {
    MessageHeader h{msg.header.request, kVersion | kFlagReply, reply.size};
    std::vector<uint8_t> bytes = EncodeMessage(h, std::span<const uint8_t>(reply.payload, reply.size));
    if (bytes.empty() || !Send(conn, std::move(bytes))) return ProtocolError::kIoError;
  }
  return ProtocolError::kNone;
}

bool Driver::Send(Connection& conn, std::vector<uint8_t> bytes) {
  if (conn.outbox.empty()) {
    conn.outbox = std::move(bytes);
    conn.outbox_sent = 0;
  } else {
    conn.outbox.insert(conn.outbox.end(), bytes.begin(), bytes.end());
  }
  return Flush(conn);
}

bool Driver::Flush(Connection& conn) {
  while (conn.outbox_sent < conn.outbox.size()) {
    // The socket is non-blocking: this never waits.
    const long n = SendRaw(conn.fd.get(), std::span<const uint8_t>(conn.outbox).subspan(conn.outbox_sent));
    if (n > 0) {
      conn.outbox_sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (conn.waiting_for_room) return true;
      // The front-end is not reading: wait for room, stop reading its requests.
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.u64 = Token(static_cast<uint8_t>(Kind::kConnection), conn.id);
      if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, conn.fd.get(), &ev) != 0) return false;
      conn.waiting_for_room = true;
      Log(LogLevel::kWarning,
          "VHOST_CONFIG: (%d) %s: the front-end does not read its replies; its requests "
          "wait until it does", conn.device->vid(), conn.socket->path.c_str());
      return true;
    }
    return false;
  }
  conn.outbox.clear();
  conn.outbox_sent = 0;
  if (conn.waiting_for_room) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = Token(static_cast<uint8_t>(Kind::kConnection), conn.id);
    if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, conn.fd.get(), &ev) != 0) return false;
    conn.waiting_for_room = false;
    Log(LogLevel::kInfo, "VHOST_CONFIG: (%d) %s: the front-end reads its replies again",
        conn.device->vid(), conn.socket->path.c_str());
  }
  return true;
}

void Driver::ReadConnection(uint64_t conn_id) {
  for (int i = 0; i < kMessagesPerWakeup; ++i) {
    auto it = connections_.find(conn_id);
    if (it == connections_.end()) return;
    Connection& conn = *it->second;
    // A reply still waits for the front-end to read it: its next requests wait too
    // (reading them would grow the outbox without bound).
    if (!conn.outbox.empty()) return;
    ProtocolError error;
    switch (conn.reader.Read(conn.fd.get(), error)) {
      case MessageReader::Status::kNeedMore:
        return;
      case MessageReader::Status::kClosed:
        CloseConnection(conn_id, ProtocolError::kNone);
        return;
      case MessageReader::Status::kError:
        CloseConnection(conn_id, error);
        return;
      case MessageReader::Status::kMessage:
        error = ProcessMessage(conn);
        if (error != ProtocolError::kNone) {
          CloseConnection(conn_id, error);
          return;
        }
        conn.reader.Consume();
        break;
    }
  }
}

void Driver::OnEvent(uint64_t token, uint32_t events) {
  const auto kind = static_cast<Kind>(token >> 56);
  const uint64_t id = token & ((1ull << 56) - 1);
  switch (kind) {
    case Kind::kListen: {
      auto it = listen_ids_.find(id);
      if (it != listen_ids_.end()) Accept(*it->second);
      break;
    }
    case Kind::kConnection: {
      auto it = connections_.find(id);
      if (it == connections_.end()) break;
      Connection& conn = *it->second;
      if (!conn.outbox.empty()) {
        // Room for the reply (or the front-end went away: the send fails).
        if (!Flush(conn)) {
          CloseConnection(id, (events & (EPOLLHUP | EPOLLERR)) != 0 ? ProtocolError::kNone
                                                                      : ProtocolError::kIoError);
          break;
        }
        if (!conn.outbox.empty()) break;
      }
      if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 || (events & EPOLLOUT) != 0) ReadConnection(id);
      break;
    }
    case Kind::kTimer: {
      uint64_t expirations;
      [[maybe_unused]] const ssize_t n = read(timer_fd_.get(), &expirations, sizeof(expirations));
      ReconnectClients();
      break;
    }
    case Kind::kWake: {
      uint64_t value;
      [[maybe_unused]] const ssize_t n = read(wake_fd_.get(), &value, sizeof(value));
      break;
    }
    case Kind::kFault: {
      uint64_t value;
      [[maybe_unused]] const ssize_t n = read(fault_fd_.get(), &value, sizeof(value));
      OnGuestFaults();
      break;
    }
  }
}

void Driver::OnGuestFaults() {
  const uint64_t end = GuestFaultCount();
  // The handler keeps the last 64 faults; older ones are only counted.
  if (end - faults_seen_ > 64) faults_seen_ = end - 64;
  for (; faults_seen_ < end; ++faults_seen_) {
    GuestFault f;
    // Not recorded yet: its handler writes our eventfd once it is, and we come back.
    if (!GuestFaultAt(faults_seen_, &f)) break;
    if (f.who.notify_fd != fault_fd_.get()) continue;  // another driver's mapping
    memory_faults_.fetch_add(1);
    const int vid = static_cast<int>(f.who.tag);
    const Device* d = DeviceFor(vid);
    // The device keeps its owner after Close: a fault seen after the connection went
    // (the front-end exited too) still names its socket, unless the slot was reused.
    const bool same = d != nullptr && d->fault_owner().owner == f.who.owner;
    const std::string path = same ? d->socket_path() : std::string("(connection gone)");
    if (f.who.detail == kDirtyLogFaultDetail) {
      Log(LogLevel::kError,
          "VHOST_CONFIG: (%d) %s: the dirty log (%zu bytes mapped at %p) faulted at %p (SIGBUS): "
          "the front-end shrank its log file under the back-end; the log reads as zeros from now "
          "on and the connection is closed",
          vid, path.c_str(), f.len, reinterpret_cast<void*>(f.base), reinterpret_cast<void*>(f.addr));
    } else {
      Log(LogLevel::kError,
          "VHOST_CONFIG: (%d) %s: guest memory region at guest address 0x%llx (%zu bytes mapped at %p) "
          "faulted at %p (SIGBUS): the front-end shrank its memory file under the back-end; the "
          "region reads as zeros from now on and the connection is closed",
          vid, path.c_str(), static_cast<unsigned long long>(f.who.detail), f.len,
          reinterpret_cast<void*>(f.base), reinterpret_cast<void*>(f.addr));
    }
    if (same && ops_.memory_fault) ops_.memory_fault(path);
    if (connections_.count(f.who.owner) != 0) CloseConnection(f.who.owner, ProtocolError::kGuestMemoryFault);
  }
}

void Driver::Loop() {
  epoll_event events[64];
  while (!stop_.load()) {
    const int n = epoll_wait(epoll_fd_.get(), events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      Log(LogLevel::kError, "VHOST_CONFIG: epoll_wait: %s", std::strerror(errno));
      return;
    }
    std::lock_guard lock(mu_);
    for (int i = 0; i < n && !stop_.load(); ++i) OnEvent(events[i].data.u64, events[i].events);
  }
}

int Driver::SessionStart() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return -1;
  if (!epoll_fd_ || !wake_fd_ || !timer_fd_) return -1;
  stop_.store(false);
  thread_ = std::thread([this] { Loop(); });
  return 0;
}

void Driver::SessionStop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = write(wake_fd_.get(), &one, sizeof(one));
  thread_.join();
}

int Driver::GetNegotiatedFeatures(int vid, uint64_t* features) const {
  std::lock_guard lock(mu_);
  const Device* d = OpenDevice(vid);
  if (d == nullptr || features == nullptr) return -1;
  *features = d->features();
  return 0;
}

int Driver::GetQueueNum(int vid) const {
  // No lock: the datapath calls this (driver.h "Threads").
  const Device* d = OpenDevice(vid);
  return d == nullptr ? -1 : static_cast<int>(d->queue_pairs());
}

int Driver::GetIfname(int vid, std::string* path) const {
  std::lock_guard lock(mu_);
  const Device* d = OpenDevice(vid);
  if (d == nullptr || path == nullptr) return -1;
  *path = d->socket_path();
  return 0;
}

int Driver::GetMtu(int vid, uint16_t* mtu) const {
  std::lock_guard lock(mu_);
  const Device* d = OpenDevice(vid);
  if (d == nullptr || mtu == nullptr || d->mtu() == 0) return -1;
  *mtu = d->mtu();
  return 0;
}

bool Driver::IsReady(int vid) const {
  std::lock_guard lock(mu_);
  const Device* d = OpenDevice(vid);
  return d != nullptr && d->running();
}

bool Driver::IsQueueEnabled(int vid, uint16_t queue_id) const {
  const Device* d = OpenDevice(vid);
  return d != nullptr && d->queue_enabled(queue_id);
}

const QueueStats* Driver::GetQueueStats(int vid, uint16_t queue_id) const {
  const Device* d = DeviceFor(vid);
  if (d == nullptr || queue_id >= kMaxVrings) return nullptr;
  return &d->stats(queue_id);
}

uint16_t Driver::EnqueueBurst(int vid, uint16_t queue_id, rte_mbuf** pkts, uint16_t count) {
  Device* d = DeviceFor(vid);
  return d == nullptr ? 0 : d->EnqueueBurst(queue_id, pkts, count);
}

uint16_t Driver::DequeueBurst(int vid, uint16_t queue_id, rte_mempool* pool, rte_mbuf** pkts,
                              uint16_t count, rte_mbuf** spare_slots) {
  Device* d = DeviceFor(vid);
  return d == nullptr ? 0 : d->DequeueBurst(queue_id, pool, pkts, count, spare_slots);
}

uint32_t Driver::ReapZeroCopyOrphans() {
  uint32_t n = 0;
  for (const auto& slot : devices_) {
    if (Device* d = slot.load(std::memory_order_acquire)) n += d->ReapZeroCopyOrphans();
  }
  return n;
}

uint16_t Driver::AvailEntries(int vid, uint16_t queue_id) {
  Device* d = DeviceFor(vid);
  return d == nullptr ? 0 : d->AvailEntries(queue_id);
}

uint32_t Driver::ZeroCopyInFlight(int vid) {
  Device* d = DeviceFor(vid);
  return d == nullptr ? 0 : d->ZeroCopyInFlight();
}

int Driver::EnableGuestNotification(int vid, uint16_t queue_id, int enable) {
  Device* d = DeviceFor(vid);
  return (d != nullptr && d->EnableGuestNotification(queue_id, enable != 0)) ? 0 : -1;
}

uint64_t Driver::ProtocolErrorCount(ProtocolError reason) const {
  const auto i = static_cast<size_t>(reason);
  return i < errors_.size() ? errors_[i].load() : 0;
}

size_t Driver::ConnectionCount() const {
  std::lock_guard lock(mu_);
  return connections_.size();
}

}  // namespace vswitch::vhost
