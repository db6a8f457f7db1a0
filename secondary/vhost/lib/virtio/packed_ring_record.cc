#include "packed_ring_record.h"

#include <array>

#include "virtio_ring.h"  // kDescFlagNext

namespace vswitch::vhost {
namespace {

uint16_t Flags(const PackedDesc* desc, PackedPosition p) {
  return __atomic_load_n(&desc[p.idx].flags, __ATOMIC_ACQUIRE);
}
bool UsedBit(uint16_t flags) { return (flags & kPackedDescFlagUsed) != 0; }

struct Recorded {
  PackedRingState state;
  PackedPosition last;
  bool has_last;
};
Recorded Decode(uint64_t v) {
  Recorded r;
  r.state = DecodePackedBase(static_cast<uint32_t>(v));
  const auto last = static_cast<uint16_t>(v >> 32);
  r.last = {static_cast<uint16_t>(last & 0x7fff), (last & 0x8000) != 0};
  r.has_last = ((v >> 48) & 1) != 0;
  return r;
}

PackedResumePlan Refuse(const char* why) {
  PackedResumePlan p;
  p.why = why;
  return p;
}

}  // namespace

PackedResumePlan PlanPackedResume(const PackedRingRecord& record, const PackedRingIdentity& identity,
                                  const PackedDesc* desc) {
  const uint32_t size = identity.size;
  if (record.valid.load(std::memory_order_acquire) != 1) return Refuse("no record");
  PackedRingIdentity recorded;
  recorded.size = record.size.load(std::memory_order_relaxed);
  recorded.desc_addr = record.desc_addr.load(std::memory_order_relaxed);
  recorded.driver_addr = record.driver_addr.load(std::memory_order_relaxed);
  recorded.device_addr = record.device_addr.load(std::memory_order_relaxed);
  recorded.file_dev = record.file_dev.load(std::memory_order_relaxed);
  recorded.file_ino = record.file_ino.load(std::memory_order_relaxed);
  if (size == 0 || size > kPackedRecordMaxSize || desc == nullptr) return Refuse("queue not recorded");
  if (!(recorded == identity)) return Refuse("another ring (addresses, size or memory file differ)");

  // A batch of used descriptors being written at the death: its first flag is written
  // last (PublishUsed), so the driver saw all of it or none. Before: the first place
  // still holds the driver's available descriptor (USED != wrap); after: USED == wrap
  // (used, or already made available again for the next lap).
  const Recorded committed = Decode(record.committed.load(std::memory_order_acquire));
  const Recorded pending = Decode(record.pending.load(std::memory_order_acquire));
  bool batch_written = false;
  if (pending.state != committed.state) {
    if (committed.state.avail.idx >= size || committed.state.used.idx >= size) return Refuse("bad position");
    batch_written = UsedBit(Flags(desc, committed.state.used)) == committed.state.used.wrap;
  }
  const Recorded& at = batch_written ? pending : committed;
  const PackedPosition avail = at.state.avail;
  const PackedPosition used = at.state.used;
  if (avail.idx >= size || used.idx >= size || (at.has_last && at.last.idx >= size)) {
    return Refuse("bad position");
  }

  // The held table, as this batch leaves it: returned entries of a written batch are
  // gone; of an unwritten one, still held.
  std::array<uint16_t, kPackedRecordMaxSize> held{};
  uint32_t held_descs = 0;
  for (uint32_t id = 0; id < size; ++id) {
    uint16_t h = record.held[id].load(std::memory_order_relaxed);
    if ((h & kPackedHeldPut) != 0) h = batch_written ? 0 : static_cast<uint16_t>(h & ~kPackedHeldPut);
    if (h > size) return Refuse("bad held entry");
    held[id] = h;
    held_descs += h;
  }

  // Chains consumed after the record's avail place (the death came before the batch
  // that would have recorded them): still available in memory there, since nothing is
  // written at or after the avail place before it is recorded. They are read again, so
  // they are not held. A held ID cannot be available anywhere else: the driver makes an
  // ID available again only after it was used.
  const uint32_t in_flight = PackedDistance(used, avail, size);
  if (held_descs != in_flight) {
    PackedPosition p = avail;
    uint32_t walked = 0;
    while (held_descs > in_flight && walked < size - in_flight) {
      uint32_t n = 0;
      PackedPosition q = p;
      bool complete = false;
      while (walked + n < size - in_flight) {
        const PackedDesc d{0, 0, __atomic_load_n(&desc[q.idx].id, __ATOMIC_RELAXED), Flags(desc, q)};
        if (!PackedDescAvailable(d.flags, q.wrap)) break;
        ++n;
        q = PackedAdvance(q, 1, size);
        if ((d.flags & kDescFlagNext) == 0) {
          complete = true;
          const uint16_t id = d.id;
          if (id < size && held[id] == n) {
            held_descs -= held[id];
            held[id] = 0;
          }
          break;
        }
      }
      if (!complete) break;
      walked += n;
      p = q;
    }
  }
  if (held_descs != in_flight) return Refuse("held chains do not add up to the descriptors in flight");

  // Guest memory must agree. From used to avail: consumed, not yet used, so the driver
  // cannot have rewritten them: each still available for its wrap.
  for (PackedPosition p = used; p != avail; p = PackedAdvance(p, 1, size)) {
    if (!PackedDescAvailable(Flags(desc, p), p.wrap)) return Refuse("descriptors in flight not available");
  }
  // The last used descriptor written: USED equal to its wrap (still used, or made
  // available again for the next lap).
  if (at.has_last && UsedBit(Flags(desc, at.last)) != at.last.wrap) {
    return Refuse("last used descriptor not marked used");
  }
  // At the avail place: what the device left there in the previous lap (used: USED ==
  // previous wrap) or what the driver made available for this one (USED != wrap). USED
  // == wrap would be a descriptor used in a lap the device has not reached, or one left
  // available for the previous lap: a front-end that reset its ring (DPDK's virtio-user
  // refills it from index 0 for wrap 1).
  // (With the whole ring in flight the avail place is the used one, checked above.)
  if (in_flight < size && UsedBit(Flags(desc, avail)) == avail.wrap) {
    return Refuse("descriptor at avail place not as left");
  }

  PackedResumePlan plan;
  plan.adopt = true;
  plan.state = {avail, used};
  for (uint32_t id = 0; id < size; ++id) {
    if (held[id] != 0) plan.returning.push_back({static_cast<uint16_t>(id), held[id]});
  }
  return plan;
}

void ResetPackedRecord(PackedRingRecord& record, const PackedRingIdentity& identity,
                       PackedRingState state, const std::vector<PackedHeldChain>& held) {
  // Invalid while it is rewritten: a death in between leaves nothing to resume.
  record.valid.store(0, std::memory_order_release);
  record.size.store(identity.size, std::memory_order_relaxed);
  record.desc_addr.store(identity.desc_addr, std::memory_order_relaxed);
  record.driver_addr.store(identity.driver_addr, std::memory_order_relaxed);
  record.device_addr.store(identity.device_addr, std::memory_order_relaxed);
  record.file_dev.store(identity.file_dev, std::memory_order_relaxed);
  record.file_ino.store(identity.file_ino, std::memory_order_relaxed);
  for (auto& h : record.held) h.store(0, std::memory_order_relaxed);
  for (const PackedHeldChain& c : held) {
    if (c.id < kPackedRecordMaxSize) record.held[c.id].store(c.descs, std::memory_order_relaxed);
  }
  const uint64_t pos = EncodeRecordedPosition(state, {}, false);
  record.committed.store(pos, std::memory_order_relaxed);
  record.pending.store(pos, std::memory_order_relaxed);
  record.valid.store(1, std::memory_order_release);
}

}  // namespace vswitch::vhost
