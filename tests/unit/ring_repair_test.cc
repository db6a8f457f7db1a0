// A ring end taken over after its owner was killed between moving the head and moving
// the tail (ring_repair.h). The kill is real: a fork()ed child runs DPDK's own
// single-producer enqueue (or single-consumer dequeue) on a ring in shared memory, and the
// memory that operation copies into is made read-only in the child only, so the copy
// faults after the head moved and before the tail did, as a kill -9 at that instruction
// would leave it. The parent then plays the successor and the other end.
#include <gtest/gtest.h>
#include <rte_ring.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include "ring_repair.h"
#include "ring_repair_plan.h"

namespace vswitch {
namespace {

constexpr unsigned kRingSize = 1024;  // slots; capacity kRingSize - 1
constexpr uintptr_t kStale = 0xdead0000;      // tokens of laps already consumed
constexpr uintptr_t kPublished = 0x10000;     // tokens a finished operation put on the ring
constexpr uintptr_t kUnfinished = 0x20000;    // tokens of the operation killed half-way
constexpr uintptr_t kAfter = 0x30000;         // tokens the successor enqueues

static_assert(sizeof(rte_ring) % RTE_CACHE_LINE_SIZE == 0, "slots follow the header directly");

void* Token(uintptr_t base, unsigned i) { return reinterpret_cast<void*>(base + i); }

std::string Describe(const std::vector<uintptr_t>& tokens) {
  std::string s;
  for (uintptr_t t : tokens) {
    char buf[24];
    std::snprintf(buf, sizeof(buf), "%#lx ", static_cast<unsigned long>(t));
    s += buf;
  }
  return s;
}

std::vector<uintptr_t> Tokens(uintptr_t base, unsigned n) {
  std::vector<uintptr_t> v;
  for (unsigned i = 0; i < n; ++i) v.push_back(base + i);
  return v;
}

class KilledOwnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    ASSERT_EQ(kRingSize * sizeof(void*) % page_, 0u);
    // Header at the end of the first page, so slot 0 starts the second page and slot
    // page_/8 the third: a page of slots can be made read-only without the header.
    bytes_ = page_ + kRingSize * sizeof(void*);
    void* mem = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    mem_ = static_cast<uint8_t*>(mem);
    ring_ = reinterpret_cast<rte_ring*>(mem_ + page_ - sizeof(rte_ring));
    ASSERT_EQ(reinterpret_cast<uintptr_t>(ring_ + 1) % page_, 0u);
    ASSERT_EQ(rte_ring_init(ring_, "killed_owner", kRingSize, RING_F_SP_ENQ | RING_F_SC_DEQ), 0);
  }
  void TearDown() override {
    if (mem_ != nullptr) munmap(mem_, bytes_);
  }

  // Runs `n` stale tokens through the ring (enqueued and dequeued), so every slot holds a
  // pointer of a lap already consumed and both ends stand at `n`.
  void Advance(unsigned n) {
    for (unsigned done = 0; done < n;) {
      const unsigned chunk = std::min(n - done, 500u);
      std::vector<void*> objs;
      for (unsigned i = 0; i < chunk; ++i) objs.push_back(Token(kStale, done + i));
      ASSERT_EQ(rte_ring_sp_enqueue_bulk(ring_, objs.data(), chunk, nullptr), chunk);
      ASSERT_EQ(rte_ring_sc_dequeue_bulk(ring_, objs.data(), chunk, nullptr), chunk);
      done += chunk;
    }
  }

  void Enqueue(uintptr_t base, unsigned n) {
    std::vector<void*> objs;
    for (unsigned i = 0; i < n; ++i) objs.push_back(Token(base, i));
    ASSERT_EQ(rte_ring_sp_enqueue_burst(ring_, objs.data(), n, nullptr), n);
  }

  std::vector<uintptr_t> DequeueAll() {
    std::vector<uintptr_t> got;
    void* objs[64];
    unsigned n = 0;
    while ((n = rte_ring_sc_dequeue_burst(ring_, objs, 64, nullptr)) > 0) {
      for (unsigned i = 0; i < n; ++i) got.push_back(reinterpret_cast<uintptr_t>(objs[i]));
    }
    return got;
  }

  // Forks a child that runs `op` and must die of SIGSEGV inside it.
  template <typename Op>
  void KillChildInside(Op op) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const rlimit no_core{0, 0};
      setrlimit(RLIMIT_CORE, &no_core);  // the fault is the point: no core file
      // The default action, so that a sanitizer's SEGV handler does not turn the kill into
      // an abort (deploy/vswitch test --sanitize).
      std::signal(SIGSEGV, SIG_DFL);
      op();
      _exit(0);  // the operation finished: the test's setup is wrong
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
        << "the child was to die inside the ring operation; status " << status;
  }

  uint8_t* Slot(unsigned index) { return reinterpret_cast<uint8_t*>(ring_ + 1) + index * sizeof(void*); }

  size_t page_ = 0;
  size_t bytes_ = 0;
  uint8_t* mem_ = nullptr;
  rte_ring* ring_ = nullptr;
};

// The producer dies inside rte_ring_sp_enqueue_burst of 20 tokens, after writing the
// slots up to a page boundary: some of its slots are written, the rest still hold stale
// pointers of an earlier lap. The successor producer must not publish any of them.
TEST_F(KilledOwnerTest, ProducerKilledBetweenHeadAndTailPublishesNoUnwrittenSlot) {
  const unsigned slots_per_page = static_cast<unsigned>(page_ / sizeof(void*));
  // Both ends at slot index slots_per_page - 12 of the second lap; 5 tokens published.
  ASSERT_NO_FATAL_FAILURE(Advance(kRingSize + slots_per_page - 12));
  ASSERT_NO_FATAL_FAILURE(Enqueue(kPublished, 5));
  KillChildInside([&] {
    mprotect(Slot(slots_per_page), page_, PROT_READ);  // the copy faults at this slot
    void* objs[20];
    for (unsigned i = 0; i < 20; ++i) objs[i] = Token(kUnfinished, i);
    (void)rte_ring_sp_enqueue_burst(ring_, objs, 20, nullptr);
  });
  // The state a producer killed there leaves: its head 20 ahead of its tail.
  ASSERT_EQ(ring_->prod.head - ring_->prod.tail, 20u) << DescribeRingCounters(*ring_);

  const RingRepairResult r = RepairRingEnd(*ring_, RingEnd::kProducer);
  EXPECT_EQ(r.verdict, RingRepairVerdict::kRollBack) << r.detail;
  EXPECT_EQ(r.slots, 20u);
  EXPECT_EQ(ring_->prod.head, ring_->prod.tail);

  // The successor goes on; the consumer must see the published tokens, then the
  // successor's, and nothing else: no stale pointer, no unpublished token.
  ASSERT_NO_FATAL_FAILURE(Enqueue(kAfter, 3));
  std::vector<uintptr_t> want = Tokens(kPublished, 5);
  for (uintptr_t t : Tokens(kAfter, 3)) want.push_back(t);
  const std::vector<uintptr_t> got = DequeueAll();
  EXPECT_EQ(got, want) << "consumer received: " << Describe(got);

  // Full laps still work from here, and both ends agree.
  for (int lap = 0; lap < 3; ++lap) {
    ASSERT_NO_FATAL_FAILURE(Enqueue(kAfter + 0x1000, kRingSize - 1));
    EXPECT_EQ(DequeueAll(), Tokens(kAfter + 0x1000, kRingSize - 1));
  }
  EXPECT_EQ(ring_->prod.head, ring_->prod.tail);
  EXPECT_EQ(ring_->cons.head, ring_->cons.tail);
  EXPECT_EQ(ring_->prod.tail, ring_->cons.tail);
}

// The consumer dies inside rte_ring_sc_dequeue_burst of 40 tokens: it copied 10 into its
// own (stack) array and faulted on the 11th. The successor consumer must get all 40,
// each once, and the producer must be able to fill the ring again.
TEST_F(KilledOwnerTest, ConsumerKilledBetweenHeadAndTailLosesNoPublishedSlot) {
  ASSERT_NO_FATAL_FAILURE(Advance(kRingSize + 1000));  // the 40 tokens wrap past the last slot
  ASSERT_NO_FATAL_FAILURE(Enqueue(kPublished, 40));
  // The dead consumer's destination array: 10 pointers before a page it cannot write.
  void* dst_mem = mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(dst_mem, MAP_FAILED);
  auto* dst_page = static_cast<uint8_t*>(dst_mem);
  KillChildInside([&] {
    mprotect(dst_page + page_, page_, PROT_READ);
    auto** dst = reinterpret_cast<void**>(dst_page + page_ - 10 * sizeof(void*));
    (void)rte_ring_sc_dequeue_burst(ring_, dst, 40, nullptr);
  });
  munmap(dst_mem, 2 * page_);
  ASSERT_EQ(ring_->cons.head - ring_->cons.tail, 40u) << DescribeRingCounters(*ring_);

  const RingRepairResult r = RepairRingEnd(*ring_, RingEnd::kConsumer);
  EXPECT_EQ(r.verdict, RingRepairVerdict::kRollBack) << r.detail;
  EXPECT_EQ(r.slots, 40u);

  const std::vector<uintptr_t> got = DequeueAll();
  EXPECT_EQ(got, Tokens(kPublished, 40)) << "consumer received: " << Describe(got);
  // The producer has the whole capacity again, and it flows.
  ASSERT_NO_FATAL_FAILURE(Enqueue(kAfter, kRingSize - 1));
  EXPECT_EQ(DequeueAll(), Tokens(kAfter, kRingSize - 1));
  EXPECT_EQ(ring_->cons.head, ring_->cons.tail);
  EXPECT_EQ(ring_->prod.tail, ring_->cons.tail);
}

TEST_F(KilledOwnerTest, FinishedOperationsNeedNoRepair) {
  ASSERT_NO_FATAL_FAILURE(Advance(700));
  ASSERT_NO_FATAL_FAILURE(Enqueue(kPublished, 9));
  for (RingEnd end : {RingEnd::kProducer, RingEnd::kConsumer}) {
    const RingRepairResult r = RepairRingEnd(*ring_, end);
    EXPECT_EQ(r.verdict, RingRepairVerdict::kConsistent) << r.detail;
  }
  EXPECT_EQ(DequeueAll(), Tokens(kPublished, 9));
}

// A multi-producer end with head != tail may be a live producer's reservation: it is
// reported, never rolled back.
TEST(RingRepairTest, MultiProducerEndIsReportedNotTouched) {
  std::vector<uint8_t> mem(rte_ring_get_memsize(64) + RTE_CACHE_LINE_SIZE);
  auto* ring = reinterpret_cast<rte_ring*>(RTE_PTR_ALIGN_CEIL(mem.data(), RTE_CACHE_LINE_SIZE));
  ASSERT_EQ(rte_ring_init(ring, "mp", 64, 0), 0);
  ring->prod.head = 7;  // a reservation of 7 slots, owner unknown
  const RingRepairResult r = RepairRingEnd(*ring, RingEnd::kProducer);
  EXPECT_EQ(r.verdict, RingRepairVerdict::kCorrupt);
  EXPECT_NE(r.detail.find("not single-owner"), std::string::npos) << r.detail;
  EXPECT_EQ(ring->prod.head, 7u);
}

TEST(RingRepairPlanTest, CountsAcrossTheCounterWrap) {
  const RingRepairPlan p = PlanRingEndRepair(RingEnd::kProducer, {5, 0xfffffff0u}, 0xffffffe0u, 1023);
  EXPECT_EQ(p.verdict, RingRepairVerdict::kRollBack);
  EXPECT_EQ(p.slots, 21u);
  const RingRepairPlan c = PlanRingEndRepair(RingEnd::kConsumer, {3, 0xfffffffeu}, 10, 1023);
  EXPECT_EQ(c.verdict, RingRepairVerdict::kRollBack);
  EXPECT_EQ(c.slots, 5u);
}

TEST(RingRepairPlanTest, CountersNoKilledOwnerLeavesAreCorrupt) {
  // Producer head past the consumer's tail plus the capacity.
  EXPECT_EQ(PlanRingEndRepair(RingEnd::kProducer, {2000, 990}, 900, 1023).verdict,
            RingRepairVerdict::kCorrupt);
  // Tail ahead of head.
  EXPECT_EQ(PlanRingEndRepair(RingEnd::kProducer, {10, 12}, 5, 1023).verdict,
            RingRepairVerdict::kCorrupt);
  // Consumer head past the producer's tail.
  EXPECT_EQ(PlanRingEndRepair(RingEnd::kConsumer, {50, 40}, 45, 1023).verdict,
            RingRepairVerdict::kCorrupt);
  EXPECT_EQ(PlanRingEndRepair(RingEnd::kConsumer, {45, 40}, 45, 1023).verdict,
            RingRepairVerdict::kRollBack);
  EXPECT_EQ(PlanRingEndRepair(RingEnd::kConsumer, {40, 40}, 45, 1023).verdict,
            RingRepairVerdict::kConsistent);
}

}  // namespace
}  // namespace vswitch
