// vswitch-vhost's forwarder in-process (EAL without hugepages, the group's rings made
// here) against a front-end that set up 4 queue pairs and enabled only pair 0, as a
// guest does after `ethtool -L eth0 combined 1`: every Poll round delivers a burst to
// the enabled RX queue, none is spent on disabled ones.
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "driver.h"
#include "feature_bits.h"
#include "message.h"
#include "names.h"
#include "process.h"
#include "socket_channel.h"
#include "state_layout.h"
#include "in_process_eal.h"
#include "test_env.h"
#include "vhost_forwarder.h"
#include "virtio_ring.h"

namespace vswitch {
namespace {

using namespace std::chrono_literals;
using namespace vhost;

rte_mempool* g_pool = nullptr;

const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new test::InProcessEal("vshfwd", [] {
  g_pool = rte_pktmbuf_pool_create("fwd", 2047, 0, 0, 2048 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
  ASSERT_NE(g_pool, nullptr);
  for (auto name : {ToVmRingName(0), FromVmRingName(0)}) {
    ASSERT_NE(rte_ring_create(name.c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ), nullptr);
  }
}));

constexpr uint64_t kGpa = 0x40000000;
constexpr size_t kRamSize = 2 << 20;
constexpr uint32_t kRingSize = 256;
constexpr uint64_t kRingsAt = 0x10000;    // vring i at kRingsAt + i * 0x4000
constexpr uint64_t kBuffersAt = 0x100000;  // RX buffers of 2 KB

void Send(int fd, Request r, const void* payload, uint32_t size, std::vector<int> fds = {}) {
  MessageHeader h{static_cast<uint32_t>(r), kVersion, size};
  std::vector<uint8_t> buf(sizeof(h) + size);
  std::memcpy(buf.data(), &h, sizeof(h));
  if (size > 0) std::memcpy(buf.data() + sizeof(h), payload, size);
  ASSERT_EQ(SendRaw(fd, buf, fds), static_cast<long>(buf.size()));
}
void SendU64(int fd, Request r, uint64_t v, std::vector<int> fds = {}) { Send(fd, r, &v, 8, std::move(fds)); }
void SendState(int fd, Request r, uint32_t index, uint32_t num) {
  VringState s{index, num};
  Send(fd, r, &s, sizeof(s));
}
uint64_t RecvU64(int fd) {
  MessageHeader h{};
  uint64_t v = 0;
  EXPECT_EQ(recv(fd, &h, sizeof(h), MSG_WAITALL), static_cast<ssize_t>(sizeof(h)));
  EXPECT_EQ(recv(fd, &v, 8, MSG_WAITALL), 8);
  return v;
}

TEST(ForwarderRxQueuesTest, OneOfFourPairsEnabledTakesABurstEveryRound) {
  test::TempDir dir;
  const std::string path = dir / "vm0.sock";
  auto state = std::make_unique<SharedState>();
  Driver driver;
  VhostForwarder forwarder(driver, *state, g_pool, {path});
  std::string error;
  ASSERT_TRUE(forwarder.LookupRings(false, &error)) << error;
  driver.CallbackRegister({
      [&](int vid) { return forwarder.OnNewDevice(vid); },
      [&](int vid) { forwarder.OnDestroyDevice(vid); },
      [&](int vid, uint16_t q, int enable) { return forwarder.OnVringStateChanged(vid, q, enable); },
      [&](const std::string& p) { forwarder.OnConnectionRefused(p); },
      [&](const std::string& p) { forwarder.OnMemoryFault(p); },
  });
  ASSERT_EQ(driver.Register(path, 0), 0);
  ASSERT_EQ(driver.SessionStart(), 0);

  // Guest memory, and 256 posted 2 KB buffers on RX queue 0.
  const int memfd = memfd_create("vsw-guest", MFD_CLOEXEC);
  ASSERT_EQ(ftruncate(memfd, kRamSize), 0);
  auto* ram = static_cast<uint8_t*>(mmap(nullptr, kRamSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0));
  ASSERT_NE(ram, MAP_FAILED);
  auto* desc = reinterpret_cast<VirtqDesc*>(ram + kRingsAt);
  auto* avail = reinterpret_cast<VirtqAvail*>(ram + kRingsAt + 0x1000);
  auto* used = reinterpret_cast<volatile VirtqUsed*>(ram + kRingsAt + 0x2000);
  for (uint16_t i = 0; i < kRingSize; ++i) {
    desc[i] = VirtqDesc{kGpa + kBuffersAt + 2048ull * i, 2048, kDescFlagWrite, 0};
    avail->ring[i] = i;
  }
  avail->idx = kRingSize;

  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  Send(fd, Request::kSetOwner, nullptr, 0);
  Send(fd, Request::kGetFeatures, nullptr, 0);
  const uint64_t features = Bit(feature::kVersion1) | Bit(feature::kProtocolFeatures) | Bit(feature::kNetMq);
  ASSERT_EQ(RecvU64(fd) & features, features);
  SendU64(fd, Request::kSetProtocolFeatures, Bit(protocol_feature::kMq));
  SendU64(fd, Request::kSetFeatures, features);
  uint8_t table[8 + 32] = {};
  const uint32_t one = 1;
  std::memcpy(table, &one, 4);
  const MemoryRegion region{kGpa, kRamSize, reinterpret_cast<uint64_t>(ram), 0};
  std::memcpy(table + 8, &region, sizeof(region));
  Send(fd, Request::kSetMemTable, table, sizeof(table), {memfd});
  std::vector<int> eventfds;
  for (uint32_t i = 0; i < 8; ++i) {
    const uint64_t ring = reinterpret_cast<uint64_t>(ram) + kRingsAt + 0x4000ull * i;
    SendState(fd, Request::kSetVringNum, i, kRingSize);
    SendState(fd, Request::kSetVringBase, i, 0);
    VringAddr addr{i, 0, ring, ring + 0x2000, ring + 0x1000, 0};
    Send(fd, Request::kSetVringAddr, &addr, sizeof(addr));
    const int call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    eventfds.push_back(call);
    eventfds.push_back(kick);
    SendU64(fd, Request::kSetVringCall, i, {call});
    SendU64(fd, Request::kSetVringKick, i, {kick});
    // Pair 0 only (vhost-user.rst "Ring states": with PROTOCOL_FEATURES rings start disabled).
    if (i < 2) SendState(fd, Request::kSetVringEnable, i, 1);
  }
  // A round trip: every message before it has been handled.
  Send(fd, Request::kGetFeatures, nullptr, 0);
  (void)RecvU64(fd);
  ASSERT_EQ(state->devices[0].state.load(), static_cast<uint32_t>(DeviceState::kReady));
  ASSERT_EQ(driver.GetQueueNum(state->devices[0].vid.load()), 4);
  (void)forwarder.Poll();  // sees the device

  // 8 bursts of 32 frames on to_vm.
  rte_ring* to_vm = rte_ring_lookup(ToVmRingName(0).c_str());
  for (int i = 0; i < 256; ++i) {
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    ASSERT_NE(m, nullptr);
    auto* p = rte_pktmbuf_mtod(m, uint8_t*);
    std::memset(p, i, 64);
    m->data_len = m->pkt_len = 64;
    ASSERT_EQ(rte_ring_sp_enqueue(to_vm, m), 0);
  }
  int rounds = 0;
  while (used->idx < 256 && rounds < 200) {
    (void)forwarder.Poll();
    ++rounds;
  }
  EXPECT_EQ(used->idx, 256);
  // One burst per round (the old spread over the 4 configured pairs took 4 rounds each).
  EXPECT_LE(rounds, 9) << "rounds to deliver 8 bursts";
  EXPECT_EQ(state->counters[0].vhost_rx[0].packets.load(), 256u);

  driver.SessionStop();
  (void)driver.Unregister(path);
  close(fd);
  for (int e : eventfds) close(e);
  munmap(ram, kRamSize);
  close(memfd);
}

}  // namespace
}  // namespace vswitch
