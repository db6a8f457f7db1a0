// vswitch-vhost's forwarder in-process (EAL without hugepages, the group's rings made
// here) after its guest left: vswitch-switching stops producing to a device's to_vm ring
// only at its next round after it sees the device go, so the batch it was flushing then
// (retrying on a full ring while vswitch-vhost drained it) lands after vswitch-vhost's
// drain. Nobody else consumes to_vm: those mbufs must be freed while no guest is
// connected, not kept out of the pool for good (guest_memory_shrink_test lost 32 so).
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "driver.h"
#include "feature_bits.h"
#include "in_process_eal.h"
#include "message.h"
#include "names.h"
#include "socket_channel.h"
#include "state_layout.h"
#include "test_env.h"
#include "vhost_forwarder.h"
#include "virtio_ring.h"

namespace vswitch {
namespace {

using namespace std::chrono_literals;
using namespace vhost;

rte_mempool* g_pool = nullptr;

const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new test::InProcessEal("vshgone", [] {
  // No per-lcore cache: the pool's in-use count is exact.
  g_pool = rte_pktmbuf_pool_create("gone", 1023, 0, 0, 2048 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
  ASSERT_NE(g_pool, nullptr);
  for (auto name : {ToVmRingName(0), FromVmRingName(0)}) {
    ASSERT_NE(rte_ring_create(name.c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ), nullptr);
  }
}));

constexpr uint64_t kGpa = 0x40000000;
constexpr size_t kRamSize = 2 << 20;
constexpr uint32_t kRingSize = 256;
constexpr uint64_t kRingsAt = 0x10000;  // vring i at kRingsAt + i * 0x4000

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

uint64_t NotReadyDrops(const SharedState& state) {
  return state.counters[0].vhost_rx[0].drops[static_cast<size_t>(vswitch::DropReason::kDeviceNotReady)].load();
}

TEST(ForwarderDeviceGoneTest, FramesQueuedForAGuestAfterItLeftAreFreed) {
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

  // A guest with one queue pair and no RX buffers posted.
  const int memfd = memfd_create("vsw-guest", MFD_CLOEXEC);
  ASSERT_EQ(ftruncate(memfd, kRamSize), 0);
  auto* ram = static_cast<uint8_t*>(mmap(nullptr, kRamSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0));
  ASSERT_NE(ram, MAP_FAILED);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  Send(fd, Request::kSetOwner, nullptr, 0);
  Send(fd, Request::kGetFeatures, nullptr, 0);
  const uint64_t features = Bit(feature::kVersion1);
  ASSERT_EQ(RecvU64(fd) & features, features);
  SendU64(fd, Request::kSetFeatures, features);
  uint8_t table[8 + 32] = {};
  const uint32_t one = 1;
  std::memcpy(table, &one, 4);
  const MemoryRegion region{kGpa, kRamSize, reinterpret_cast<uint64_t>(ram), 0};
  std::memcpy(table + 8, &region, sizeof(region));
  Send(fd, Request::kSetMemTable, table, sizeof(table), {memfd});
  std::vector<int> eventfds;
  for (uint32_t i = 0; i < 2; ++i) {
    const uint64_t ring = reinterpret_cast<uint64_t>(ram) + kRingsAt + 0x4000ull * i;
    SendState(fd, Request::kSetVringNum, i, kRingSize);
    SendState(fd, Request::kSetVringBase, i, 0);
    VringAddr addr{i, 0, ring, ring + 0x2000, ring + 0x1000, 0};
    Send(fd, Request::kSetVringAddr, &addr, sizeof(addr));
    const int call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    eventfds.push_back(call);
    eventfds.push_back(kick);
    SendU64(fd, Request::kSetVringCall, i, {call});
    SendU64(fd, Request::kSetVringKick, i, {kick});  // without PROTOCOL_FEATURES: starts the ring
  }
  // A round trip: every message before it has been handled.
  Send(fd, Request::kGetFeatures, nullptr, 0);
  (void)RecvU64(fd);
  ASSERT_EQ(state->devices[0].state.load(), static_cast<uint32_t>(DeviceState::kReady));
  (void)forwarder.Poll();  // sees the device

  const unsigned baseline = rte_mempool_in_use_count(g_pool);
  // The guest goes; the datapath sees it and drains to_vm.
  close(fd);
  for (int i = 0; i < 500 && state->devices[0].state.load() != static_cast<uint32_t>(DeviceState::kWaiting); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(state->devices[0].state.load(), static_cast<uint32_t>(DeviceState::kWaiting));
  (void)forwarder.Poll();
  (void)forwarder.Poll();

  // Then switching's last batch for it lands.
  rte_ring* to_vm = rte_ring_lookup(ToVmRingName(0).c_str());
  ASSERT_NE(to_vm, nullptr);
  for (int i = 0; i < VhostForwarder::kBurst; ++i) {
    rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
    ASSERT_NE(m, nullptr);
    std::memset(rte_pktmbuf_mtod(m, uint8_t*), i, 64);
    m->data_len = m->pkt_len = 64;
    ASSERT_EQ(rte_ring_sp_enqueue(to_vm, m), 0);
  }
  ASSERT_EQ(rte_mempool_in_use_count(g_pool), baseline + VhostForwarder::kBurst);
  const uint64_t drops_before = NotReadyDrops(*state);

  // They are work for a sleeping datapath, and the next round frees them.
  EXPECT_TRUE(forwarder.HasWork());
  (void)forwarder.Poll();
  EXPECT_EQ(rte_ring_count(to_vm), 0u) << "frames left on the to_vm ring of a device without a guest";
  EXPECT_EQ(rte_mempool_in_use_count(g_pool), baseline);
  EXPECT_EQ(NotReadyDrops(*state) - drops_before, uint64_t{VhostForwarder::kBurst});
  EXPECT_FALSE(forwarder.HasWork());

  driver.SessionStop();
  (void)driver.Unregister(path);
  for (int e : eventfds) close(e);
  munmap(ram, kRamSize);
  close(memfd);
  // Whatever a failed expectation left on the ring goes back before the EAL does.
  rte_mbuf* m = nullptr;
  while (rte_ring_sc_dequeue(to_vm, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
}

}  // namespace
}  // namespace vswitch
