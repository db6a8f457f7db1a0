// vswitch-monitor scraped by a real Prometheus server: a group of its own (deploy/vswitch
// up), Debian's `prometheus` on loopback scraping it every second, frames written into the
// port's kernel tap interface, and the counts read back through Prometheus' query API.
//
// Who moves the port counters: net_tap counts a frame (ethdev ipackets/ibytes) when a
// process reads it from the RX queue, and the kernel counts it as tap TX at that same
// moment. vswitch-switching does not poll the port yet, so the test stops it and runs
// vswitch-test-port-poller (a DPDK secondary that reads the RX queue) in its place.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process.h"
#include "test_env.h"
#include "test_group.h"
#include "virtio_user.h"

namespace vswitch::test {
namespace {

using namespace std::chrono_literals;

constexpr int kFrames = 300;
constexpr int kFrameBytes = 100;  // 14-byte Ethernet header + 86 bytes

// Sends `request` raw and returns what came back before the server closed or 10 s passed.
std::string RawHttp(int port, const std::string& request, std::chrono::seconds timeout = 10s) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{static_cast<time_t>(timeout.count()), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    char buf[65536];
    for (;;) {
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

int StatusCode(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.c_str() + 9);
}

// Counter samples of an exposition, "name{labels}" -> value (vswitch_ only).
std::map<std::string, double> Counters(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("vswitch_", 0) != 0) continue;
    const auto sp = line.rfind(' ');
    const std::string series = line.substr(0, sp);
    const std::string name = series.substr(0, series.find('{'));
    if (!name.ends_with("_total")) continue;
    out[series] = std::stod(line.substr(sp + 1));
  }
  return out;
}

struct Env {
  std::unique_ptr<TestGroup> group;
  int metrics_port = 0;
  int prom_port = 0;
  std::unique_ptr<TempDir> prom_dir;
  std::unique_ptr<Process> prometheus;
  std::unique_ptr<Process> poller;
  std::string error;

  std::string Scrape() {
    const CommandResult r = RunCommand({"curl", "-sS", "--max-time", "10",
                                        "http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics"},
                                       15s);
    return r.exit_code == 0 ? r.output : "";
  }

  // The single value of an instant query; nullopt when the result is empty.
  std::optional<double> Query(const std::string& promql) {
    const CommandResult r = RunCommand(
        {"bash", "-c",
         "curl -sS --max-time 5 -G \"$0\" --data-urlencode \"query=$1\" 2>/dev/null | "
         "jq -r '.data.result[0].value[1] // empty'",
         "http://127.0.0.1:" + std::to_string(prom_port) + "/api/v1/query", promql},
        10s);
    std::string v = r.output;
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    if (r.exit_code != 0 || v.empty()) return std::nullopt;
    try {
      return std::stod(v);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

  // Waits until `promql` returns `want`; the last value seen otherwise.
  std::optional<double> WaitQuery(const std::string& promql, double want, std::chrono::seconds timeout = 20s) {
    std::optional<double> last;
    (void)WaitFor([&] {
      last = Query(promql);
      return last && *last == want;
    }, timeout);
    return last;
  }
};

Env* env = nullptr;

uint64_t KernelStat(const std::string& iface, const std::string& stat) {
  return std::stoull("0" + ReadFile("/sys/class/net/" + iface + "/statistics/" + stat));
}

class MonitorScrapeTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    env = new Env();
    env->metrics_port = FreeTcpPort();
    env->group = std::make_unique<TestGroup>(std::map<std::string, std::string>{
        {"monitor.metrics-listen", "127.0.0.1:" + std::to_string(env->metrics_port)}});
    const CommandResult up = env->group->Vswitch({"up"});
    if (up.exit_code != 0) {
      env->error = "deploy/vswitch up failed: " + up.output + env->group->Log("monitor");
      return;
    }
    (void)env->group->TapUp();

    env->prom_dir = std::make_unique<TempDir>();
    env->prom_port = FreeTcpPort();
    const std::string yml = *env->prom_dir / "prometheus.yml";
    WriteFile(yml, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                   "scrape_configs:\n  - job_name: vswitch\n    scrape_timeout: 900ms\n"
                   "    static_configs:\n      - targets: ['127.0.0.1:" +
                       std::to_string(env->metrics_port) + "']\n");
    env->prometheus = std::make_unique<Process>(
        std::vector<std::string>{"prometheus", "--config.file=" + yml,
                                 "--storage.tsdb.path=" + (*env->prom_dir / "data"),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(env->prom_port),
                                 "--log.level=warn"},
        *env->prom_dir / "prometheus.log");
    if (!env->WaitQuery("up{job=\"vswitch\"}", 1, 30s)) {
      env->error = "Prometheus never scraped the monitor: " + env->prometheus->Log();
    }
  }

  static void TearDownTestSuite() {
    if (env->poller) env->poller->Stop();
    if (env->prometheus) env->prometheus->Stop();
    env->group.reset();  // deploy/vswitch down, hugepage files and runtime dir removed
    delete env;
    env = nullptr;
  }

  void SetUp() override { ASSERT_TRUE(env->error.empty()) << env->error; }
};

TEST_F(MonitorScrapeTest, ExactPacketCountsThroughTheTapPortReachPrometheus) {
  TestGroup& g = *env->group;
  // The port has one reader: take vswitch-switching out and put the poller in.
  const pid_t switching = g.RolePid("switching");
  ASSERT_GT(switching, 0);
  ASSERT_EQ(kill(switching, SIGTERM), 0);
  ASSERT_TRUE(g.WaitRoleState("switching", "down"));
  // What the VswitchSecondaryDown alert watches, seen by Prometheus.
  EXPECT_EQ(env->WaitQuery("vswitch_role_up{role=\"switching\"}", 0), 0);

  env->poller = std::make_unique<Process>(
      std::vector<std::string>{BinaryDir() + "/tests/monitor/vswitch-test-port-poller", g.prefix()},
      g.dir() / "poller.log");
  ASSERT_TRUE(WaitFor([] { return env->poller->Log().find("polling port") != std::string::npos; }, 20s))
      << env->poller->Log();

  const std::string rx = "vswitch_port_rx_packets_total{port=\"net_tap0\"}";
  const std::string rx_bytes = "vswitch_port_rx_bytes_total{port=\"net_tap0\"}";
  // Baseline once nothing moves (whatever the kernel queued before is drained).
  std::optional<double> base, base_bytes;
  ASSERT_TRUE(WaitFor([&] {
    const auto a = env->Query(rx);
    std::this_thread::sleep_for(2500ms);
    base = env->Query(rx);
    base_bytes = env->Query(rx_bytes);
    return a && base && base_bytes && *a == *base;
  }, 30s));
  const uint64_t kernel_tx = KernelStat(g.iface(), "tx_packets");

  const CommandResult send = RunCommand(
      {"/usr/bin/python3", "-c",
       "import sys\n"
       "from scapy.all import Ether, Raw, sendp\n"
       "f = Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02', type=0x88b5) / Raw(b'x' * 86)\n"
       "assert len(f) == 100\n"
       "sendp([f] * int(sys.argv[2]), iface=sys.argv[1], verbose=False)\n",
       g.iface(), std::to_string(kFrames)},
      60s);
  ASSERT_EQ(send.exit_code, 0) << send.output;

  EXPECT_EQ(env->WaitQuery(rx, *base + kFrames), *base + kFrames) << env->poller->Log();
  EXPECT_EQ(env->WaitQuery(rx_bytes, *base_bytes + kFrames * kFrameBytes), *base_bytes + kFrames * kFrameBytes);
  // Not one more: a few more scrapes later the counts still hold.
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(env->Query(rx), *base + kFrames);
  EXPECT_EQ(env->Query("vswitch_port_xstats_total{xstat=\"rx_good_packets\"}"), *base + kFrames);
  EXPECT_EQ(env->Query("vswitch_port_rx_errors_total") , 0);
  EXPECT_EQ(env->Query("vswitch_port_rx_nombuf_total"), 0);
  // The kernel agrees: the tap counts TX when the DPDK side reads the frame.
  EXPECT_EQ(KernelStat(g.iface(), "tx_packets") - kernel_tx, static_cast<uint64_t>(kFrames));
}

TEST_F(MonitorScrapeTest, ExpositionPassesPromtoolCheckMetrics) {
  const std::string text = env->Scrape();
  ASSERT_NE(text.find("vswitch_role_up{role=\"monitor\"} 1"), std::string::npos) << text;
  const std::string file = env->group->dir() / "metrics.txt";
  WriteFile(file, text);
  const CommandResult r = RunCommand({"bash", "-c", "promtool check metrics < \"$0\"", file});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "") << "promtool lint findings";
}

TEST_F(MonitorScrapeTest, RestartingMonitorAndSwitchingMovesNoCounterBackwards) {
  TestGroup& g = *env->group;
  if (env->poller) env->poller->Stop();  // the restarted switching owns the port again
  std::map<std::string, double> before = Counters(env->Scrape());
  ASSERT_GT(before.size(), 50u);
  const std::string monitor_restarts = "vswitch_role_restarts_total{role=\"monitor\"}";
  const std::string switching_restarts = "vswitch_role_restarts_total{role=\"switching\"}";
  ASSERT_TRUE(before.count(monitor_restarts));

  const pid_t old_monitor = g.RolePid("monitor");
  for (const char* role : {"monitor", "switching"}) {
    const CommandResult r = g.Vswitch({"restart", role});
    ASSERT_EQ(r.exit_code, 0) << role << ": " << r.output;
  }
  ASSERT_NE(g.RolePid("monitor"), old_monitor);
  std::map<std::string, double> after;
  ASSERT_TRUE(WaitFor([&] { after = Counters(env->Scrape()); return !after.empty(); }, 20s));
  for (const auto& [series, value] : before) {
    ASSERT_TRUE(after.count(series)) << series << " vanished";
    EXPECT_GE(after[series], value) << series << " went backwards";
  }
  // Each restart counted exactly once; the packet counts are exactly what they were.
  EXPECT_EQ(after[monitor_restarts], before[monitor_restarts] + 1);
  EXPECT_EQ(after[switching_restarts], before[switching_restarts] + 1);
  const std::string rx = "vswitch_port_rx_packets_total{port=\"net_tap0\"}";
  EXPECT_EQ(after[rx], before[rx]);

  // Prometheus saw both monitors and no counter reset in between.
  EXPECT_EQ(env->WaitQuery(monitor_restarts, after[monitor_restarts]), after[monitor_restarts]);
  EXPECT_EQ(env->WaitQuery("vswitch_role_up{role=\"switching\"}", 1), 1);
  EXPECT_EQ(env->Query("count(resets({__name__=~\"vswitch_.+_total\"}[10m]) > 0)"), std::nullopt)
      << "Prometheus saw a vswitch counter reset";
  EXPECT_GT(*env->Query("count({__name__=~\"vswitch_.+_total\"})"), 50);
}

TEST_F(MonitorScrapeTest, BadRequestsAreAnsweredOrRefusedAndServingGoesOn) {
  const int port = env->metrics_port;
  const pid_t monitor = env->group->RolePid("monitor");
  const std::string get = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

  EXPECT_EQ(StatusCode(RawHttp(port, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")), 404);
  EXPECT_EQ(StatusCode(RawHttp(port, "GET /metrics/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n")), 404);
  const int post = StatusCode(RawHttp(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"));
  EXPECT_TRUE(post == 0 || post >= 400) << post;
  const int garbage = StatusCode(RawHttp(port, "\x01\x02GARBAGE\r\n\r\n"));
  EXPECT_TRUE(garbage == 0 || garbage == 400) << garbage;
  // A 1 MiB header: refused (4xx or closed), never served or crashed.
  const std::string huge = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n";
  const int big = StatusCode(RawHttp(port, huge));
  EXPECT_TRUE(big == 0 || (big >= 400 && big < 500)) << big;
  EXPECT_EQ(StatusCode(RawHttp(port, get)), 200);

  // Idle connections that never send a request, and 100 scrapes at once.
  std::vector<int> idle;
  for (int i = 0; i < 16; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) idle.push_back(fd);
    else close(fd);
  }
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 100; ++i) {
    clients.emplace_back([&] {
      const std::string r = RawHttp(port, get, 30s);
      const int code = StatusCode(r);
      if (code == 200 && r.find("vswitch_build_info") != std::string::npos) ++ok;
      else if (code == 0 || code == 503) ++refused;
      else ++other;
    });
  }
  for (auto& t : clients) t.join();
  for (int fd : idle) close(fd);
  EXPECT_EQ(other.load(), 0) << "a concurrent scrape got something other than metrics or a refusal";
  EXPECT_GT(ok.load(), 0);
  std::printf("concurrent scrapes: %d answered, %d refused\n", ok.load(), refused.load());

  // Still the same process, still serving, and Prometheus still scrapes it.
  EXPECT_EQ(env->group->RolePid("monitor"), monitor);
  EXPECT_EQ(StatusCode(RawHttp(port, get)), 200);
  EXPECT_EQ(env->WaitQuery("up{job=\"vswitch\"}", 1), 1);
}

}  // namespace
}  // namespace vswitch::test

namespace vswitch::test {
namespace {

// Per-device counters, end to end: N frames go into device 1's to_vm ring, a virtio-user
// guest swaps their MACs and sends every one back, and Prometheus reports exactly N
// packets and N * size bytes each way for that device's vhost queue.
TEST_F(MonitorScrapeTest, ExactDeviceCountsThroughVhostReachPrometheus) {
  TestGroup& g = *env->group;
  // The probe stands in for switching as to_vm's producer and from_vm's consumer.
  ASSERT_EQ(g.Vswitch({"stop", "switching"}).exit_code, 0);
  constexpr int kN = 250;
  constexpr int kSize = 128;
  const std::string rx = "vswitch_device_packets_total{device=\"1\",direction=\"rx\",stage=\"vhost\"}";
  const std::string tx = "vswitch_device_packets_total{device=\"1\",direction=\"tx\",stage=\"vhost\"}";
  const std::string rx_bytes = "vswitch_device_bytes_total{device=\"1\",direction=\"rx\",stage=\"vhost\"}";
  const std::string tx_bytes = "vswitch_device_bytes_total{device=\"1\",direction=\"tx\",stage=\"vhost\"}";
  {
    VirtioUser guest(g.dir(), g.socket(1), "macswap", "02:00:00:00:00:0b");
    ASSERT_TRUE(WaitFor([&] { return g.Status(".devices[1].ready") == "true"; }, 20s)) << g.Log("vhost");
    const auto base_rx = env->Query("sum(" + rx + ")").value_or(0);
    const auto base_tx = env->Query("sum(" + tx + ")").value_or(0);
    const auto base_rx_bytes = env->Query("sum(" + rx_bytes + ")").value_or(0);
    const auto base_tx_bytes = env->Query("sum(" + tx_bytes + ")").value_or(0);
    const CommandResult inject = RingProbe(g.prefix(), {"--device", "1", "--inject", std::to_string(kN), "--size",
                                                        std::to_string(kSize), "--dst", "02:00:00:00:00:0b"});
    ASSERT_EQ(inject.exit_code, 0) << inject.output;
    const CommandResult back = RingProbe(g.prefix(), {"--device", "1", "--dump", std::to_string(kN)});
    ASSERT_EQ(back.exit_code, 0) << back.output;
    EXPECT_EQ(env->WaitQuery("sum(" + rx + ")", base_rx + kN), base_rx + kN);
    EXPECT_EQ(env->WaitQuery("sum(" + tx + ")", base_tx + kN), base_tx + kN);
    EXPECT_EQ(env->WaitQuery("sum(" + rx_bytes + ")", base_rx_bytes + kN * kSize), base_rx_bytes + kN * kSize);
    EXPECT_EQ(env->WaitQuery("sum(" + tx_bytes + ")", base_tx_bytes + kN * kSize), base_tx_bytes + kN * kSize);
    EXPECT_EQ(env->Query("vswitch_device_ready{device=\"1\"}"), 1);
  }
  ASSERT_EQ(g.Vswitch({"up"}).exit_code, 0);  // switching back
}

}  // namespace
}  // namespace vswitch::test
