#include "mapping_share.h"

#include <algorithm>
#include <atomic>

namespace vswitch {

namespace {
// The next odd value: a writer killed between its begin and its end left `seq` odd, and
// its successor's write must still read as "being written" (odd), then as stable (even,
// after its end's +1). The entries the dead writer was writing are the successor's to
// rewrite: MappingPublisher withdraws every entry when it starts, and an acknowledgement
// is written whole.
uint64_t OddAfter(uint64_t seq) { return (seq & 1) != 0 ? seq + 2 : seq + 1; }
}  // namespace

void BeginTableWrite(MappingTable& table) {
  table.seq.store(OddAfter(table.seq.load(std::memory_order_relaxed)), std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
}

void EndTableWrite(MappingTable& table) {
  table.seq.store(table.seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

uint64_t PublishEntry(MappingTable& table, uint32_t index, uint64_t vhost_va, uint64_t size,
                      uint64_t file_offset, int32_t fd) {
  SharedMapping& e = table.entries[index];
  const uint64_t g = table.generation.load(std::memory_order_relaxed) + 1;
  BeginTableWrite(table);
  e.vhost_va.store(vhost_va, std::memory_order_relaxed);
  e.size.store(size, std::memory_order_relaxed);
  e.file_offset.store(file_offset, std::memory_order_relaxed);
  e.fd.store(fd, std::memory_order_relaxed);
  e.add_generation.store(g, std::memory_order_relaxed);
  table.generation.store(g, std::memory_order_relaxed);
  EndTableWrite(table);
  return g;
}

uint64_t WithdrawEntry(MappingTable& table, uint32_t index) {
  const uint64_t g = table.generation.load(std::memory_order_relaxed) + 1;
  BeginTableWrite(table);
  table.entries[index].add_generation.store(0, std::memory_order_relaxed);
  table.generation.store(g, std::memory_order_relaxed);
  EndTableWrite(table);
  return g;
}

bool ReadTable(const MappingTable& table, MappingSnapshot& out) {
  const uint64_t before = table.seq.load(std::memory_order_acquire);
  if (before & 1) return false;
  out.vhost_pid = table.vhost_pid.load(std::memory_order_relaxed);
  out.generation = table.generation.load(std::memory_order_relaxed);
  out.entries.clear();
  for (uint32_t i = 0; i < kMaxSharedMappings; ++i) {
    const SharedMapping& e = table.entries[i];
    MappingEntry m;
    m.add_generation = e.add_generation.load(std::memory_order_relaxed);
    if (m.add_generation == 0) continue;
    m.index = i;
    m.vhost_va = e.vhost_va.load(std::memory_order_relaxed);
    m.size = e.size.load(std::memory_order_relaxed);
    m.file_offset = e.file_offset.load(std::memory_order_relaxed);
    m.fd = e.fd.load(std::memory_order_relaxed);
    out.entries.push_back(m);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  return table.seq.load(std::memory_order_relaxed) == before;
}

void WriteAck(MappingAck& ack, const AckRecord& record) {
  ack.seq.store(OddAfter(ack.seq.load(std::memory_order_relaxed)), std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  ack.switching_pid.store(record.switching_pid, std::memory_order_relaxed);
  ack.vhost_pid.store(record.vhost_pid, std::memory_order_relaxed);
  ack.generation.store(record.generation, std::memory_order_relaxed);
  for (size_t w = 0; w < std::size(record.refused); ++w) {
    ack.refused[w].store(record.refused[w], std::memory_order_relaxed);
  }
  ack.seq.store(ack.seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

bool ReadAck(const MappingAck& ack, AckRecord& out) {
  const uint64_t before = ack.seq.load(std::memory_order_acquire);
  if (before & 1) return false;
  out.switching_pid = ack.switching_pid.load(std::memory_order_relaxed);
  out.vhost_pid = ack.vhost_pid.load(std::memory_order_relaxed);
  out.generation = ack.generation.load(std::memory_order_relaxed);
  for (size_t w = 0; w < std::size(out.refused); ++w) {
    out.refused[w] = ack.refused[w].load(std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  return ack.seq.load(std::memory_order_relaxed) == before;
}

bool MappingShared(const AckRecord& ack, int32_t switching_pid, int32_t self_pid, uint32_t index,
                   uint64_t add_generation) {
  // An acknowledgement by an earlier switching instance, or for an earlier vhost
  // instance's table, says nothing about what is mapped now.
  return switching_pid > 0 && ack.switching_pid == switching_pid && ack.vhost_pid == self_pid &&
         add_generation != 0 && ack.generation >= add_generation && index < kMaxSharedMappings &&
         !ack.Refused(index);
}

bool MayUnmapRetired(const AckRecord& ack, int32_t switching_pid, int32_t self_pid,
                     uint64_t removed_generation) {
  // No switching instance: one that registers later reads the table after the removal.
  if (switching_pid <= 0) return true;
  return ack.switching_pid == switching_pid && ack.vhost_pid == self_pid &&
         ack.generation >= removed_generation;
}

MappingPlan PlanMappingSync(const std::vector<MappingEntry>& mapped, int32_t mapped_pid,
                            const MappingSnapshot& table) {
  MappingPlan plan;
  const bool same_instance = mapped_pid == table.vhost_pid;
  for (const MappingEntry& m : mapped) {
    const bool kept = same_instance && std::find(table.entries.begin(), table.entries.end(), m) !=
                                           table.entries.end();
    if (!kept) plan.unmap.push_back(m);
  }
  for (const MappingEntry& e : table.entries) {
    const bool have = same_instance && std::find(mapped.begin(), mapped.end(), e) != mapped.end();
    if (!have) plan.map.push_back(e);
  }
  return plan;
}

}  // namespace vswitch
