// DPDK's EAL inside the test process, without hugepages (one lcore, 64 MB of heap), for
// tests that need mbufs, rings or shared infos but no running group. Registered as a
// GoogleTest environment: `setup` runs once the EAL is up (create pools and rings there),
// and at the end the EAL is cleaned up and its runtime files removed by file prefix.
#pragma once

#include <gtest/gtest.h>
#include <rte_eal.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "test_env.h"

namespace vswitch::test {

class InProcessEal : public ::testing::Environment {
 public:
  InProcessEal(std::string stem, std::function<void()> setup)
      : stem_(std::move(stem)), setup_(std::move(setup)) {}

  void SetUp() override {
    prefix_ = UniqueName(stem_);
    std::vector<std::string> args = {"test", "--no-huge", "--no-pci", "-m", "64", "-l", "0",
                                     "--file-prefix=" + prefix_, "--log-level=lib.eal:error"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0);
    if (setup_) setup_();
  }
  void TearDown() override {
    rte_eal_cleanup();
    RemoveDpdkLeftovers(prefix_);
  }

 private:
  std::string stem_;
  std::function<void()> setup_;
  std::string prefix_;
};

}  // namespace vswitch::test
