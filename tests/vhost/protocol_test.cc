// A hostile vhost-user front-end against the Driver over real unix sockets: every
// malformed message closes its connection, is counted by reason, leaks no fd, and never
// disturbs a good device on another socket. Also the socket lifecycle: stale socket
// files, live ones, client-mode reconnect.
#include <gtest/gtest.h>
#include <dirent.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <rte_eal.h>
#include <rte_mbuf.h>

#include "driver.h"
#include "feature_bits.h"
#include "message.h"
#include "process.h"
#include "socket_channel.h"
#include "in_process_eal.h"
#include "test_env.h"
#include "virtio_ring.h"

namespace vswitch::vhost {
namespace {

using namespace std::chrono_literals;
using test::TempDir;
using test::WaitFor;

// EAL in-process with --no-huge, for the zero-copy test's mbufs and shared infos.
rte_mempool* g_pool = nullptr;
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new test::InProcessEal("vshproto", [] {
  g_pool = rte_pktmbuf_pool_create("proto", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  ASSERT_NE(g_pool, nullptr);
}));

int CountFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the DIR's own fd
}

int ConnectTo(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// The front-end side of one connection.
class FrontEnd {
 public:
  explicit FrontEnd(const std::string& path) : fd_(ConnectTo(path)) {}
  ~FrontEnd() {
    if (fd_ >= 0) close(fd_);
  }
  [[nodiscard]] bool connected() const { return fd_ >= 0; }

  bool Send(Request r, const void* payload, uint32_t size, std::vector<int> fds = {},
            uint32_t flags = kVersion) {
    MessageHeader h{static_cast<uint32_t>(r), flags, size};
    std::vector<uint8_t> buf(sizeof(h) + size);
    std::memcpy(buf.data(), &h, sizeof(h));
    if (size > 0) std::memcpy(buf.data() + sizeof(h), payload, size);
    return SendRaw(fd_, buf, fds) == static_cast<long>(buf.size());
  }
  bool SendU64(Request r, uint64_t v, std::vector<int> fds = {}, uint32_t flags = kVersion) {
    return Send(r, &v, 8, std::move(fds), flags);
  }
  bool SendState(Request r, uint32_t index, uint32_t num) {
    VringState s{index, num};
    return Send(r, &s, sizeof(s));
  }

  // One reply, or nullopt on timeout / close.
  std::optional<std::vector<uint8_t>> Recv(MessageHeader* header = nullptr) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 3000) != 1) return std::nullopt;
    MessageHeader h;
    if (recv(fd_, &h, sizeof(h), MSG_WAITALL) != sizeof(h)) return std::nullopt;
    std::vector<uint8_t> payload(h.size);
    if (h.size > 0 && recv(fd_, payload.data(), h.size, MSG_WAITALL) != static_cast<ssize_t>(h.size)) {
      return std::nullopt;
    }
    if (header != nullptr) *header = h;
    return payload;
  }
  uint64_t RecvU64() {
    auto p = Recv();
    uint64_t v = ~0ull;
    if (p && p->size() == 8) std::memcpy(&v, p->data(), 8);
    return v;
  }

  // True once the back-end has closed the connection.
  bool ClosedByPeer() {
    for (int i = 0; i < 50; ++i) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) == 1) {
        char c;
        const ssize_t n = recv(fd_, &c, 1, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
      }
    }
    return false;
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Guest memory for a well-behaved front-end: one memfd region, rings inside it.
struct GuestRam {
  static constexpr size_t kSize = 2 << 20;
  GuestRam() {
    fd = memfd_create("vsw-guest", MFD_CLOEXEC);
    EXPECT_EQ(ftruncate(fd, kSize), 0);
    base = static_cast<uint8_t*>(mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  }
  ~GuestRam() {
    munmap(base, kSize);
    close(fd);
  }
  MemoryRegion Region() const {
    return {0x40000000, kSize, reinterpret_cast<uint64_t>(base), 0};
  }
  int fd;
  uint8_t* base;
};

constexpr uint64_t kGuestFeatures = Bit(feature::kVersion1) | Bit(feature::kNetMrgRxbuf) |
                                    Bit(feature::kProtocolFeatures);
constexpr uint64_t kProto = Bit(protocol_feature::kReplyAck) | Bit(protocol_feature::kMq) |
                            Bit(protocol_feature::kLogShmfd) |
                            Bit(protocol_feature::kConfigureMemSlots) |
                            Bit(protocol_feature::kStatus);

// Negotiates features and protocol features (REPLY_ACK on).
void Negotiate(FrontEnd& fe) {
  ASSERT_TRUE(fe.Send(Request::kSetOwner, nullptr, 0));
  ASSERT_TRUE(fe.Send(Request::kGetFeatures, nullptr, 0));
  const uint64_t offered = fe.RecvU64();
  ASSERT_EQ(offered & kGuestFeatures, kGuestFeatures);
  ASSERT_TRUE(fe.Send(Request::kGetProtocolFeatures, nullptr, 0));
  ASSERT_EQ(fe.RecvU64() & kProto, kProto);
  ASSERT_TRUE(fe.SendU64(Request::kSetProtocolFeatures, kProto));
  ASSERT_TRUE(fe.SendU64(Request::kSetFeatures, kGuestFeatures, {}, kVersion | kFlagNeedReply));
  ASSERT_EQ(fe.RecvU64(), 0u);
}

void SetMemTable(FrontEnd& fe, const GuestRam& ram) {
  uint8_t payload[8 + 32] = {};
  const uint32_t one = 1;
  std::memcpy(payload, &one, 4);
  const MemoryRegion r = ram.Region();
  std::memcpy(payload + 8, &r, sizeof(r));
  ASSERT_TRUE(fe.Send(Request::kSetMemTable, payload, sizeof(payload), {ram.fd},
                      kVersion | kFlagNeedReply));
  ASSERT_EQ(fe.RecvU64(), 0u);
}

// Sets up vrings 0 and 1 (256 entries each) the way QEMU does.
void SetUpVrings(FrontEnd& fe, const GuestRam& ram, std::vector<int>& eventfds) {
  for (uint32_t i = 0; i < 2; ++i) {
    const uint64_t ring = reinterpret_cast<uint64_t>(ram.base) + 0x10000 * (i + 1);
    ASSERT_TRUE(fe.SendState(Request::kSetVringNum, i, 256));
    ASSERT_TRUE(fe.SendState(Request::kSetVringBase, i, 0));
    VringAddr a{i, 0, ring, ring + 0x2000, ring + 0x1000, 0};
    ASSERT_TRUE(fe.Send(Request::kSetVringAddr, &a, sizeof(a)));
    const int call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    const int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    eventfds.push_back(call);
    eventfds.push_back(kick);
    ASSERT_TRUE(fe.SendU64(Request::kSetVringCall, i, {call}));
    ASSERT_TRUE(fe.SendU64(Request::kSetVringKick, i, {kick}));
    ASSERT_TRUE(fe.SendState(Request::kSetVringEnable, i, 1));
  }
}

class ProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DeviceOps ops;
    ops.new_device = [this](int vid) {
      last_new_.store(vid);
      new_devices_.fetch_add(1);
      return 0;
    };
    ops.destroy_device = [this](int) { destroyed_.fetch_add(1); };
    ops.connection_refused = [this](const std::string& path) {
      std::lock_guard lock(refused_mu_);
      refused_paths_.push_back(path);
    };
    ops.memory_fault = [this](const std::string& path) {
      std::lock_guard lock(refused_mu_);
      fault_paths_.push_back(path);
    };
    driver_.CallbackRegister(ops);
    ASSERT_EQ(driver_.SessionStart(), 0);
  }
  void TearDown() override { driver_.SessionStop(); }

  uint64_t Errors(ProtocolError e) const { return driver_.ProtocolErrorCount(e); }

  TempDir dir_;
  Driver driver_;
  std::atomic<int> new_devices_{0}, destroyed_{0}, last_new_{-1};
  std::mutex refused_mu_;
  std::vector<std::string> refused_paths_;
  std::vector<std::string> fault_paths_;
};

TEST_F(ProtocolTest, GoodDeviceStartsAndReportsItsState) {
  const std::string path = dir_ / "good.sock";
  ASSERT_EQ(driver_.Register(path, 0), 0);
  GuestRam ram;
  FrontEnd fe(path);
  ASSERT_TRUE(fe.connected());
  Negotiate(fe);
  SetMemTable(fe, ram);
  ASSERT_TRUE(fe.Send(Request::kGetMaxMemSlots, nullptr, 0));
  EXPECT_EQ(fe.RecvU64(), kMaxMemSlots);
  ASSERT_TRUE(fe.Send(Request::kGetQueueNum, nullptr, 0));
  EXPECT_EQ(fe.RecvU64(), kMaxQueuePairs);
  std::vector<int> efds;
  SetUpVrings(fe, ram, efds);
  ASSERT_TRUE(WaitFor([&] { return new_devices_.load() == 1; }, 3s));
  const int vid = last_new_.load();
  EXPECT_TRUE(driver_.IsReady(vid));
  uint64_t features = 0;
  ASSERT_EQ(driver_.GetNegotiatedFeatures(vid, &features), 0);
  EXPECT_EQ(features, kGuestFeatures);
  std::string ifname;
  ASSERT_EQ(driver_.GetIfname(vid, &ifname), 0);
  EXPECT_EQ(ifname, path);
  EXPECT_EQ(driver_.GetQueueNum(vid), 1);
  // The device tells the driver not to kick: we poll.
  auto* used = reinterpret_cast<VirtqUsed*>(ram.base + 0x10000 + 0x2000);
  EXPECT_EQ(used->flags, kUsedFlagNoNotify);
  // SET_STATUS / GET_STATUS round trip.
  ASSERT_TRUE(fe.SendU64(Request::kSetStatus, 0x0f));
  ASSERT_TRUE(fe.Send(Request::kGetStatus, nullptr, 0));
  EXPECT_EQ(fe.RecvU64(), 0x0fu);
  // GET_VRING_BASE stops the ring and the device.
  ASSERT_TRUE(fe.SendState(Request::kGetVringBase, 0, 0));
  MessageHeader h;
  auto reply = fe.Recv(&h);
  ASSERT_TRUE(reply);
  EXPECT_EQ(h.flags, kVersion | kFlagReply);
  ASSERT_EQ(reply->size(), sizeof(VringState));
  EXPECT_TRUE(WaitFor([&] { return destroyed_.load() == 1; }, 3s));
  EXPECT_FALSE(driver_.IsReady(vid));
  for (int e : efds) close(e);
}

// Packed rings (VIRTIO_F_RING_PACKED, offered when enabled): any queue size, the vring
// base carries the wrap counters (vhost-user.rst: index in bits 0-14, wrap counter in
// bit 15, the used index and its wrap counter in 16-30 and 31), the ring is read from
// that place with that wrap counter, and GET_VRING_BASE answers where it stands.
TEST_F(ProtocolTest, PackedRingResumesFromTheVringBaseWithItsWrapCounter) {
  ASSERT_EQ(driver_.FeatureEnable(kFeaturePacked), 0);
  const std::string path = dir_ / "packed.sock";
  ASSERT_EQ(driver_.Register(path, 0), 0);
  GuestRam ram;
  constexpr uint64_t kPackedFeatures = kGuestFeatures | kFeaturePacked;
  constexpr uint32_t kNum = 250;  // not a power of two: fine for packed rings (2.8)
  {
  FrontEnd fe(path);
  ASSERT_TRUE(fe.connected());
  ASSERT_TRUE(fe.Send(Request::kGetFeatures, nullptr, 0));
  ASSERT_EQ(fe.RecvU64() & kPackedFeatures, kPackedFeatures);
  ASSERT_TRUE(fe.SendU64(Request::kSetProtocolFeatures, kProto));
  ASSERT_TRUE(fe.SendU64(Request::kSetFeatures, kPackedFeatures, {}, kVersion | kFlagNeedReply));
  ASSERT_EQ(fe.RecvU64(), 0u);
  SetMemTable(fe, ram);
  constexpr uint32_t kBase = 5 | (0u << 15);  // index 5 on the second lap: wrap counter 0
  std::vector<int> efds;
  for (uint32_t i = 0; i < 2; ++i) {
    const uint64_t ring = reinterpret_cast<uint64_t>(ram.base) + 0x10000 * (i + 1);
    ASSERT_TRUE(fe.SendState(Request::kSetVringNum, i, kNum));
    ASSERT_TRUE(fe.SendState(Request::kSetVringBase, i, kBase | (kBase << 16)));
    // Descriptor ring, device area (used address), driver area (avail address).
    VringAddr a{i, 0, ring, ring + 0x2000, ring + 0x1000, 0};
    ASSERT_TRUE(fe.Send(Request::kSetVringAddr, &a, sizeof(a)));
    const int call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    const int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    efds.push_back(call);
    efds.push_back(kick);
    ASSERT_TRUE(fe.SendU64(Request::kSetVringCall, i, {call}));
    ASSERT_TRUE(fe.SendU64(Request::kSetVringKick, i, {kick}));
    ASSERT_TRUE(fe.SendState(Request::kSetVringEnable, i, 1));
  }
  ASSERT_TRUE(WaitFor([&] { return new_devices_.load() == 1; }, 3s));
  const int vid = last_new_.load();
  // We poll: the device area says "no kicks".
  auto* device_area = reinterpret_cast<PackedEvent*>(ram.base + 0x20000 + 0x2000);
  EXPECT_EQ(device_area->flags, kPackedEventDisable);
  // TX ring: descriptors 5 and 6 made available on the second lap (AVAIL 0, USED 1);
  // descriptor 7 still carries the first lap's flags.
  auto* desc = reinterpret_cast<PackedDesc*>(ram.base + 0x20000);
  const uint64_t buf = 0x40000000 + 0x100000;
  desc[5] = {buf, 100, 1, kPackedDescFlagUsed};
  desc[6] = {buf, 100, 2, kPackedDescFlagUsed};
  desc[7] = {buf, 100, 3, kPackedDescFlagAvail};
  EXPECT_EQ(driver_.AvailEntries(vid, 1), 2);
  // GET_VRING_BASE: nothing consumed, both positions as they were set.
  ASSERT_TRUE(fe.SendState(Request::kGetVringBase, 1, 0));
  auto reply = fe.Recv();
  ASSERT_TRUE(reply);
  VringState state;
  ASSERT_EQ(reply->size(), sizeof(state));
  std::memcpy(&state, reply->data(), sizeof(state));
  EXPECT_EQ(state.index, 1u);
  EXPECT_EQ(state.num, kBase | (kBase << 16));
  for (int e : efds) close(e);
  }

  // A base naming no descriptor of the ring closes the connection, counted.
  ASSERT_TRUE(WaitFor([&] { return driver_.ConnectionCount() == 0; }, 3s));
  const uint64_t before = Errors(ProtocolError::kBadVringBase);
  FrontEnd fe2(path);
  ASSERT_TRUE(fe2.connected());
  ASSERT_TRUE(fe2.SendU64(Request::kSetProtocolFeatures, kProto));
  ASSERT_TRUE(fe2.SendU64(Request::kSetFeatures, kPackedFeatures));
  SetMemTable(fe2, ram);
  const uint64_t ring = reinterpret_cast<uint64_t>(ram.base) + 0x10000;
  ASSERT_TRUE(fe2.SendState(Request::kSetVringNum, 0, kNum));
  ASSERT_TRUE(fe2.SendState(Request::kSetVringBase, 0, 300 | (1u << 15)));
  VringAddr a{0, 0, ring, ring + 0x2000, ring + 0x1000, 0};
  ASSERT_TRUE(fe2.Send(Request::kSetVringAddr, &a, sizeof(a)));
  const int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_TRUE(fe2.SendU64(Request::kSetVringKick, 0, {kick}));
  EXPECT_TRUE(fe2.ClosedByPeer());
  EXPECT_EQ(Errors(ProtocolError::kBadVringBase), before + 1);
  close(kick);
}

// vhost-user.rst "Migration": the front-end starts and stops dirty logging by setting
// and clearing VHOST_F_LOG_ALL with SET_FEATURES while the device runs. That alone must
// not restart the device (no destroy_device/new_device, which the application takes for
// a reconnect), yet the log must follow the bit: used-ring writes are marked while it is
// set and not after it is cleared.
TEST_F(ProtocolTest, LogAllTogglesDirtyLoggingWithoutRestartingTheDevice) {
  const std::string path = dir_ / "migrating.sock";
  ASSERT_EQ(driver_.Register(path, 0), 0);
  GuestRam ram;
  FrontEnd fe(path);
  ASSERT_TRUE(fe.connected());
  Negotiate(fe);
  SetMemTable(fe, ram);
  std::vector<int> efds;
  SetUpVrings(fe, ram, efds);
  ASSERT_TRUE(WaitFor([&] { return new_devices_.load() == 1; }, 3s));
  const int vid = last_new_.load();

  // What QEMU sends when migration starts: the log, the rings' log flag, then LOG_ALL.
  constexpr size_t kLogSize = 64 << 10;  // one bit per 4 KiB page: covers 2 GiB of GPA
  const int log_fd = memfd_create("vsw-dirty-log", MFD_CLOEXEC);
  ASSERT_EQ(ftruncate(log_fd, kLogSize), 0);
  auto* log = static_cast<uint8_t*>(mmap(nullptr, kLogSize, PROT_READ | PROT_WRITE, MAP_SHARED, log_fd, 0));
  ASSERT_NE(log, MAP_FAILED);
  const LogDescription desc{kLogSize, 0};
  ASSERT_TRUE(fe.Send(Request::kSetLogBase, &desc, sizeof(desc), {log_fd}));
  EXPECT_EQ(fe.RecvU64(), 0u);
  const uint64_t ring = reinterpret_cast<uint64_t>(ram.base) + 0x10000;
  const uint64_t used_gpa = ram.Region().guest_phys_addr + 0x10000 + 0x2000;
  const VringAddr logged{0, kVringAddrFlagLog, ring, ring + 0x2000, ring + 0x1000, used_gpa};
  ASSERT_TRUE(fe.Send(Request::kSetVringAddr, &logged, sizeof(logged)));
  auto used_page_marked = [&] {
    const uint64_t page = used_gpa / kLogPageSize;
    return (log[page / 8] >> (page % 8) & 1) != 0;
  };
  ASSERT_TRUE(fe.SendU64(Request::kSetFeatures, kGuestFeatures | Bit(feature::kLogAll), {},
                         kVersion | kFlagNeedReply));
  EXPECT_EQ(fe.RecvU64(), 0u);
  EXPECT_EQ(destroyed_.load(), 0) << "setting VHOST_F_LOG_ALL restarted the device";
  EXPECT_EQ(new_devices_.load(), 1);
  EXPECT_TRUE(driver_.IsReady(vid));
  uint64_t features = 0;
  ASSERT_EQ(driver_.GetNegotiatedFeatures(vid, &features), 0);
  EXPECT_EQ(features, kGuestFeatures | Bit(feature::kLogAll));
  // A used-ring write (the flags word) now lands in the log.
  EXPECT_FALSE(used_page_marked());
  ASSERT_EQ(driver_.EnableGuestNotification(vid, 0, 1), 0);
  EXPECT_TRUE(used_page_marked()) << "dirty logging did not start with VHOST_F_LOG_ALL";

  // Migration cancelled: LOG_ALL cleared, logging stops, still no restart.
  ASSERT_TRUE(fe.SendU64(Request::kSetFeatures, kGuestFeatures, {}, kVersion | kFlagNeedReply));
  EXPECT_EQ(fe.RecvU64(), 0u);
  std::memset(log, 0, kLogSize);
  ASSERT_EQ(driver_.EnableGuestNotification(vid, 0, 0), 0);
  EXPECT_FALSE(used_page_marked()) << "dirty logging went on after VHOST_F_LOG_ALL was cleared";
  EXPECT_EQ(destroyed_.load(), 0) << "clearing VHOST_F_LOG_ALL restarted the device";
  EXPECT_EQ(new_devices_.load(), 1);
  EXPECT_TRUE(driver_.IsReady(vid));

  // Any other feature change on a running device still stops it (the rings were set up
  // for the old features).
  ASSERT_TRUE(fe.SendU64(Request::kSetFeatures, kGuestFeatures & ~Bit(feature::kNetMrgRxbuf), {},
                         kVersion | kFlagNeedReply));
  EXPECT_EQ(fe.RecvU64(), 0u);
  EXPECT_EQ(destroyed_.load(), 1);
  munmap(log, kLogSize);
  close(log_fd);
  for (int e : efds) close(e);
}

// A front-end that shrinks its guest memory file under a running device
// (docs/architecture.md "A front-end that shrinks its memory"): the back-end's next look
// at the rings faults (SIGBUS). The process survives, the access returns (zeros: no
// buffer available), and the session thread closes that connection, counts it and
// reports the socket; a second device on another socket keeps running.
TEST_F(ProtocolTest, ShrunkGuestMemoryClosesOnlyThatConnection) {
  const std::string bad_path = dir_ / "shrinking.sock", good_path = dir_ / "good.sock";
  ASSERT_EQ(driver_.Register(bad_path, 0), 0);
  ASSERT_EQ(driver_.Register(good_path, 0), 0);
  GuestRam bad_ram, good_ram;
  FrontEnd bad(bad_path), good(good_path);
  ASSERT_TRUE(bad.connected() && good.connected());
  std::vector<int> efds;
  Negotiate(bad);
  SetMemTable(bad, bad_ram);
  SetUpVrings(bad, bad_ram, efds);
  ASSERT_TRUE(WaitFor([&] { return new_devices_.load() == 1; }, 3s));
  const int bad_vid = last_new_.load();
  Negotiate(good);
  SetMemTable(good, good_ram);
  SetUpVrings(good, good_ram, efds);
  ASSERT_TRUE(WaitFor([&] { return new_devices_.load() == 2; }, 3s));
  const int good_vid = last_new_.load();

  // The guest offers one TX buffer on each device.
  auto* bad_avail = reinterpret_cast<VirtqAvail*>(bad_ram.base + 0x20000 + 0x1000);
  bad_avail->idx = 1;
  auto* good_avail = reinterpret_cast<VirtqAvail*>(good_ram.base + 0x20000 + 0x1000);
  good_avail->idx = 1;
  EXPECT_EQ(driver_.AvailEntries(bad_vid, 1), 1);
  EXPECT_EQ(driver_.AvailEntries(good_vid, 1), 1);

  ASSERT_EQ(ftruncate(bad_ram.fd, 0), 0);  // the test's own mapping of it is not touched again
  EXPECT_EQ(driver_.AvailEntries(bad_vid, 1), 0) << "the faulting read returns, on zeros";
  EXPECT_TRUE(bad.ClosedByPeer()) << "the connection of the shrunk memory stays open";
  EXPECT_EQ(driver_.MemoryFaultCount(), 1u);
  EXPECT_EQ(Errors(ProtocolError::kGuestMemoryFault), 1u);
  EXPECT_TRUE(WaitFor([&] { return destroyed_.load() == 1; }, 3s));
  {
    std::lock_guard lock(refused_mu_);
    EXPECT_EQ(fault_paths_, std::vector<std::string>{bad_path});
  }
  EXPECT_TRUE(driver_.IsReady(good_vid));
  EXPECT_EQ(driver_.AvailEntries(good_vid, 1), 1) << "the other device is untouched";
  EXPECT_EQ(driver_.ConnectionCount(), 1u);
  for (int e : efds) close(e);
}

// The dirty log is the front-end's file too (SET_LOG_BASE): shrunk during a migration,
// the next used-ring write marks a page in it and faults. Same outcome as for guest
// memory: the write returns, the connection is closed and counted.
TEST_F(ProtocolTest, ShrunkDirtyLogClosesTheConnection) {
  const std::string path = dir_ / "migrating.sock";
  ASSERT_EQ(driver_.Register(path, 0), 0);
  GuestRam ram;
  FrontEnd fe(path);
  ASSERT_TRUE(fe.connected());
  Negotiate(fe);
  SetMemTable(fe, ram);
  std::vector<int> efds;
  SetUpVrings(fe, ram, efds);
  ASSERT_TRUE(WaitFor([&] { return new_devices_.load() == 1; }, 3s));
  const int vid = last_new_.load();
  constexpr size_t kLogSize = 64 << 10;
  const int log_fd = memfd_create("vsw-dirty-log", MFD_CLOEXEC);
  ASSERT_EQ(ftruncate(log_fd, kLogSize), 0);
  const LogDescription desc{kLogSize, 0};
  ASSERT_TRUE(fe.Send(Request::kSetLogBase, &desc, sizeof(desc), {log_fd}));
  EXPECT_EQ(fe.RecvU64(), 0u);
  const uint64_t ring = reinterpret_cast<uint64_t>(ram.base) + 0x10000;
  const uint64_t used_gpa = ram.Region().guest_phys_addr + 0x10000 + 0x2000;
  const VringAddr logged{0, kVringAddrFlagLog, ring, ring + 0x2000, ring + 0x1000, used_gpa};
  ASSERT_TRUE(fe.Send(Request::kSetVringAddr, &logged, sizeof(logged)));
  ASSERT_TRUE(fe.SendU64(Request::kSetFeatures, kGuestFeatures | Bit(feature::kLogAll), {},
                         kVersion | kFlagNeedReply));
  EXPECT_EQ(fe.RecvU64(), 0u);

  ASSERT_EQ(ftruncate(log_fd, 0), 0);
  // A used-ring write (the flags word) marks its page in the log.
  ASSERT_EQ(driver_.EnableGuestNotification(vid, 0, 1), 0);
  EXPECT_TRUE(fe.ClosedByPeer()) << "the connection of the shrunk log stays open";
  EXPECT_EQ(driver_.MemoryFaultCount(), 1u);
  EXPECT_EQ(Errors(ProtocolError::kGuestMemoryFault), 1u);
  {
    std::lock_guard lock(refused_mu_);
    EXPECT_EQ(fault_paths_, std::vector<std::string>{path});
  }
  close(log_fd);
  for (int e : efds) close(e);
}

// A device belongs to its socket: a second front-end on a socket that has a live
// connection would take the device over and leave the first unserved. It is closed at
// once, counted and reported; the first keeps working; after the first leaves, the next
// front-end is served.
TEST_F(ProtocolTest, SecondFrontEndOnALiveSocketIsRefused) {
  const std::string path = dir_ / "shared.sock";
  ASSERT_EQ(driver_.Register(path, 0), 0);
  GuestRam ram;
  auto first = std::make_unique<FrontEnd>(path);
  ASSERT_TRUE(first->connected());
  Negotiate(*first);
  SetMemTable(*first, ram);
  std::vector<int> efds;
  SetUpVrings(*first, ram, efds);
  ASSERT_TRUE(WaitFor([&] { return new_devices_.load() == 1; }, 3s));
  const int vid = last_new_.load();

  FrontEnd second(path);
  ASSERT_TRUE(second.connected());  // the kernel accepts it into the backlog
  EXPECT_TRUE(second.ClosedByPeer()) << "the second front-end was not closed";
  EXPECT_EQ(driver_.RefusedConnectionCount(), 1u);
  {
    std::lock_guard lock(refused_mu_);
    EXPECT_EQ(refused_paths_, std::vector<std::string>{path});
  }
  EXPECT_EQ(driver_.ConnectionCount(), 1u);
  // The first still owns a running device and is answered.
  EXPECT_TRUE(driver_.IsReady(vid));
  EXPECT_EQ(destroyed_.load(), 0);
  ASSERT_TRUE(first->Send(Request::kGetFeatures, nullptr, 0));
  EXPECT_NE(first->RecvU64(), ~0ull);

  // The first leaves: the next front-end gets the device.
  first.reset();
  ASSERT_TRUE(WaitFor([&] { return driver_.ConnectionCount() == 0; }, 3s));
  FrontEnd third(path);
  ASSERT_TRUE(third.connected());
  Negotiate(third);
  SetMemTable(third, ram);
  SetUpVrings(third, ram, efds);
  EXPECT_TRUE(WaitFor([&] { return new_devices_.load() == 2; }, 3s));
  EXPECT_EQ(driver_.RefusedConnectionCount(), 1u);
  for (int e : efds) close(e);
}

// Each hostile input on its own connection: closed, counted, nothing leaked, and the
// good device on the other socket unaffected.
TEST_F(ProtocolTest, HostileFrontEndIsClosedCountedAndIsolated) {
  const std::string good = dir_ / "good.sock", bad = dir_ / "bad.sock";
  ASSERT_EQ(driver_.Register(good, 0), 0);
  ASSERT_EQ(driver_.Register(bad, 0), 0);
  GuestRam ram;
  FrontEnd good_fe(good);
  Negotiate(good_fe);
  SetMemTable(good_fe, ram);
  std::vector<int> efds;
  SetUpVrings(good_fe, ram, efds);
  ASSERT_TRUE(WaitFor([&] { return new_devices_.load() == 1; }, 3s));
  const int good_vid = last_new_.load();
  const int fds_before = CountFds();

  struct Case {
    const char* name;
    ProtocolError expect;
    std::function<void(FrontEnd&)> send;
  };
  const uint64_t zero = 0;
  std::vector<Case> cases = {
      {"truncated payload then close", ProtocolError::kTruncated,
       [](FrontEnd& fe) {
         MessageHeader h{static_cast<uint32_t>(Request::kSetFeatures), kVersion, 8};
         uint8_t buf[16] = {};
         std::memcpy(buf, &h, sizeof(h));
         ASSERT_EQ(SendRaw(fe.fd(), std::span<const uint8_t>(buf, 16)), 16);
         shutdown(fe.fd(), SHUT_WR);
       }},
      {"oversized", ProtocolError::kOversized,
       [](FrontEnd& fe) {
         MessageHeader h{static_cast<uint32_t>(Request::kSetMemTable), kVersion, 1u << 24};
         ASSERT_EQ(SendRaw(fe.fd(), std::span(reinterpret_cast<const uint8_t*>(&h), 12)), 12);
       }},
      {"payload too short for the request", ProtocolError::kPayloadSize,
       [&](FrontEnd& fe) { ASSERT_TRUE(fe.Send(Request::kSetFeatures, &zero, 4)); }},
      {"fd where none expected", ProtocolError::kFdCount,
       [&](FrontEnd& fe) {
         const int e = eventfd(0, EFD_CLOEXEC);
         ASSERT_TRUE(fe.SendU64(Request::kSetFeatures, kGuestFeatures, {e}));
         close(e);
       }},
      {"more fds than any message carries", ProtocolError::kControlTruncated,
       [&](FrontEnd& fe) {
         std::vector<int> many;
         for (int i = 0; i < 20; ++i) many.push_back(eventfd(0, EFD_CLOEXEC));
         ASSERT_TRUE(fe.Send(Request::kSetOwner, nullptr, 0, many));
         for (int e : many) close(e);
       }},
      {"mem table with fewer fds than regions", ProtocolError::kFdCount,
       [&](FrontEnd& fe) {
         uint8_t payload[8 + 64] = {};
         const uint32_t two = 2;
         std::memcpy(payload, &two, 4);
         ASSERT_TRUE(fe.Send(Request::kSetMemTable, payload, sizeof(payload), {ram.fd}));
       }},
      {"overlapping regions", ProtocolError::kRegionOverlap,
       [&](FrontEnd& fe) {
         uint8_t payload[8 + 64] = {};
         const uint32_t two = 2;
         std::memcpy(payload, &two, 4);
         MemoryRegion a{0x0, 0x100000, 0x7f0000000000, 0};
         MemoryRegion b{0x80000, 0x100000, 0x7f1000000000, 0};
         std::memcpy(payload + 8, &a, 32);
         std::memcpy(payload + 40, &b, 32);
         ASSERT_TRUE(fe.Send(Request::kSetMemTable, payload, sizeof(payload), {ram.fd, ram.fd}));
       }},
      {"region larger than its file", ProtocolError::kBadMemoryTable,
       [&](FrontEnd& fe) {
         uint8_t payload[8 + 32] = {};
         const uint32_t one = 1;
         std::memcpy(payload, &one, 4);
         MemoryRegion a{0x0, GuestRam::kSize * 4, 0x7f0000000000, 0};
         std::memcpy(payload + 8, &a, 32);
         ASSERT_TRUE(fe.Send(Request::kSetMemTable, payload, sizeof(payload), {ram.fd}));
       }},
      {"vring index above the limit", ProtocolError::kVringIndex,
       [&](FrontEnd& fe) { ASSERT_TRUE(fe.SendState(Request::kSetVringNum, kMaxVrings, 256)); }},
      {"vring index that truncates to 0", ProtocolError::kVringIndex,
       [&](FrontEnd& fe) { ASSERT_TRUE(fe.SendState(Request::kSetVringBase, 0x10000, 0)); }},
      {"vring num not a power of two", ProtocolError::kBadVringNum,
       [&](FrontEnd& fe) { ASSERT_TRUE(fe.SendState(Request::kSetVringNum, 0, 100)); }},
      {"unknown request", ProtocolError::kUnknownRequest,
       [&](FrontEnd& fe) { ASSERT_TRUE(fe.Send(static_cast<Request>(99), nullptr, 0)); }},
      {"GET_INFLIGHT_FD with an fd attached", ProtocolError::kUnknownRequest,
       [&](FrontEnd& fe) {
         uint8_t payload[24] = {};
         const int e = eventfd(0, EFD_CLOEXEC);
         ASSERT_TRUE(fe.Send(Request::kGetInflightFd, payload, 24, {e}));
         close(e);
       }},
      {"features never offered", ProtocolError::kBadFeatures,
       [&](FrontEnd& fe) { ASSERT_TRUE(fe.SendU64(Request::kSetFeatures, 1ull << 34)); }},
      {"bad version", ProtocolError::kBadVersion,
       [&](FrontEnd& fe) { ASSERT_TRUE(fe.Send(Request::kGetFeatures, nullptr, 0, {}, 2)); }},
      {"ADD_MEM_REG without CONFIGURE_MEM_SLOTS", ProtocolError::kNotNegotiated,
       [&](FrontEnd& fe) {
         uint8_t payload[40] = {};
         ASSERT_TRUE(fe.Send(Request::kAddMemReg, payload, 40, {ram.fd}));
       }},
      {"SET_LOG_BASE size + offset overflow", ProtocolError::kBadLogBase,
       [&](FrontEnd& fe) {
         Negotiate(fe);
         LogDescription log{0x1000, ~0ull - 0x10};
         ASSERT_TRUE(fe.Send(Request::kSetLogBase, &log, sizeof(log), {ram.fd}));
       }},
      {"REM_MEM_REG of a region never added", ProtocolError::kUnknownRegion,
       [&](FrontEnd& fe) {
         Negotiate(fe);
         SingleMemoryRegion r{0, {0x1000, 0x1000, 0x2000, 0}};
         const int e = eventfd(0, EFD_CLOEXEC);  // a stray fd, to be closed
         ASSERT_TRUE(fe.Send(Request::kRemMemReg, &r, sizeof(r), {e}));
         close(e);
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const uint64_t before = Errors(c.expect);
    {
      FrontEnd fe(bad);
      ASSERT_TRUE(fe.connected());
      c.send(fe);
      EXPECT_TRUE(fe.ClosedByPeer());
    }
    EXPECT_TRUE(WaitFor([&] { return Errors(c.expect) == before + 1; }, 3s))
        << ProtocolErrorName(c.expect) << " count " << Errors(c.expect);
    EXPECT_TRUE(WaitFor([&] { return driver_.ConnectionCount() == 1; }, 3s));
    EXPECT_EQ(CountFds(), fds_before);
    // The good device never noticed.
    EXPECT_TRUE(driver_.IsReady(good_vid));
  }
  EXPECT_EQ(destroyed_.load(), 0);
  ASSERT_TRUE(good_fe.Send(Request::kGetFeatures, nullptr, 0));
  EXPECT_NE(good_fe.RecvU64(), ~0ull);
  for (int e : efds) close(e);
}

TEST_F(ProtocolTest, RepeatedMessagesDoNotLeak) {
  const std::string path = dir_ / "rep.sock";
  ASSERT_EQ(driver_.Register(path, 0), 0);
  GuestRam ram;
  FrontEnd fe(path);
  Negotiate(fe);
  SetMemTable(fe, ram);
  // A round trip without fds: the memfd that came with SET_MEM_TABLE is closed by now.
  ASSERT_TRUE(fe.Send(Request::kGetFeatures, nullptr, 0));
  ASSERT_NE(fe.RecvU64(), ~0ull);
  const int before = CountFds();
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(fe.SendState(Request::kSetVringNum, 0, 256 << (i % 3)));
    const int e = eventfd(0, EFD_CLOEXEC);
    ASSERT_TRUE(fe.SendU64(Request::kSetVringCall, 0, {e}));
    ASSERT_TRUE(fe.SendU64(Request::kSetVringErr, 0, {e}));
    close(e);
  }
  for (int i = 0; i < 50; ++i) SetMemTable(fe, ram);  // remaps: the old maps go
  ASSERT_TRUE(fe.Send(Request::kGetFeatures, nullptr, 0));
  ASSERT_NE(fe.RecvU64(), ~0ull);
  // One call fd is kept for vring 0; everything else was closed.
  EXPECT_EQ(CountFds(), before + 1);
}

// A front-end that sends requests and never reads the replies fills the back-end's
// socket buffer. Neither the datapath (which asks the driver for a device's queues every
// round it refreshes them, as vswitch-vhost's forwarder does every 100 ms) nor another
// device's control path may wait on it, and it loses no reply: they wait in the socket
// until it reads them.
TEST_F(ProtocolTest, FrontEndThatNeverReadsStallsNobody) {
  const std::string good = dir_ / "good.sock", stalled = dir_ / "stalled.sock";
  ASSERT_EQ(driver_.Register(good, 0), 0);
  ASSERT_EQ(driver_.Register(stalled, 0), 0);
  GuestRam ram;
  FrontEnd good_fe(good);
  Negotiate(good_fe);
  SetMemTable(good_fe, ram);
  std::vector<int> efds;
  SetUpVrings(good_fe, ram, efds);
  ASSERT_TRUE(WaitFor([&] { return new_devices_.load() == 1; }, 3s));
  const int vid = last_new_.load();

  // The datapath: what a round asks the driver, as fast as it can, timing each round.
  using Clock = std::chrono::steady_clock;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> rounds{0};
  std::atomic<int64_t> longest_us{0};
  std::atomic<bool> wrong{false};
  std::thread datapath([&] {
    auto last = Clock::now();
    while (!stop.load()) {
      if (driver_.GetQueueNum(vid) != 1 || !driver_.IsQueueEnabled(vid, 0)) wrong.store(true);
      (void)driver_.AvailEntries(vid, 1);
      const auto now = Clock::now();
      const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(now - last).count();
      if (us > longest_us.load()) longest_us.store(us);
      last = now;
      rounds.fetch_add(1);
    }
  });
  auto rate_over = [&](std::chrono::milliseconds period) {
    const uint64_t before = rounds.load();
    std::this_thread::sleep_for(period);
    return rounds.load() - before;
  };
  const uint64_t baseline = rate_over(1500ms);
  const int64_t longest_before = longest_us.exchange(0);

  // The stalled front-end: requests until its own send would block (the back-end stopped
  // taking them), and again whenever it would not, never reading.
  FrontEnd stalled_fe(stalled);
  ASSERT_TRUE(stalled_fe.connected());
  uint64_t sent = 0;
  const MessageHeader get{static_cast<uint32_t>(Request::kGetFeatures), kVersion, 0};
  const auto stall_end = Clock::now() + 1500ms;
  const uint64_t rounds_at_stall = rounds.load();
  int64_t slowest_good_ms = 0;
  while (Clock::now() < stall_end) {
    while (send(stalled_fe.fd(), &get, sizeof(get), MSG_DONTWAIT | MSG_NOSIGNAL) == sizeof(get)) ++sent;
    // Meanwhile another device's control path answers at once.
    const auto t0 = Clock::now();
    ASSERT_TRUE(good_fe.Send(Request::kGetFeatures, nullptr, 0));
    ASSERT_NE(good_fe.RecvU64(), ~0ull);
    slowest_good_ms = std::max<int64_t>(
        slowest_good_ms, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
    std::this_thread::sleep_for(20ms);
  }
  const uint64_t stalled_rounds = rounds.load() - rounds_at_stall;
  stop.store(true);
  datapath.join();
  const int64_t longest_stalled = longest_us.load();
  EXPECT_FALSE(wrong.load());
  std::printf("datapath rounds in 1.5 s: %lu without, %lu with a stalled front-end; longest "
              "round %ld us without, %ld us with; another device's slowest round trip %ld ms; "
              "%lu requests unread\n", static_cast<unsigned long>(baseline),
              static_cast<unsigned long>(stalled_rounds), static_cast<long>(longest_before),
              static_cast<long>(longest_stalled), static_cast<long>(slowest_good_ms),
              static_cast<unsigned long>(sent));
  ASSERT_GT(sent, 100u) << "the stalled front-end never filled the back-end's socket";
  // A round took up to 1 s while the session thread waited for the stalled front-end
  // under the control mutex.
  EXPECT_LT(longest_stalled, 300'000) << "longest datapath round with a stalled front-end (us); "
                                      << longest_before << " without";
  EXPECT_GT(stalled_rounds, baseline / 3) << "datapath rounds in 1.5 s: " << stalled_rounds
                                          << " with a stalled front-end, " << baseline << " without";
  EXPECT_LT(slowest_good_ms, 300) << "another device's GET_FEATURES round trip (ms)";
  // Nothing was dropped: the stalled front-end gets every reply once it reads.
  uint64_t replies = 0;
  while (replies < sent) {
    MessageHeader h{};
    auto payload = stalled_fe.Recv(&h);
    if (!payload) break;
    ASSERT_EQ(h.request, static_cast<uint32_t>(Request::kGetFeatures));
    ++replies;
  }
  EXPECT_EQ(replies, sent);
  EXPECT_EQ(Errors(ProtocolError::kIoError), 0u);
  for (int e : efds) close(e);
}

TEST_F(ProtocolTest, ServerReplacesStaleSocketAndRefusesLiveOne) {
  const std::string path = dir_ / "stale.sock";
  {
    // A socket file nobody listens on any more.
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    close(fd);
  }
  ASSERT_EQ(driver_.Register(path, 0), 0);
  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  FrontEnd fe(path);
  EXPECT_TRUE(fe.connected());
  // Another driver must not steal a live socket.
  Driver other;
  std::string error;
  EXPECT_EQ(other.Register(path, 0, {}, &error), -1);
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
  EXPECT_EQ(stat(path.c_str(), &st), 0);  // still there
  // Not a socket at all.
  const std::string plain = dir_ / "plain";
  test::WriteFile(plain, "x");
  EXPECT_EQ(other.Register(plain, 0, {}, &error), -1);
  EXPECT_EQ(driver_.Unregister(path), 0);
  EXPECT_NE(stat(path.c_str(), &st), 0);
}

TEST_F(ProtocolTest, ClientModeReconnectsAndNoReconnectFails) {
  const std::string path = dir_ / "front.sock";
  std::string error;
  Driver once;
  EXPECT_EQ(once.Register(path, kRegisterClient | kRegisterNoReconnect, {}, &error), -1);
  // The front-end is not there yet: the driver keeps trying every second.
  ASSERT_EQ(driver_.Register(path, kRegisterClient), 0);
  const int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(lfd, 4), 0);
  for (int round = 0; round < 2; ++round) {
    pollfd p{lfd, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 3000), 1) << "round " << round;
    const int conn = accept(lfd, nullptr, nullptr);
    ASSERT_GE(conn, 0);
    FrontEnd* unused = nullptr;
    (void)unused;
    MessageHeader h{static_cast<uint32_t>(Request::kGetFeatures), kVersion, 0};
    ASSERT_EQ(SendRaw(conn, std::span(reinterpret_cast<const uint8_t*>(&h), 12)), 12);
    MessageHeader r{};
    pollfd q{conn, POLLIN, 0};
    ASSERT_EQ(poll(&q, 1, 3000), 1);
    ASSERT_EQ(recv(conn, &r, sizeof(r), MSG_WAITALL), 12);
    EXPECT_EQ(r.flags, kVersion | kFlagReply);
    uint64_t f;
    ASSERT_EQ(recv(conn, &f, 8, MSG_WAITALL), 8);
    close(conn);  // the front-end goes away; the driver comes back
  }
  close(lfd);
  EXPECT_EQ(driver_.Unregister(path), 0);
}


// GET_VRING_BASE on a guest TX ring whose zero-copy buffers a consumer still holds
// (docs/architecture.md "When a ring stops"): the reply waits until they are freed and
// comes with their used elements written, so the base is also the used index; past the
// bound they are returned anyway. Either way each chain is used exactly once.
class ZeroCopyVringBaseTest : public ProtocolTest {
 protected:
  static constexpr uint16_t kChains = 4;
  static constexpr uint64_t kGpa = 0x40000000;  // GuestRam::Region

  // Vring 1 (guest TX) as SetUpVrings placed it: desc, used at +0x2000, avail at +0x1000.
  VirtqDesc* Desc() { return reinterpret_cast<VirtqDesc*>(ram_.base + 0x20000); }
  VirtqAvail* Avail() { return reinterpret_cast<VirtqAvail*>(ram_.base + 0x20000 + 0x1000); }
  VirtqUsed* Used() { return reinterpret_cast<VirtqUsed*>(ram_.base + 0x20000 + 0x2000); }

  // Connects with dequeue zero-copy, posts kChains 1000-byte frames and takes them all
  // by reference into `pkts`. Returns the vid.
  int TakeByReference(rte_mbuf** pkts) {
    const std::string path = dir_ / "zc.sock";
    EXPECT_EQ(driver_.Register(path, kRegisterDequeueZeroCopy), 0);
    fe_ = std::make_unique<FrontEnd>(path);
    Negotiate(*fe_);
    SetMemTable(*fe_, ram_);
    SetUpVrings(*fe_, ram_, efds_);
    EXPECT_TRUE(WaitFor([&] { return new_devices_.load() == 1; }, 3s));
    for (uint16_t i = 0; i < kChains; ++i) {
      const uint64_t off = 0x100000 + i * 0x1000;
      std::memset(ram_.base + off, 0, 12);  // virtio-net header (mergeable: 12 bytes)
      std::memset(ram_.base + off + 12, 0x40 + i, 1000);
      Desc()[i] = VirtqDesc{kGpa + off, 12 + 1000, 0, 0};
      Avail()->ring[i] = i;
    }
    __atomic_store_n(&Avail()->idx, kChains, __ATOMIC_RELEASE);
    const int vid = last_new_.load();
    EXPECT_EQ(driver_.DequeueBurst(vid, 1, g_pool, pkts, 32), kChains);
    EXPECT_EQ(driver_.GetQueueStats(vid, 1)->zero_copy.Get(), kChains) << "all by reference";
    EXPECT_EQ(__atomic_load_n(&Used()->idx, __ATOMIC_ACQUIRE), 0) << "held: none used yet";
    return vid;
  }

  // GET_VRING_BASE 1 while another thread frees `pkts` after `release`; returns the base
  // and, in *used_at_reply, the used index the guest saw when the reply arrived.
  uint32_t GetBaseWhileHeld(rte_mbuf** pkts, std::chrono::milliseconds release, uint16_t* used_at_reply,
                            std::chrono::milliseconds* took) {
    std::thread holder([&] {
      std::this_thread::sleep_for(release);
      for (uint16_t i = 0; i < kChains; ++i) rte_pktmbuf_free(pkts[i]);
    });
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(fe_->SendState(Request::kGetVringBase, 1, 0));
    auto reply = fe_->Recv();
    *took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    *used_at_reply = __atomic_load_n(&Used()->idx, __ATOMIC_ACQUIRE);
    holder.join();
    VringState state{~0u, ~0u};
    EXPECT_TRUE(reply && reply->size() == sizeof(state));
    if (reply && reply->size() == sizeof(state)) std::memcpy(&state, reply->data(), sizeof(state));
    EXPECT_EQ(state.index, 1u);
    return state.num;
  }

  // Each posted chain exactly once in the used ring.
  ::testing::AssertionResult EachChainUsedOnce() {
    const uint16_t n = __atomic_load_n(&Used()->idx, __ATOMIC_ACQUIRE);
    std::vector<int> times(kChains, 0);
    for (uint16_t i = 0; i < n; ++i) {
      const uint32_t id = Used()->ring[i].id;
      if (id >= kChains) return ::testing::AssertionFailure() << "used id " << id << " never posted";
      ++times[id];
    }
    for (uint16_t i = 0; i < kChains; ++i) {
      if (times[i] != 1) return ::testing::AssertionFailure() << "chain " << i << " used " << times[i] << " time(s)";
    }
    return ::testing::AssertionSuccess();
  }

  void TearDown() override {
    fe_.reset();
    for (int e : efds_) close(e);
    ProtocolTest::TearDown();
  }

  GuestRam ram_;
  std::unique_ptr<FrontEnd> fe_;
  std::vector<int> efds_;
};

TEST_F(ZeroCopyVringBaseTest, ReplyWaitsForHeldBuffersAndTheBaseIsTheUsedIndex) {
  rte_mbuf* pkts[32];
  (void)TakeByReference(pkts);
  uint16_t used = 0;
  std::chrono::milliseconds took{};
  const uint32_t base = GetBaseWhileHeld(pkts, 200ms, &used, &took);
  EXPECT_EQ(base, kChains);
  EXPECT_EQ(used, kChains) << "the reply came before the held chains were returned";
  EXPECT_GE(took, 150ms) << "it waited for the holder";
  EXPECT_TRUE(EachChainUsedOnce());
}

TEST_F(ZeroCopyVringBaseTest, PastTheBoundHeldChainsAreReturnedAnywayAndCounted) {
  rte_mbuf* pkts[32];
  const int vid = TakeByReference(pkts);
  uint16_t used = 0;
  std::chrono::milliseconds took{};
  const uint32_t base = GetBaseWhileHeld(pkts, 1500ms, &used, &took);
  EXPECT_EQ(base, kChains);
  EXPECT_EQ(used, kChains) << "returned at the bound, before the holder let go";
  EXPECT_GE(took, 900ms) << "it waited for the bound";
  EXPECT_EQ(driver_.GetQueueStats(vid, 1)->zero_copy_returned_held.Get(), kChains);
  EXPECT_TRUE(EachChainUsedOnce()) << "and not a second time when they were freed";
}

}  // namespace
}  // namespace vswitch::vhost
