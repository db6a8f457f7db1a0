// kill -9 of a secondary under continuous traffic, again and again, restarting it after
// each kill as an operator (or systemd) would: traffic comes back every time, and once the
// guests stop, exactly as many mbufs are in use outside the device rings as after the same
// traffic without kills. Every mbuf the killed instances held outside the rings (a burst
// being routed, batches for a ring, frames waiting for a guest's buffers, the packet
// builder's spares) was found by its successor and freed once (held_mbufs.h).
//
// The traffic is vswitch-seq-peer (tests/tools/seq_peer.cc): two virtio-user guests
// streaming numbered frames to each other through switching's rings (direct-vm2vm 0, or
// switching would hold nothing). No frame may arrive twice (a ring slot or a guest chain
// read again), and every frame that never arrived must be accounted for by what the
// group counted while the peer ran: drops by reason, frames sent to the port, and the
// mbufs the killed role held, which its successor freed (each at most one frame; the
// count also holds mbufs that were no frame, such as vswitch-vhost's packet builder's
// spares, so it bounds the loss from above). A slot lost without being counted shows
// as more missing frames than that. No counter goes back or disappears across a kill, and
// the MAC table keeps both guests.
//
// The number of kills per role is VSWITCH_KILLS (default 10 in the suite;
// bench/kill-restart.sh runs 100).
//
// vswitch-vhost is also killed with the guests on packed virtqueues (packed_vq=1):
// virtio-user, reconnecting, resets its packed rings and drops what was on them (DPDK
// 22.11 "Packets on the fly will be dropped when packed ring reconnecting"), so each
// reconnection may lose up to a ring's worth per ring on top of what the group counted
// (docs/architecture.md "Resuming a packed ring").
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process.h"
#include "seq_peer_process.h"
#include "test_env.h"
#include "test_group.h"

namespace vswitch::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kMacA = "02:00:00:00:00:0a";  // device 0
constexpr const char* kMacB = "02:00:00:00:00:0b";  // device 1
// Seconds from a kill to both guests receiving again, restart included. The goal is 1 s
// for every role. On the 2-CPU test machine (100 kills each, vhost and switching sharing
// CPU 1 as deploy/vswitch places them) vhost came back after 0.38 s mean, 0.52 s worst
// (2026-12-04); switching after 0.41 s mean, 0.55 s worst (2026-12-05, since vhost leaves
// guest TX in the guests' rings while from_vm is full instead of reading and dropping it
// on the CPU the new switching starts on: 0.86 s mean, 1.05 s worst before). The bounds
// leave room for a slower CI host (a restart that hangs still fails). The monitor is not
// on the datapath: frames never stop.
double BackWithin(const std::string& role) {
  return role == "monitor" ? 1.0 : 1.5;
}

// virtio-user's default queue_size: the peer's rings hold this many descriptors each.
constexpr long long kPeerRingSize = 256;

int Kills() {
  const char* v = std::getenv("VSWITCH_KILLS");
  const int n = v != nullptr ? std::atoi(v) : 10;
  return n > 0 ? n : 10;
}

// Every vswitch_ counter series of a scrape ("name{labels}" -> value).
std::map<std::string, double> Counters(const std::string& scrape) {
  std::map<std::string, double> out;
  std::vector<std::string> counter_names;
  std::istringstream in(scrape);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE vswitch_", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      if (type == "counter") counter_names.push_back(name);
      continue;
    }
    if (line.empty() || line[0] == '#' || counter_names.empty()) continue;
    const std::string& name = counter_names.back();  // samples follow their TYPE line
    if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0) continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

// Each series of `before` is in `now`, not lower. Returns what is wrong, "" when nothing.
std::string CountersKept(const std::map<std::string, double>& before, const std::map<std::string, double>& now) {
  std::ostringstream wrong;
  int n = 0;
  for (const auto& [series, value] : before) {
    const auto it = now.find(series);
    if (it == now.end()) {
      if (n++ < 10) wrong << "  " << series << " " << value << ": gone\n";
    } else if (it->second < value) {
      if (n++ < 10) wrong << "  " << series << " went back from " << value << " to " << it->second << "\n";
    }
  }
  if (n > 10) wrong << "  (" << n << " in all)\n";
  return wrong.str();
}

// What the group counted that can account for a numbered frame that never arrived.
struct Accounted {
  double device_drops = 0, port_drops = 0, to_port = 0, recovered = 0;
  [[nodiscard]] double total() const { return device_drops + port_drops + to_port + recovered; }
};

class KillRestartGroupTest : public testing::Test {
 protected:
  void Start(bool client) {
    // vhost and switching share CPU 1 and the guests have CPU 0, as deploy/vswitch places
    // the roles on a 2-CPU machine (the test group's default puts switching beside the
    // guests, whose busy polling would halve a restarting switching's CPU).
    std::map<std::string, std::string> config{{"switching.direct-vm2vm", "0"}, {"eal.switching-cpu", "1"}};
    if (client) config["vhost.client"] = "true";
    if (packed_) config["vhost.packed"] = "1";
    client_ = client;
    group_ = std::make_unique<TestGroup>(config);
    const CommandResult up = group_->Vswitch({"up"});
    ASSERT_EQ(up.exit_code, 0) << up.output << group_->Log("switching");
  }
  TestGroup& g() { return *group_; }

  Accounted Counted(const std::string& role) {
    Accounted a;
    a.device_drops = g().Metric("vswitch_device_drops_total");
    a.port_drops = g().Metric("vswitch_port_drops_total");
    a.to_port = g().Metric("vswitch_port_switched_packets_total", {{"direction", "tx"}});
    a.recovered = g().Metric("vswitch_role_mbufs_recovered_total", {{"role", role}});
    return a;
  }

  // The peer streaming, both MACs learned and frames moving.
  void StartTraffic() {
    counted_before_ = Counted(role_);
    peer_ = std::make_unique<SeqPeerProcess>(g(), 0, kMacA, kMacB, client_, packed_);
    ASSERT_TRUE(peer_->WaitLearned(30s)) << peer_->Log() << g().Log("switching") << g().Log("vhost");
    // Both MACs learned: from here on a frame goes to the port only if its destination
    // was missing from the MAC table.
    to_port_learned_ = g().Metric("vswitch_port_switched_packets_total", {{"direction", "tx"}});
    ASSERT_TRUE(WaitDelivered(Delivered() + 100000, 30s)) << peer_->Log() << g().Log("switching") << g().Log("vhost");
  }

  // Stops the peer and checks its numbers: none twice, none past what was sent, and no
  // more missing than the group accounted for while it ran, plus, on packed rings, what
  // virtio-user dropped resetting its rings: per reconnection (each guest after each kill
  // of vswitch-vhost, `reconnections` in all) a TX ring and an RX ring of each direction.
  void StopTrafficAndCheckSequence(const std::string& what, long long reconnections = 0) {
    const SeqReport r = peer_->Finish();
    const Accounted after = Counted(role_);
    Accounted d;
    d.device_drops = after.device_drops - counted_before_.device_drops;
    d.port_drops = after.port_drops - counted_before_.port_drops;
    d.to_port = after.to_port - counted_before_.to_port;
    d.recovered = after.recovered - counted_before_.recovered;
    ASSERT_TRUE(r.complete) << "no report from the peer\n" << peer_->Log();
    const long long missing = r.a_to_b.missing + r.b_to_a.missing;
    const double reset = packed_ ? static_cast<double>(reconnections * 2 * kPeerRingSize) : 0;
    std::printf("%s: sequence: A->B sent %lld, received %lld, missing %lld, duplicates %lld (gaps %lld, late %lld); "
                "B->A sent %lld, received %lld, missing %lld, duplicates %lld (gaps %lld, late %lld); "
                "accounted %.0f (drops %.0f, port drops %.0f, to the port %.0f, mbufs recovered %.0f); "
                "TX refused by the guests' rings %lld; allowed for packed ring resets %.0f\n",
                what.c_str(), r.a_to_b.sent, r.a_to_b.received, r.a_to_b.missing, r.a_to_b.duplicates, r.a_to_b.gaps,
                r.a_to_b.late, r.b_to_a.sent, r.b_to_a.received, r.b_to_a.missing, r.b_to_a.duplicates,
                r.b_to_a.gaps, r.b_to_a.late, d.total(), d.device_drops, d.port_drops, d.to_port, d.recovered,
                r.tx_refused, reset);
    EXPECT_EQ(r.a_to_b.duplicates + r.b_to_a.duplicates, 0) << what << ": frames delivered twice\n" << r.text;
    EXPECT_FALSE(r.a_to_b.beyond || r.b_to_a.beyond) << what << ": numbers never sent arrived\n" << r.text;
    EXPECT_GT(r.a_to_b.received, 0);
    EXPECT_GT(r.b_to_a.received, 0);
    EXPECT_LE(static_cast<double>(missing), d.total() + reset)
        << what << ": " << missing << " frames never arrived, the group accounted for " << d.total()
        << ", packed ring resets for " << reset << "\n"
        << r.text << g().Log("switching") << g().Log("vhost");
    last_report_ = r;
    peer_.reset();
  }

  // Frames switching has taken from the guests so far.
  double Delivered() {
    return g().Metric("vswitch_device_packets_total", {{"stage", "switching"}, {"direction", "tx"}});
  }
  // True once more frames than `than` have been delivered (polled every 20 ms).
  bool WaitDelivered(double than, std::chrono::milliseconds timeout) {
    return WaitFor([&] { return Delivered() > than; }, timeout);
  }
  // The mbufs in use outside the device rings once that has stopped moving (guests
  // gone). A guest that leaves can strand a burst in a ring (taken from it just before it
  // left, for a consumer that has stopped polling it): queued, not lost, and taken at its
  // next connection; the pool's in-use count alone moves by it from run to run.
  double SettledHeld() {
    double last = -1;
    for (int i = 0; i < 40; ++i) {
      std::this_thread::sleep_for(500ms);
      const double in_use = g().Metric("vswitch_mbuf_pool_in_use");
      const double queued = g().Metric("vswitch_ring_entries");
      const double now = in_use - queued;
      if (now == last) {
        std::printf("mbufs in use %.0f, of them in the device rings %.0f\n", in_use, queued);
        return now;
      }
      last = now;
    }
    return last;
  }

  // Baseline: the same traffic without kills.
  double Baseline() {
    StartTraffic();
    std::this_thread::sleep_for(2s);
    StopTrafficAndCheckSequence("without kills");
    return SettledHeld();
  }

  // Milliseconds from the kill at `kill_ms` (CLOCK_REALTIME) until both directions' frames
  // arrive again: the end of the peer's stall that covers it, per direction (a direction
  // without one never stopped for 50 ms).
  static double BackAfter(long long kill_ms, const std::vector<SeqReport::Stall>& stalls) {
    long long back = 0;
    for (bool a_to_b : {true, false}) {
      for (const SeqReport::Stall& s : stalls) {
        if (s.a_to_b != a_to_b || s.end_ms < kill_ms || s.end_ms - s.ms > kill_ms + 50) continue;
        back = std::max(back, s.end_ms - kill_ms);
        break;
      }
    }
    return static_cast<double>(back) / 1000.0;
  }

  // Kills `role` Kills() times under traffic, restarting it after each; returns the
  // seconds from each kill until both guests received frames again.
  std::vector<double> KillUnderTraffic() {
    const std::string& role = role_;
    std::vector<double> scraped;
    std::vector<long long> kill_ms;
    std::mt19937 random(static_cast<unsigned>(getpid()));
    StartTraffic();
    if (HasFatalFailure()) return {};
    std::map<std::string, double> counters = Counters(g().Scrape());
    EXPECT_FALSE(counters.empty()) << "no vswitch_ counter in the scrape";
    for (int k = 0; k < Kills(); ++k) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 400)(random)));
      const pid_t pid = g().RolePid(role);
      if (pid <= 0) {
        ADD_FAILURE() << "kill " << k << ": no " << role << " pid";
        break;
      }
      // The counters live in the primary's memory: none goes back across a kill, none
      // disappears (the previous kill's restart came before this scrape).
      const std::map<std::string, double> now = Counters(g().Scrape());
      const std::string wrong = CountersKept(counters, now);
      EXPECT_TRUE(wrong.empty()) << "kill " << k << " of " << role << ": counters not kept:\n" << wrong;
      counters = now;
      if (role != "vhost") {
        EXPECT_EQ(g().Metric("vswitch_mac_table_entries"), 2) << "before kill " << k << " of " << role;
      }
      const double pre = Delivered();
      kill_ms.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count());
      EXPECT_EQ(kill(pid, SIGKILL), 0);
      const auto killed = Clock::now();
      EXPECT_TRUE(WaitFor([&] { return PidExited(pid); }, 10s));
      // Frames move on without the monitor (nobody serves the counters meanwhile).
      const double before = role == "monitor" ? pre : Delivered();
      const double dead = std::chrono::duration<double>(Clock::now() - killed).count();
      const CommandResult r = g().Vswitch({"restart", role});
      EXPECT_EQ(r.exit_code, 0) << r.output << g().Log(role);
      restart_.push_back({dead, std::chrono::duration<double>(Clock::now() - killed).count()});
      if (!WaitDelivered(before, 20s)) {
        ADD_FAILURE() << "kill " << k << ": no frame moved within 20 s of the restart\n"
                      << g().Log(role) << g().Log(role == "vhost" ? "switching" : "vhost") << peer_->Log();
        break;
      }
      scraped.push_back(std::chrono::duration<double>(Clock::now() - killed).count());
    }
    const std::string wrong = CountersKept(counters, Counters(g().Scrape()));
    EXPECT_TRUE(wrong.empty()) << "after the kills of " << role << ": counters not kept:\n" << wrong;
    ExpectMacsKept();
    const double to_port = g().Metric("vswitch_port_switched_packets_total", {{"direction", "tx"}}) - to_port_learned_;
    if (role == "vhost") {
      // A guest that reconnects may be another guest: switching unregisters its MAC and
      // learns it again from its next frame; frames to it meanwhile go to the port
      // (counted there, and in the accounting below).
      std::printf("frames sent to the port while the reconnected guests' MACs were learned again: %.0f\n", to_port);
    } else {
      EXPECT_EQ(to_port, 0) << "frames went to the port during the kills of " << role
                            << ": a destination was missing from the MAC table";
    }
    // Where each successor's start-up went (its "up ... ms after exec" lines).
    const std::string log = g().Log(role);
    for (size_t p = log.find("ms after exec"); p != std::string::npos; p = log.find("ms after exec", p + 1)) {
      const size_t begin = log.rfind('\n', p) + 1;
      std::printf("%s\n", log.substr(begin, log.find('\n', p) - begin).c_str());
    }
    // Each guest reconnects once per kill of vswitch-vhost.
    StopTrafficAndCheckSequence(std::to_string(scraped.size()) + " kills of " + role,
                                role == "vhost" ? 2 * static_cast<long long>(kill_ms.size()) : 0);
    Report(role + ", seen by the test's scrapes (switching took a frame from a guest; restart and scrapes "
           "included)", scraped);
    std::vector<double> back;
    for (size_t k = 0; k < scraped.size(); ++k) {
      back.push_back(BackAfter(kill_ms[k], last_report_.stalls));
      std::printf("kill %zu of %s: gone after %.3f s, `restart` returned after %.3f s, frames back after %.3f s\n", k,
                  role.c_str(), restart_[k].first, restart_[k].second, back.back());
      EXPECT_LE(back.back(), BackWithin(role)) << "kill " << k << " of " << role << ": frames arrived again only after "
                                          << back.back() << " s\n" << last_report_.text;
    }
    return back;
  }

  static void Report(const std::string& what, std::vector<double> back) {
    if (back.empty()) return;
    std::sort(back.begin(), back.end());
    double sum = 0;
    for (double s : back) sum += s;
    std::printf("%s: %zu kills, traffic back after %.3f s mean, %.3f s median, %.3f s worst\n", what.c_str(),
                back.size(), sum / static_cast<double>(back.size()), back[back.size() / 2], back.back());
  }

  // Both guests' MACs are in the MAC table, on their devices, while they still send after
  // the kills (it lives in the primary; a restarted switching adopts it, a reconnected
  // guest is learned again).
  void ExpectMacsKept() {
    EXPECT_EQ(g().Metric("vswitch_mac_table_entries"), 2) << "after the kills of " << role_ << "\n" << g().Log("switching");
    EXPECT_EQ(g().Metric("vswitch_device_mac_info", {{"device", "0"}, {"mac", kMacA}}), 1) << g().Scrape();
    EXPECT_EQ(g().Metric("vswitch_device_mac_info", {{"device", "1"}, {"mac", kMacB}}), 1) << g().Scrape();
  }

  // The whole test for `role`: the baseline, the kills, the mbufs.
  void Run(const std::string& role, bool client) {
    role_ = role;
    ASSERT_NO_FATAL_FAILURE(Start(client));
    const double baseline = Baseline();
    ASSERT_GT(baseline, 0);
    const std::vector<double> back = KillUnderTraffic();
    Report(role + ", both guests receiving again (the peer's stalls)", back);
    EXPECT_EQ(static_cast<int>(back.size()), Kills());
    const double after = SettledHeld();
    EXPECT_EQ(after, baseline) << "mbufs in use outside the rings after " << back.size() << " kills of " << role
                               << ": " << after << ", without kills: " << baseline << "\n" << g().Log(role);
    std::printf("mbufs recovered from killed %s instances: %.0f\n", role.c_str(),
                g().Metric("vswitch_role_mbufs_recovered_total", {{"role", role}}));
  }

  // Each guest connection vswitch-vhost logged: (features negotiated, the log line).
  std::vector<std::pair<uint64_t, std::string>> Connections() {
    std::vector<std::pair<uint64_t, std::string>> out;
    std::istringstream in(g().Log("vhost"));
    std::string line;
    while (std::getline(in, line)) {
      const auto f = line.find(" ready, features 0x");
      if (f == std::string::npos) continue;
      out.emplace_back(std::stoull(line.substr(f + 19), nullptr, 16), line);
    }
    return out;
  }

  bool client_ = false;
  bool packed_ = false;
  std::string role_;
  Accounted counted_before_;
  SeqReport last_report_;
  double to_port_learned_ = 0;
  std::vector<std::pair<double, double>> restart_;  // per kill: seconds to the death, to the restart's return
  std::unique_ptr<TestGroup> group_;
  std::unique_ptr<SeqPeerProcess> peer_;
};

TEST_F(KillRestartGroupTest, SwitchingKilledUnderTrafficLosesNoMbufAndNoFrameUncounted) { Run("switching", false); }

TEST_F(KillRestartGroupTest, VhostKilledUnderTrafficLosesNoMbufAndNoFrameUncounted) { Run("vhost", true); }

// The same with the guests on packed virtqueues: virtio-user, reconnecting, asks for the
// rings' bases (which invalidates the killed instance's records) and resets them, so the
// restarted instance starts each ring at the reset ring's base, not where its predecessor
// left it; a frame read twice or a ring resumed at the wrong place would show as
// duplicates or as a stall.
TEST_F(KillRestartGroupTest, VhostKilledUnderTrafficOnPackedRingsLosesNoMbufAndNoFrameUncounted) {
  packed_ = true;
  Run("vhost", true);
  const std::string log = g().Log("vhost");
  const auto connections = Connections();
  // Both guests at the start and after every kill, every time on packed rings
  // (VIRTIO_F_RING_PACKED, bit 34).
  EXPECT_GE(connections.size(), 2u * (static_cast<size_t>(Kills()) + 1)) << log;
  for (const auto& [features, line] : connections) EXPECT_NE(features & (1ull << 34), 0u) << line;
  EXPECT_NE(log.find("packed 1"), std::string::npos) << log;
  EXPECT_EQ(log.find("resuming the packed ring"), std::string::npos) << log;
}

// The monitor holds no mbufs and owns no ring end: killed and restarted under traffic it
// serves the same counters again, none of them gone back, and no frame is lost.
TEST_F(KillRestartGroupTest, MonitorKilledUnderTrafficServesTheSameCountersAndLosesNoFrame) { Run("monitor", false); }

}  // namespace
}  // namespace vswitch::test
