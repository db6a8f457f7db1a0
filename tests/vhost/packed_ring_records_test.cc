// vswitch-vhost's packed ring record slots (packed_ring_records.h) over heap memory standing
// for the vsw_packed_rings memzone: a socket keeps its records across instances whatever
// the order of the configured sockets, and a socket never gets the records another socket
// left.
#include "packed_ring_records.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace vswitch {
namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

class PackedRingRecordsTest : public testing::Test {
 protected:
  PackedRingRecordsTest()
      : memory_(static_cast<char*>(std::aligned_alloc(kCacheLine, kPackedRingsBytes))) {
    std::memset(memory_.get(), 0, kPackedRingsBytes);  // as the primary creates it
  }
  // A new vswitch-vhost instance with these sockets; the record of `socket`'s vring 1
  // marked as a predecessor left it (valid, with `tag` as its committed position).
  static void Leave(PackedRingRecordSlots& slots, const std::string& socket, uint64_t tag) {
    vhost::PackedRingRecord* r = slots.Find(socket, 1);
    ASSERT_NE(r, nullptr);
    r->committed.store(tag);
    r->valid.store(1);
  }
  std::unique_ptr<char, FreeDeleter> memory_;
};

TEST_F(PackedRingRecordsTest, ASocketKeepsItsRecordsWhenTheSocketsAreReordered) {
  std::string error;
  {
    PackedRingRecordSlots first;
    ASSERT_TRUE(first.Attach(memory_.get(), kPackedRingsBytes, {"/run/a.sock", "/run/b.sock"}, &error)) << error;
    Leave(first, "/run/a.sock", 0xa);
    Leave(first, "/run/b.sock", 0xb);
    EXPECT_NE(first.Find("/run/a.sock", 1), first.Find("/run/b.sock", 1));
  }
  PackedRingRecordSlots second;
  ASSERT_TRUE(second.Attach(memory_.get(), kPackedRingsBytes, {"/run/c.sock", "/run/b.sock", "/run/a.sock"}, &error))
      << error;
  for (const auto& [socket, tag] : {std::pair{"/run/a.sock", 0xa}, std::pair{"/run/b.sock", 0xb}}) {
    const vhost::PackedRingRecord* r = second.Find(socket, 1);
    ASSERT_NE(r, nullptr) << socket;
    EXPECT_EQ(r->valid.load(), 1u) << socket;
    EXPECT_EQ(r->committed.load(), static_cast<uint64_t>(tag)) << socket;
  }
  // The new socket starts with nothing recorded.
  ASSERT_NE(second.Find("/run/c.sock", 1), nullptr);
  EXPECT_EQ(second.Find("/run/c.sock", 1)->valid.load(), 0u);
}

TEST_F(PackedRingRecordsTest, ARemovedSocketsSlotIsClearedBeforeAnotherSocketGetsIt) {
  std::string error;
  std::vector<std::string> all;
  for (uint32_t i = 0; i < kMaxDevices; ++i) all.push_back("/run/vm" + std::to_string(i) + ".sock");
  {
    PackedRingRecordSlots first;
    ASSERT_TRUE(first.Attach(memory_.get(), kPackedRingsBytes, all, &error)) << error;
    for (const std::string& s : all) Leave(first, s, 7);
  }
  // Every slot is named: the new socket must take a removed one's, without its records.
  std::vector<std::string> next(all.begin() + 1, all.end());
  next.push_back("/run/new.sock");
  PackedRingRecordSlots second;
  ASSERT_TRUE(second.Attach(memory_.get(), kPackedRingsBytes, next, &error)) << error;
  for (uint32_t v = 0; v < kVringsPerDevice; ++v) {
    ASSERT_NE(second.Find("/run/new.sock", v), nullptr);
    EXPECT_EQ(second.Find("/run/new.sock", v)->valid.load(), 0u) << "vring " << v;
  }
  EXPECT_EQ(second.Find("/run/vm1.sock", 1)->valid.load(), 1u);
  EXPECT_EQ(second.Find("/run/vm0.sock", 1), nullptr);
  // The removed socket, configured again, finds nothing of its own left.
  PackedRingRecordSlots third;
  ASSERT_TRUE(third.Attach(memory_.get(), kPackedRingsBytes, all, &error)) << error;
  EXPECT_EQ(third.Find("/run/vm0.sock", 1)->valid.load(), 0u);
  EXPECT_EQ(third.Find("/run/vm5.sock", 1)->valid.load(), 1u);
}

TEST_F(PackedRingRecordsTest, OnlyConfiguredSocketsAndVringsHaveRecords) {
  std::string error;
  PackedRingRecordSlots slots;
  ASSERT_TRUE(slots.Attach(memory_.get(), kPackedRingsBytes, {"/run/a.sock"}, &error)) << error;
  EXPECT_EQ(slots.Find("/run/other.sock", 0), nullptr);
  EXPECT_EQ(slots.Find("/run/a.sock", kVringsPerDevice), nullptr);
  EXPECT_NE(slots.Find("/run/a.sock", kVringsPerDevice - 1), nullptr);
  // Records are distinct and inside the memory.
  const auto* lo = reinterpret_cast<const char*>(slots.Find("/run/a.sock", 0));
  const auto* hi = reinterpret_cast<const char*>(slots.Find("/run/a.sock", kVringsPerDevice - 1));
  EXPECT_EQ(hi - lo, static_cast<std::ptrdiff_t>((kVringsPerDevice - 1) * kPackedRingRecordBytes));
  EXPECT_GE(lo, memory_.get());
  EXPECT_LE(hi + kPackedRingRecordBytes, memory_.get() + kPackedRingsBytes);

  PackedRingRecordSlots small;
  EXPECT_FALSE(small.Attach(memory_.get(), kPackedRingsBytes - 1, {"/run/a.sock"}, &error));
  EXPECT_NE(error.find("bytes"), std::string::npos) << error;
  EXPECT_FALSE(small.Attach(memory_.get(), kPackedRingsBytes, {std::string(kPackedRingsSlotPathBytes, 'x')}, &error));
}

}  // namespace
}  // namespace vswitch
