// A role killed in the middle of a ring operation, and its successor taking the ring end
// over (docs/architecture.md, "A role killed mid-operation"). vswitch-ring-probe leaves a
// ring end exactly as a killed owner leaves it (its head moved, its tail not) and dies by
// SIGKILL; vswitch-switching, started again, must repair it before it routes a frame.
// Judged as an operator would: the frames a testpmd guest receives, the monitor's
// counters, switching's log, and every ring's four counters read from the group.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "process.h"
#include "test_env.h"
#include "test_group.h"
#include "virtio_user.h"

namespace vswitch::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kMacA = "02:00:00:00:00:0a";  // device 0, VLAN 1000
constexpr const char* kMacB = "02:00:00:00:00:0b";  // device 1, VLAN 1001
constexpr const char* kHost = "02:00:00:00:00:99";  // a host behind the port

// prod head, prod tail, cons head, cons tail of every device ring, read by the probe.
using RingCounters = std::map<std::string, std::array<uint32_t, 4>>;

RingCounters ReadRingCounters(TestGroup& g) {
  RingCounters out;
  const CommandResult r = RingProbe(g.prefix(), {"--counters"});
  std::istringstream in(r.output);
  std::string word, name;
  while (in >> word) {
    if (word != "RING") continue;
    std::array<uint32_t, 4> c{};
    in >> name >> c[0] >> c[1] >> c[2] >> c[3];
    out[name] = c;
  }
  return out;
}

std::string Describe(const RingCounters& rings) {
  std::string s;
  for (const auto& [name, c] : rings) {
    s += name + " prod " + std::to_string(c[0]) + "/" + std::to_string(c[1]) + " cons " +
         std::to_string(c[2]) + "/" + std::to_string(c[3]) + "\n";
  }
  return s;
}

// Every ring's ends agree with themselves (no half-done operation) and, traffic over,
// with each other (everything published was taken).
bool RingsQuiet(const RingCounters& rings) {
  if (rings.empty()) return false;
  for (const auto& [name, c] : rings) {
    if (c[0] != c[1] || c[2] != c[3] || c[1] != c[3]) return false;
  }
  return true;
}

class RingRepairGroupTest : public testing::Test {
 protected:
  void SetUp() override {
    // Every guest-to-guest frame through switching's rings, whatever the default.
    group_ = std::make_unique<TestGroup>(std::map<std::string, std::string>{{"switching.direct-vm2vm", "0"}});
    const CommandResult up = group_->Vswitch({"up"});
    ASSERT_EQ(up.exit_code, 0) << up.output << group_->Log("switching");
    (void)group_->TapUp();
  }
  TestGroup& g() { return *group_; }

  // A guest that sends one burst of `burst` 64-byte frames to `peer`, then only receives.
  std::unique_ptr<VirtioUser> Guest(int device, const std::string& mac, int burst,
                                    const std::string& peer = "02:00:00:00:00:00") {
    return std::make_unique<VirtioUser>(
        g().dir(), g().socket(device), "rxonly", mac, "",
        std::vector<std::string>{"--tx-first", "--burst=" + std::to_string(burst), "--eth-peer=0," + peer});
  }
  bool WaitRegistered(const std::string& mac, int vlan) {
    const std::string line = "mac " + mac + " and vlan " + std::to_string(vlan) + " registered";
    return WaitFor([&] { return g().Log("switching").find(line) != std::string::npos; }, 30s);
  }
  // Starts the stopped switching secondary again and waits until it serves.
  void StartSwitching() {
    const CommandResult r = g().Vswitch({"restart", "switching"});
    ASSERT_EQ(r.exit_code, 0) << r.output << g().Log("switching");
    ASSERT_TRUE(g().WaitRoleState("switching", "up")) << g().Log("switching");
  }
  double Metric(const std::string& name, const std::map<std::string, std::string>& labels) {
    return g().Metric(name, labels);
  }

  std::unique_ptr<TestGroup> group_;
};

// switching was killed inside an enqueue of 20 frames for guest B: 5 of the slots
// written, 15 never. Its successor must not publish any of them: B receives exactly the
// 30 frames sent after the restart, vswitch-vhost (which would take the unwritten slots as
// mbuf pointers) keeps running, and the monitor counts 20 dropped slots.
TEST_F(RingRepairGroupTest, SwitchingKilledInsideAnEnqueuePublishesNoneOfIt) {
  auto b = Guest(1, kMacB, 8);
  ASSERT_TRUE(WaitRegistered(kMacB, 1001)) << g().Log("switching") << b->process().Log();
  ASSERT_TRUE(WaitFor([&] { return b->LastStat("TX-packets:") == 8; }, 20s)) << b->process().Log();
  ASSERT_EQ(g().Vswitch({"stop", "switching"}).exit_code, 0);
  const pid_t vhost = g().RolePid("vhost");
  ASSERT_GT(vhost, 0);

  const CommandResult probe = RingProbe(g().prefix(), {"--device", "1", "--abandon", "20", "--ring", "to_vm",
                                                       "--end", "producer", "--written", "5", "--size", "64",
                                                       "--dst", kMacB, "--src", "02:00:00:00:00:77"});
  ASSERT_EQ(probe.exit_code, 128 + SIGKILL) << probe.output;
  const RingCounters left = ReadRingCounters(g());
  ASSERT_EQ(left.at("vsw_to_vm_1")[0] - left.at("vsw_to_vm_1")[1], 20u) << Describe(left);

  ASSERT_NO_FATAL_FAILURE(StartSwitching());
  EXPECT_NE(g().Log("switching").find("ring vsw_to_vm_1: the previous vswitch-switching was killed inside an "
                                      "enqueue of 20 slot(s)"),
            std::string::npos)
      << g().Log("switching");
  const CommandResult send = RunCommand(
      {"/usr/bin/python3", "-c",
       "import sys\nfrom scapy.all import Ether, Dot1Q, Raw, sendp\n"
       "sendp([Ether(src='" + std::string(kHost) + "', dst='" + kMacB +
           "')/Dot1Q(vlan=1001)/Raw(b'r' * 60)] * 30, iface=sys.argv[1], verbose=False)\n",
       g().iface()},
      60s);
  ASSERT_EQ(send.exit_code, 0) << send.output;
  EXPECT_TRUE(WaitFor([&] { return b->LastStat("RX-packets:") >= 30; }, 20s)) << b->process().Log();
  std::this_thread::sleep_for(2500ms);  // testpmd prints every second: anything more would show
  EXPECT_EQ(b->LastStat("RX-packets:"), 30) << "B received frames that were never published";
  EXPECT_TRUE(PidAlive(vhost)) << g().Log("vhost");
  EXPECT_EQ(g().RolePid("vhost"), vhost);
  EXPECT_EQ(Metric("vswitch_role_ring_repairs_total", {{"role", "switching"}}), 1);
  EXPECT_EQ(Metric("vswitch_role_ring_repair_slots_total", {{"role", "switching"}, {"outcome", "dropped"}}), 20);
  const RingCounters after = ReadRingCounters(g());
  EXPECT_TRUE(RingsQuiet(after)) << Describe(after);
}

// switching was killed inside a dequeue of 20 of the 32 frames guest A sent to B while it
// was down. Its successor must take all 32, each once: B receives exactly 32.
TEST_F(RingRepairGroupTest, SwitchingKilledInsideADequeueLosesNoFrame) {
  auto b = Guest(1, kMacB, 8);
  ASSERT_TRUE(WaitRegistered(kMacB, 1001)) << g().Log("switching") << b->process().Log();
  ASSERT_TRUE(WaitFor([&] { return b->LastStat("TX-packets:") == 8; }, 20s)) << b->process().Log();
  ASSERT_EQ(g().Vswitch({"stop", "switching"}).exit_code, 0);

  auto a = Guest(0, kMacA, 32, kMacB);
  ASSERT_TRUE(WaitFor([&] { return a->LastStat("TX-packets:") == 32; }, 20s)) << a->process().Log();
  ASSERT_TRUE(WaitFor([&] {
    const RingCounters c = ReadRingCounters(g());
    return c.count("vsw_from_vm_0") != 0 && c.at("vsw_from_vm_0")[1] - c.at("vsw_from_vm_0")[3] == 32;
  }, 10s)) << Describe(ReadRingCounters(g())) << g().Log("vhost");

  const CommandResult probe = RingProbe(g().prefix(), {"--device", "0", "--abandon", "20", "--ring", "from_vm",
                                                       "--end", "consumer"});
  ASSERT_EQ(probe.exit_code, 128 + SIGKILL) << probe.output;

  ASSERT_NO_FATAL_FAILURE(StartSwitching());
  EXPECT_NE(g().Log("switching").find("ring vsw_from_vm_0: the previous vswitch-switching was killed inside a "
                                      "dequeue of 20 slot(s)"),
            std::string::npos)
      << g().Log("switching");
  EXPECT_TRUE(WaitFor([&] { return b->LastStat("RX-packets:") >= 32; }, 20s))
      << b->process().Log() << g().Log("switching");
  std::this_thread::sleep_for(2500ms);
  EXPECT_EQ(b->LastStat("RX-packets:"), 32);
  EXPECT_EQ(Metric("vswitch_role_ring_repair_slots_total", {{"role", "switching"}, {"outcome", "redelivered"}}),
            20);
  const RingCounters after = ReadRingCounters(g());
  EXPECT_TRUE(RingsQuiet(after)) << Describe(after);
}

// vswitch-vhost was killed inside a dequeue of 20 of the 32 frames queued for guest B
// (to_vm_1) and inside an enqueue of 20 of guest A's frames (from_vm_0: 5 slots written,
// 15 never). Its successor's repair: the 32 frames queued for B's old connection are all
// taken and freed when B connects again (counted as device_not_ready, as vhost frees what
// was queued for an old connection), and switching, started after it, routes exactly A's
// 32 new frames to B and none of the unfinished enqueue. (The guests are started again:
// a virtio-user client does not reconnect by itself.)
TEST_F(RingRepairGroupTest, VhostKilledInsideADequeueAndAnEnqueue) {
  auto b = Guest(1, kMacB, 8);
  ASSERT_TRUE(WaitRegistered(kMacB, 1001)) << g().Log("switching") << b->process().Log();
  ASSERT_EQ(g().Vswitch({"stop", "switching"}).exit_code, 0);
  ASSERT_EQ(g().Vswitch({"stop", "vhost"}).exit_code, 0);
  b.reset();

  // 32 frames for B on to_vm_1 (the probe stands in for switching), 20 of them taken by a
  // consumer that dies; then a producer of from_vm_0 that dies after 5 of 20 slots.
  const CommandResult inject = RingProbe(g().prefix(), {"--device", "1", "--inject", "32", "--size", "64",
                                                        "--dst", kMacB, "--src", kHost});
  ASSERT_EQ(inject.exit_code, 0) << inject.output;
  const CommandResult dequeue = RingProbe(g().prefix(), {"--device", "1", "--abandon", "20", "--ring", "to_vm",
                                                         "--end", "consumer"});
  ASSERT_EQ(dequeue.exit_code, 128 + SIGKILL) << dequeue.output;
  const CommandResult enqueue = RingProbe(g().prefix(), {"--device", "0", "--abandon", "20", "--ring", "from_vm",
                                                         "--end", "producer", "--written", "5", "--size", "64",
                                                         "--dst", kMacB, "--src", "02:00:00:00:00:77"});
  ASSERT_EQ(enqueue.exit_code, 128 + SIGKILL) << enqueue.output;
  const RingCounters left = ReadRingCounters(g());
  ASSERT_EQ(left.at("vsw_to_vm_1")[2] - left.at("vsw_to_vm_1")[3], 20u) << Describe(left);
  ASSERT_EQ(left.at("vsw_from_vm_0")[0] - left.at("vsw_from_vm_0")[1], 20u) << Describe(left);

  const auto stale = [&] {
    return Metric("vswitch_device_drops_total", {{"device", "1"}, {"stage", "vhost"}, {"reason", "device_not_ready"}});
  };
  const double stale_before = stale();
  const CommandResult vhost = g().Vswitch({"restart", "vhost"});
  ASSERT_EQ(vhost.exit_code, 0) << vhost.output << g().Log("vhost");
  ASSERT_TRUE(g().WaitRoleState("vhost", "up")) << g().Log("vhost");
  const std::string log = g().Log("vhost");
  EXPECT_NE(log.find("ring vsw_to_vm_1: the previous vswitch-vhost was killed inside a dequeue of 20 slot(s)"),
            std::string::npos) << log;
  EXPECT_NE(log.find("ring vsw_from_vm_0: the previous vswitch-vhost was killed inside an enqueue of 20 slot(s)"),
            std::string::npos) << log;
  EXPECT_EQ(Metric("vswitch_role_ring_repairs_total", {{"role", "vhost"}}), 2);
  EXPECT_EQ(Metric("vswitch_role_ring_repair_slots_total", {{"role", "vhost"}, {"outcome", "dropped"}}), 20);
  EXPECT_EQ(Metric("vswitch_role_ring_repair_slots_total", {{"role", "vhost"}, {"outcome", "redelivered"}}), 20);

  b = Guest(1, kMacB, 8);
  EXPECT_TRUE(WaitFor([&] { return stale() - stale_before == 32; }, 20s))
      << "frames queued for B's old connection, freed: " << stale() - stale_before << "\n" << g().Log("vhost");

  ASSERT_NO_FATAL_FAILURE(StartSwitching());
  const pid_t switching = g().RolePid("switching");
  EXPECT_TRUE(WaitFor([&] { return g().Status(".devices[1].mac") == kMacB; }, 20s)) << g().Log("switching");
  auto a = Guest(0, kMacA, 32, kMacB);
  EXPECT_TRUE(WaitFor([&] { return b->LastStat("RX-packets:") >= 32; }, 20s))
      << b->process().Log() << g().Log("switching") << g().Log("vhost");
  std::this_thread::sleep_for(2500ms);
  EXPECT_EQ(b->LastStat("RX-packets:"), 32) << "B received frames that were never published";
  EXPECT_EQ(g().RolePid("switching"), switching) << g().Log("switching");
  RingCounters after;
  EXPECT_TRUE(WaitFor([&] { return RingsQuiet(after = ReadRingCounters(g())); }, 10s)) << Describe(after);
}

// kill -9 at random moments while A sends to B without pause: after each restart B keeps
// receiving, and once A stops every ring's ends agree. (A kill lands between a head and a
// tail only now and then; when it does, the log and the counters say so.)
TEST_F(RingRepairGroupTest, RingEndsAgreeAfterSwitchingIsKilledUnderTraffic) {
  auto b = Guest(1, kMacB, 8);
  ASSERT_TRUE(WaitRegistered(kMacB, 1001)) << g().Log("switching");
  auto a = std::make_unique<VirtioUser>(g().dir(), g().socket(0), "txonly", kMacA, "",
                                        std::vector<std::string>{"--eth-peer=0," + std::string(kMacB)});
  ASSERT_TRUE(WaitRegistered(kMacA, 1000)) << g().Log("switching") << a->process().Log();
  std::mt19937 random(static_cast<unsigned>(getpid()));
  for (int round = 0; round < 5; ++round) {
    const long long rx = b->LastStat("RX-packets:");
    ASSERT_TRUE(WaitFor([&] { return b->LastStat("RX-packets:") > rx + 1000; }, 20s))
        << "round " << round << ": B stopped receiving\n" << g().Log("switching") << g().Log("vhost");
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 300)(random)));
    const pid_t switching = g().RolePid("switching");
    ASSERT_GT(switching, 0);
    ASSERT_EQ(kill(switching, SIGKILL), 0);
    ASSERT_TRUE(WaitFor([&] { return !PidAlive(switching); }, 10s));
    ASSERT_NO_FATAL_FAILURE(StartSwitching());
  }
  const long long rx = b->LastStat("RX-packets:");
  EXPECT_TRUE(WaitFor([&] { return b->LastStat("RX-packets:") > rx + 1000; }, 20s)) << g().Log("switching");
  a.reset();  // A stops; what is in flight drains to B
  RingCounters after;
  EXPECT_TRUE(WaitFor([&] { return RingsQuiet(after = ReadRingCounters(g())); }, 10s)) << Describe(after);
  std::printf("half-done operations repaired in 5 kills: %.0f (slots dropped %.0f, redelivered %.0f)\n",
              Metric("vswitch_role_ring_repairs_total", {{"role", "switching"}}),
              Metric("vswitch_role_ring_repair_slots_total", {{"role", "switching"}, {"outcome", "dropped"}}),
              Metric("vswitch_role_ring_repair_slots_total", {{"role", "switching"}, {"outcome", "redelivered"}}));
}

}  // namespace
}  // namespace vswitch::test
