// A front-end that shrinks its guest memory file under the back-end (docs/architecture.md,
// "A front-end that shrinks its memory"). Guest A (device 0, DPDK virtio-user in testpmd,
// memory in a hugetlbfs file) sends; the test stops it (SIGSTOP: it keeps its socket and
// its memory, as a compromised QEMU would) and truncates its memory file to 0 bytes,
// which no seal can prevent on hugetlbfs. vswitch-vhost's next look at A's rings faults
// (SIGBUS). Before the guard that killed vswitch-vhost and every guest's network with it;
// now only A's device is closed, counted and logged, guest B (device 1) keeps
// forwarding and every mbuf comes back. Run in copy mode and with dequeue zero-copy,
// where vswitch-switching also maps A's memory (it must stay up too).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "process.h"
#include "test_env.h"
#include "test_group.h"
#include "virtio_user.h"

namespace vswitch::test {
namespace {

using namespace std::chrono_literals;

constexpr long kHugetlbfsMagic = 0x958458f6;  // linux/magic.h HUGETLBFS_MAGIC

// The hugetlbfs files `pid` maps (its guest memory, as virtio-user passed them with
// SET_MEM_TABLE).
std::set<std::string> HugepageFilesOf(pid_t pid) {
  std::set<std::string> files;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    if (const auto deleted = path.find(" (deleted)"); deleted != std::string::npos) path.resize(deleted);
    struct statfs fs{};
    if (statfs(path.c_str(), &fs) == 0 && static_cast<long>(fs.f_type) == kHugetlbfsMagic) files.insert(path);
  }
  return files;
}

class GuestMemoryShrinkTest : public testing::TestWithParam<bool> {
 protected:
  [[nodiscard]] bool zero_copy() const { return GetParam(); }
};

TEST_P(GuestMemoryShrinkTest, OnlyThatDeviceIsClosedAndTheOtherKeepsForwarding) {
  TestGroup group(std::map<std::string, std::string>{{"vhost.dequeue-zero-copy", zero_copy() ? "true" : "false"}});
  const CommandResult up = group.Vswitch({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.output << group.Log("vhost");
  const pid_t vhost_pid = group.RolePid("vhost");
  const pid_t switching_pid = group.RolePid("switching");
  ASSERT_GT(vhost_pid, 0);
  ASSERT_GT(switching_pid, 0);
  auto vhost_tx = [&](int device) {
    return group.Metric("vswitch_device_packets_total",
                        {{"device", std::to_string(device)}, {"stage", "vhost"}, {"direction", "tx"}});
  };
  auto faults = [&](int device) {
    return group.Metric("vswitch_device_memory_faults_total", {{"device", std::to_string(device)}});
  };
  auto in_use = [&] { return group.Metric("vswitch_mbuf_pool_in_use"); };
  // Before any guest: what the port's RX ring and the like hold.
  ASSERT_TRUE(WaitFor([&] { return group.Metric("vswitch_mbuf_pool_size") > 0; }, 10s));
  const double baseline = in_use();

  // 1024-byte frames: above the zero-copy threshold (512), so with zero-copy they are
  // passed to vswitch-switching by reference, in A's memory.
  auto a = std::make_unique<VirtioUser>(group.dir(), group.socket(0), "txonly", "02:00:00:00:00:0a", "",
                                        std::vector<std::string>{"--txpkts=1024"});
  auto b = std::make_unique<VirtioUser>(group.dir(), group.socket(1), "txonly", "02:00:00:00:00:0b");
  ASSERT_TRUE(WaitFor([&] { return vhost_tx(0) > 10000 && vhost_tx(1) > 10000; }, 60s))
      << "A " << vhost_tx(0) << ", B " << vhost_tx(1) << group.Log("vhost") << a->process().Log();
  if (zero_copy()) {
    EXPECT_TRUE(WaitFor([&] { return group.Metric("vswitch_zero_copy_packets_total", {{"device", "0"}}) > 0; }, 10s))
        << "A's frames must go by reference: " << group.Log("vhost");
  }
  EXPECT_EQ(faults(0), 0);

  const std::set<std::string> files = HugepageFilesOf(a->process().pid());
  ASSERT_FALSE(files.empty()) << "testpmd maps no hugetlbfs file";
  ASSERT_EQ(kill(a->process().pid(), SIGSTOP), 0);
  for (const std::string& f : files) ASSERT_EQ(truncate(f.c_str(), 0), 0) << f;

  // vswitch-vhost caught the fault, closed A's device alone and counted it.
  EXPECT_TRUE(WaitFor([&] { return faults(0) == 1; }, 10s))
      << "memory faults " << faults(0) << ", vhost pid alive " << PidAlive(vhost_pid) << "\n"
      << group.Log("vhost");
  EXPECT_TRUE(PidAlive(vhost_pid)) << "vswitch-vhost died: " << group.Log("vhost");
  EXPECT_EQ(group.RolePid("vhost"), vhost_pid);
  EXPECT_EQ(group.RolePid("switching"), switching_pid);
  EXPECT_TRUE(PidAlive(switching_pid)) << group.Log("switching");
  EXPECT_TRUE(WaitFor([&] { return group.Status(".devices[0].ready") == "false"; }, 10s));
  const std::string log = group.Log("vhost");
  EXPECT_NE(log.find(group.socket(0) + ": guest memory region at guest address"), std::string::npos) << log;
  EXPECT_NE(log.find("closing connection: guest_memory_fault"), std::string::npos) << log;
  EXPECT_EQ(faults(1), 0);

  // B keeps forwarding: its frames are counted after the fault.
  const double b_after = vhost_tx(1);
  EXPECT_TRUE(WaitFor([&] { return vhost_tx(1) > b_after + 10000; }, 20s))
      << "B " << b_after << " -> " << vhost_tx(1) << group.Log("vhost");
  EXPECT_EQ(group.Status(".devices[1].ready"), "true");

  // A resumes into its shrunk file and dies of it; B stops: every mbuf comes back.
  (void)kill(a->process().pid(), SIGCONT);
  a.reset();
  b.reset();
  auto ring = [&](int device, const std::string& name) {
    return group.Metric("vswitch_ring_entries", {{"device", std::to_string(device)}, {"ring", name}});
  };
  EXPECT_TRUE(WaitFor([&] { return in_use() == baseline; }, 20s))
      << "mbufs in use " << in_use() << ", before the guests " << baseline << "; left in the rings: A to_vm "
      << ring(0, "to_vm") << ", A from_vm " << ring(0, "from_vm") << ", B to_vm " << ring(1, "to_vm")
      << ", B from_vm " << ring(1, "from_vm");
  EXPECT_TRUE(PidAlive(vhost_pid));
  EXPECT_TRUE(PidAlive(switching_pid));
}

INSTANTIATE_TEST_SUITE_P(Modes, GuestMemoryShrinkTest, testing::Values(false, true),
                         [](const testing::TestParamInfo<bool>& p) { return p.param ? "ZeroCopy" : "Copy"; });

}  // namespace
}  // namespace vswitch::test
