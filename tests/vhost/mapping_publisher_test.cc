// vswitch-vhost's MappingPublisher over a SharedState on the heap, this process playing
// vswitch-switching's acknowledgements: what is published, when a mapping counts as
// shared, and when a retired mapping is really unmapped.
#include "mapping_publisher.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "mapping_share.h"

namespace vswitch {
namespace {

constexpr size_t kSize = 1 << 16;
constexpr int32_t kSwitching = 4242;

class MappingPublisherTest : public testing::Test {
 protected:
  MappingPublisherTest() : state_(new SharedState()) {
    state_->roles[static_cast<size_t>(Role::kSwitching)].pid = kSwitching;
  }
  // A mapping as GuestMemoryTable::Map makes it: an mmap of a memfd, with its fd.
  std::unique_ptr<vhost::GuestMapping> NewMapping() {
    const int fd = memfd_create("guest", MFD_CLOEXEC);
    EXPECT_EQ(ftruncate(fd, kSize), 0);
    void* base = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT_NE(base, MAP_FAILED);
    return std::make_unique<vhost::GuestMapping>(base, kSize, 0, vhost::UniqueFd(fd));
  }
  void AckFrom(int32_t switching, uint64_t generation, uint64_t refused0 = 0) {
    AckRecord a;
    a.switching_pid = switching;
    a.vhost_pid = getpid();
    a.generation = generation;
    a.refused[0] = refused0;
    WriteAck(state_->mapping_ack, a);
  }
  static bool Mapped(void* p) {
    errno = 0;
    return msync(p, 4096, MS_ASYNC) == 0;
  }
  std::unique_ptr<SharedState> state_;
};

TEST_F(MappingPublisherTest, PublishesWithItsFdAndSharesOnlyWhenAcknowledged) {
  MappingPublisher pub(*state_);
  EXPECT_EQ(state_->mappings.vhost_pid.load(), getpid());
  auto m = NewMapping();
  pub.Publish(*m);
  ASSERT_GE(m->share_index, 0);
  MappingSnapshot snap;
  ASSERT_TRUE(ReadTable(state_->mappings, snap));
  ASSERT_EQ(snap.entries.size(), 1u);
  EXPECT_EQ(snap.entries[0].vhost_va, reinterpret_cast<uintptr_t>(m->base));
  EXPECT_EQ(snap.entries[0].fd, m->fd.get());
  EXPECT_EQ(snap.entries[0].add_generation, m->add_generation);
  EXPECT_FALSE(pub.Shared(*m)) << "switching has not mapped it yet";
  AckFrom(kSwitching, m->add_generation - 1);
  EXPECT_FALSE(pub.Shared(*m));
  AckFrom(kSwitching, m->add_generation);
  EXPECT_TRUE(pub.Shared(*m));
  AckFrom(kSwitching, m->add_generation, 1ull << m->share_index);
  EXPECT_FALSE(pub.Shared(*m)) << "refused there";
  AckFrom(kSwitching, m->add_generation);
  state_->roles[static_cast<size_t>(Role::kSwitching)].pid = kSwitching + 1;
  EXPECT_FALSE(pub.Shared(*m)) << "a restarted switching has mapped nothing yet";
  state_->roles[static_cast<size_t>(Role::kSwitching)].pid = kSwitching;
  pub.Retire(std::move(m));
}

TEST_F(MappingPublisherTest, RetiredMappingIsUnmappedOnlyAfterSwitchingLetsGo) {
  MappingPublisher pub(*state_);
  auto m = NewMapping();
  void* base = m->base;
  pub.Publish(*m);
  AckFrom(kSwitching, m->add_generation);
  pub.Retire(std::move(m));
  MappingSnapshot snap;
  ASSERT_TRUE(ReadTable(state_->mappings, snap));
  EXPECT_TRUE(snap.entries.empty()) << "gone from the table at once";
  EXPECT_TRUE(Mapped(base)) << "switching may still map the old file at this address";
  EXPECT_EQ(pub.Tick(), 1u);
  EXPECT_TRUE(Mapped(base));
  AckFrom(kSwitching, snap.generation);
  EXPECT_EQ(pub.Tick(), 0u);
  EXPECT_FALSE(Mapped(base)) << "unmapped once switching acknowledged a table without it";
}

TEST_F(MappingPublisherTest, WithoutSwitchingARetiredMappingGoesAtOnce) {
  state_->roles[static_cast<size_t>(Role::kSwitching)].pid = 0;
  MappingPublisher pub(*state_);
  auto m = NewMapping();
  void* base = m->base;
  pub.Publish(*m);
  pub.Retire(std::move(m));
  EXPECT_FALSE(Mapped(base));
}

TEST_F(MappingPublisherTest, ANewInstanceClearsWhatTheLastOnePublished) {
  auto m = NewMapping();
  {
    MappingPublisher first(*state_);
    first.Publish(*m);
  }
  MappingPublisher second(*state_);
  MappingSnapshot snap;
  ASSERT_TRUE(ReadTable(state_->mappings, snap));
  EXPECT_TRUE(snap.entries.empty());
}

}  // namespace
}  // namespace vswitch
