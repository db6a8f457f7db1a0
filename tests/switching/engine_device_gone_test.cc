// vswitch-switching's engine in-process (EAL without hugepages, the group's pool, MAC
// table and rings made here, a net_null port that receives nothing) after a device went:
// vswitch-vhost can put a burst on the device's from_vm ring after switching drained it
// (the burst was dequeued before the device stopped; guest_memory_shrink_test lost 32
// mbufs so). Switching is the ring's only consumer: it must free that burst while the
// device is not ready, not leave it out of the pool until the guest comes back.
#include <gtest/gtest.h>
#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstring>
#include <memory>
#include <string>

#include "config.h"
#include "in_process_eal.h"
#include "mac_table.h"
#include "names.h"
#include "state_layout.h"
#include "switch_engine.h"

namespace vswitch {
namespace {

rte_mempool* g_pool = nullptr;
uint16_t g_port = 0;

const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new test::InProcessEal("swgone", [] {
  // No per-lcore cache: the pool's in-use count is exact.
  g_pool = rte_pktmbuf_pool_create(kMbufPool, 1023, 0, 0, 2048 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
  ASSERT_NE(g_pool, nullptr);
  ASSERT_NE(MacTable::Create(kMacTable, 1024, SOCKET_ID_ANY), nullptr);
  for (auto name : {ToVmRingName(0), FromVmRingName(0)}) {
    ASSERT_NE(rte_ring_create(name.c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ), nullptr);
  }
  ASSERT_EQ(rte_vdev_init("net_null0", "no-rx=1"), 0);
  ASSERT_EQ(rte_eth_dev_get_port_by_name("net_null0", &g_port), 0);
  rte_eth_conf conf{};
  ASSERT_EQ(rte_eth_dev_configure(g_port, 1, 1, &conf), 0);
  ASSERT_EQ(rte_eth_rx_queue_setup(g_port, 0, 64, SOCKET_ID_ANY, nullptr, g_pool), 0);
  ASSERT_EQ(rte_eth_tx_queue_setup(g_port, 0, 64, SOCKET_ID_ANY, nullptr), 0);
  ASSERT_EQ(rte_eth_dev_start(g_port), 0);
}));

// A frame from the guest's MAC to the port's side (what vswitch-vhost dequeued).
rte_mbuf* GuestFrame(uint8_t n) {
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  if (m == nullptr) return nullptr;
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  std::memset(p, n, 1024);
  const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x01}, src[6] = {0x02, 0, 0, 0, 0, 0x0a};
  std::memcpy(p, dst, 6);
  std::memcpy(p + 6, src, 6);
  p[12] = 0x08;  // IPv4
  p[13] = 0x00;
  m->data_len = m->pkt_len = 1024;
  return m;
}

uint64_t NotReadyDrops(const SharedState& state) {
  return state.counters[0].switch_tx.drops[static_cast<size_t>(DropReason::kDeviceNotReady)].load();
}

TEST(EngineDeviceGoneTest, ABurstPutOnFromVmAfterTheDeviceWentIsFreed) {
  auto state = std::make_unique<SharedState>();
  state->config.max_devices = 1;
  state->config.port_id = g_port;
  state->config.port_rx_queues = 1;
  state->config.port_tx_queues = 1;
  state->config.port_mtu = 1500;
  state->config.port_max_frame = 1514;
  DeviceInfo& device = state->devices[0];
  device.vid.store(0);
  device.connections.store(1);
  device.state.store(static_cast<uint32_t>(DeviceState::kReady));
  SwitchEngine engine(*state, SwitchingOptions{});
  std::string error;
  ASSERT_TRUE(engine.Init(&error)) << error;
  rte_ring* from_vm = rte_ring_lookup(FromVmRingName(0).c_str());
  ASSERT_NE(from_vm, nullptr);
  const unsigned baseline = rte_mempool_in_use_count(g_pool);

  // While the device is ready its frames go to the port.
  for (uint8_t i = 0; i < 8; ++i) ASSERT_EQ(rte_ring_sp_enqueue(from_vm, GuestFrame(i)), 0);
  (void)engine.Poll();
  ASSERT_EQ(rte_ring_count(from_vm), 0u);
  ASSERT_EQ(state->port.tx_packets.load(), 8u);
  ASSERT_EQ(rte_mempool_in_use_count(g_pool), baseline);

  // The device stops (vswitch-vhost's destroy_device); switching sees it and drains.
  device.vid.store(-1);
  device.state.store(static_cast<uint32_t>(DeviceState::kWaiting));
  (void)engine.Poll();
  (void)engine.Poll();

  // Then the burst vswitch-vhost dequeued before the device stopped lands.
  for (uint8_t i = 0; i < SwitchEngine::kBurst; ++i) ASSERT_EQ(rte_ring_sp_enqueue(from_vm, GuestFrame(i)), 0);
  ASSERT_EQ(rte_mempool_in_use_count(g_pool), baseline + SwitchEngine::kBurst);
  const uint64_t drops_before = NotReadyDrops(*state);

  // It is work for a sleeping switching, and the next round frees it, unsent.
  EXPECT_TRUE(engine.HasWork());
  (void)engine.Poll();
  EXPECT_EQ(rte_ring_count(from_vm), 0u) << "frames left on the from_vm ring of a device that is gone";
  EXPECT_EQ(rte_mempool_in_use_count(g_pool), baseline);
  EXPECT_EQ(NotReadyDrops(*state) - drops_before, uint64_t{SwitchEngine::kBurst});
  EXPECT_EQ(state->port.tx_packets.load(), 8u);
  EXPECT_FALSE(engine.HasWork());

  engine.Shutdown();
  // Whatever a failed expectation left on the ring goes back before the EAL does.
  rte_mbuf* m = nullptr;
  while (rte_ring_sc_dequeue(from_vm, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
}

}  // namespace
}  // namespace vswitch
