// The acknowledge rule of dequeue zero-copy across processes (shared/mapping_share.h), as
// pure logic over a MappingTable and MappingAck in ordinary memory.
#include "mapping_share.h"

#include <gtest/gtest.h>

#include <memory>

namespace vswitch {
namespace {

constexpr int32_t kVhost = 100;
constexpr int32_t kSwitching = 200;

// Publishes one entry the way vswitch-vhost does; returns its add generation.
uint64_t Add(MappingTable& t, uint32_t index, uint64_t va, uint64_t size, int32_t fd) {
  return PublishEntry(t, index, va, size, 0, fd);
}

uint64_t Remove(MappingTable& t, uint32_t index) { return WithdrawEntry(t, index); }

AckRecord Ack(int32_t switching, int32_t vhost, uint64_t generation) {
  AckRecord a;
  a.switching_pid = switching;
  a.vhost_pid = vhost;
  a.generation = generation;
  return a;
}

TEST(MappingShareTest, SharedOnlyOnceThisSwitchingAcknowledgedThisVhostsGeneration) {
  const uint64_t g = 7;
  EXPECT_TRUE(MappingShared(Ack(kSwitching, kVhost, 7), kSwitching, kVhost, 3, g));
  EXPECT_TRUE(MappingShared(Ack(kSwitching, kVhost, 9), kSwitching, kVhost, 3, g));
  EXPECT_FALSE(MappingShared(Ack(kSwitching, kVhost, 6), kSwitching, kVhost, 3, g)) << "not applied yet";
  // A new switching instance (kill -9, restart) has not mapped anything yet: the
  // acknowledgement its predecessor left is worthless.
  EXPECT_FALSE(MappingShared(Ack(kSwitching, kVhost, 9), kSwitching + 1, kVhost, 3, g));
  EXPECT_FALSE(MappingShared(Ack(kSwitching, kVhost, 9), 0, kVhost, 3, g)) << "no switching registered";
  // An acknowledgement of an earlier vhost instance's table (same generation numbers).
  EXPECT_FALSE(MappingShared(Ack(kSwitching, kVhost - 1, 9), kSwitching, kVhost, 3, g));
  EXPECT_FALSE(MappingShared(Ack(kSwitching, kVhost, 9), kSwitching, kVhost, 3, 0)) << "unpublished";
  EXPECT_FALSE(MappingShared(Ack(kSwitching, kVhost, 9), kSwitching, kVhost, kMaxSharedMappings, g));
  AckRecord refused = Ack(kSwitching, kVhost, 9);
  refused.refused[0] = 1ull << 3;
  EXPECT_FALSE(MappingShared(refused, kSwitching, kVhost, 3, g)) << "address taken in switching";
  EXPECT_TRUE(MappingShared(refused, kSwitching, kVhost, 4, g));
  refused.refused[3] = 1ull << 63;
  EXPECT_FALSE(MappingShared(refused, kSwitching, kVhost, 255, g));
}

TEST(MappingShareTest, RetiredMappingWaitsForAnAcknowledgementWithoutIt) {
  const uint64_t removed = 12;
  EXPECT_FALSE(MayUnmapRetired(Ack(kSwitching, kVhost, 11), kSwitching, kVhost, removed))
      << "switching may still map the old file at that address";
  EXPECT_TRUE(MayUnmapRetired(Ack(kSwitching, kVhost, 12), kSwitching, kVhost, removed));
  EXPECT_FALSE(MayUnmapRetired(Ack(kSwitching - 1, kVhost, 20), kSwitching, kVhost, removed))
      << "a dead instance's acknowledgement does not speak for the new one";
  EXPECT_FALSE(MayUnmapRetired(Ack(kSwitching, kVhost - 1, 20), kSwitching, kVhost, removed));
  EXPECT_TRUE(MayUnmapRetired(Ack(kSwitching, kVhost, 0), 0, kVhost, removed)) << "nobody maps it";
}

TEST(MappingShareTest, TableAndAckReadConsistentlyOrNotAtAll) {
  auto t = std::make_unique<MappingTable>();
  t->vhost_pid = kVhost;
  const uint64_t g1 = Add(*t, 0, 0x200000000000, 1 << 21, 40);
  const uint64_t g2 = Add(*t, 5, 0x200040000000, 1 << 22, 41);
  MappingSnapshot s;
  ASSERT_TRUE(ReadTable(*t, s));
  EXPECT_EQ(s.vhost_pid, kVhost);
  EXPECT_EQ(s.generation, g2);
  ASSERT_EQ(s.entries.size(), 2u);
  EXPECT_EQ(s.entries[0].add_generation, g1);
  EXPECT_EQ(s.entries[1].index, 5u);
  EXPECT_EQ(s.entries[1].fd, 41);
  // Mid-write: the reader does not get a torn table.
  BeginTableWrite(*t);
  EXPECT_FALSE(ReadTable(*t, s));
  EndTableWrite(*t);
  EXPECT_TRUE(ReadTable(*t, s));

  auto ack = std::make_unique<MappingAck>();
  AckRecord r = Ack(kSwitching, kVhost, g2);
  r.refused[1] = 2;
  WriteAck(*ack, r);
  AckRecord back;
  ASSERT_TRUE(ReadAck(*ack, back));
  EXPECT_EQ(back.generation, g2);
  EXPECT_TRUE(back.Refused(65));
  EXPECT_FALSE(back.Refused(64));
  ack->seq.fetch_add(1);  // a writer in the middle
  EXPECT_FALSE(ReadAck(*ack, back));
}

// A writer killed between the two halves of a write leaves `seq` odd. Its successor's
// writes must still make it odd while they write and even after, or readers would see
// "mid-write" for ever (zero-copy never shared again) and a table being written as stable.
TEST(MappingShareTest, AWriterKilledMidWriteDoesNotStopTheNextWritersTable) {
  auto t = std::make_unique<MappingTable>();
  (void)Add(*t, 0, 0x200000000000, 1 << 21, 40);
  BeginTableWrite(*t);  // ... and killed
  MappingSnapshot s;
  EXPECT_FALSE(ReadTable(*t, s));
  BeginTableWrite(*t);  // the successor
  EXPECT_FALSE(ReadTable(*t, s)) << "a table being written read as stable";
  t->entries[0].add_generation.store(0);
  EndTableWrite(*t);
  const uint64_t g = Add(*t, 3, 0x200040000000, 1 << 22, 41);
  ASSERT_TRUE(ReadTable(*t, s));
  ASSERT_EQ(s.entries.size(), 1u);
  EXPECT_EQ(s.entries[0].add_generation, g);

  auto ack = std::make_unique<MappingAck>();
  ack->seq.fetch_add(1);  // a switching killed inside WriteAck
  WriteAck(*ack, Ack(kSwitching, kVhost, g));
  AckRecord back;
  ASSERT_TRUE(ReadAck(*ack, back));
  EXPECT_EQ(back.generation, g);
}

TEST(MappingShareTest, SwitchingUnmapsWhatLeftAndMapsWhatCame) {
  auto t = std::make_unique<MappingTable>();
  t->vhost_pid = kVhost;
  (void)Add(*t, 0, 0x200000000000, 1 << 21, 40);
  (void)Add(*t, 1, 0x200040000000, 1 << 21, 41);
  MappingSnapshot s;
  ASSERT_TRUE(ReadTable(*t, s));
  MappingPlan p = PlanMappingSync({}, 0, s);
  EXPECT_TRUE(p.unmap.empty());
  ASSERT_EQ(p.map.size(), 2u);
  std::vector<MappingEntry> mapped = p.map;
  EXPECT_TRUE(PlanMappingSync(mapped, kVhost, s).map.empty()) << "nothing new";
  // The front-end removed region 0 and its last buffer came back; a new region took
  // entry 0 again: the old one is unmapped first, then the new one mapped.
  (void)Remove(*t, 0);
  (void)Add(*t, 0, 0x200080000000, 1 << 21, 42);
  ASSERT_TRUE(ReadTable(*t, s));
  p = PlanMappingSync(mapped, kVhost, s);
  ASSERT_EQ(p.unmap.size(), 1u);
  EXPECT_EQ(p.unmap[0].vhost_va, 0x200000000000u);
  ASSERT_EQ(p.map.size(), 1u);
  EXPECT_EQ(p.map[0].vhost_va, 0x200080000000u);
  // Another vhost instance published: everything of the old one goes.
  s.vhost_pid = kVhost + 1;
  p = PlanMappingSync(mapped, kVhost, s);
  EXPECT_EQ(p.unmap.size(), 2u);
  EXPECT_EQ(p.map.size(), 2u);
}

}  // namespace
}  // namespace vswitch
