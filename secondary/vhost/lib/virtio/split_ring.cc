#include "split_ring.h"

#include <atomic>
#include <cstring>
#include <limits>

namespace vswitch::vhost {
namespace {

// Copies one descriptor out of guest memory with volatile loads, so the compiler cannot
// re-read the (guest-writable) original later: the copy is what gets validated and used.
VirtqDesc ReadDesc(const VirtqDesc* p) {
  const volatile VirtqDesc* v = p;
  VirtqDesc d;
  d.addr = v->addr;
  d.len = v->len;
  d.flags = v->flags;
  d.next = v->next;
  return d;
}

uint16_t LoadU16(const uint16_t* p, int order) { return __atomic_load_n(p, order); }

}  // namespace

void SegmentList::Grow() {
  storage_.resize(std::max<size_t>(64, 2 * storage_.size()));
  data_ = storage_.data();
  capacity_ = storage_.size();
}

void SplitRing::Init(const RingLayout& layout, const GuestMemory* memory, uint16_t last_avail_idx,
                     const RingOptions& options) {
  layout_ = layout;
  memory_ = memory;
  table_ = dynamic_cast<const GuestMemoryTable*>(memory);
  ResetCache();
  options_ = options;
  broken_ = false;
  last_avail_idx_ = last_avail_idx;
  last_used_idx_ = last_avail_idx;
  // A front-end reconnecting to a running guest gives the avail base it saved; when the
  // used index in memory disagrees, trust memory so that no used slot is rewritten.
  const uint16_t used_idx = LoadU16(&layout_.used->idx, __ATOMIC_ACQUIRE);
  if (used_idx != last_used_idx_) {
    last_used_idx_ = used_idx;
    last_avail_idx_ = used_idx;
  }
  published_used_idx_ = last_used_idx_;
  SetGuestNotify(options_.guest_notify);
}

void SplitRing::UpdateLayout(const RingLayout& layout) {
  layout_ = layout;
  ResetCache();
  SetGuestNotify(options_.guest_notify);
}

void SplitRing::SetGuestNotify(bool enable) {
  options_.guest_notify = enable;
  if (layout_.used == nullptr) return;
  // 2.6.10: without EVENT_IDX the flag suppresses kicks; with it, avail_event does.
  const uint16_t flags = enable ? 0 : kUsedFlagNoNotify;
  __atomic_store_n(&layout_.used->flags, flags, __ATOMIC_RELAXED);
  LogUsed(offsetof(VirtqUsed, flags), sizeof(uint16_t));
  if (enable) WriteAvailEvent();
}

void SplitRing::WriteAvailEvent() {
  if (!options_.event_idx || !options_.guest_notify) return;
  auto* avail_event = reinterpret_cast<uint16_t*>(&layout_.used->ring[layout_.size]);
  __atomic_store_n(avail_event, last_avail_idx_, __ATOMIC_RELAXED);
  LogUsed(UsedRingBytes(layout_.size) - sizeof(uint16_t), sizeof(uint16_t));
}

void SplitRing::LogUsed(uint64_t offset, uint64_t len) {
  if (log_ != nullptr && layout_.log_used) log_->Mark(layout_.used_log_gpa + offset, len);
}

uint16_t SplitRing::Available(QueueStats& stats) {
  if (!valid() || broken_) return 0;
  // Acquire: the ring entries and descriptors the index covers are read after it.
  const uint16_t avail_idx = LoadU16(&layout_.avail->idx, __ATOMIC_ACQUIRE);
  const uint16_t n = static_cast<uint16_t>(avail_idx - last_avail_idx_);
  if (n > layout_.size) {
    // 2.6.6: the driver never makes more than the queue size available; a larger jump
    // would have the device process descriptors twice (rust-vmm vm-virtio #196).
    broken_ = true;
    stats.Drop(DropReason::kAvailIndexJump);
    return 0;
  }
  return n;
}

HostRange SplitRing::TranslateSlow(uint64_t gpa, uint64_t len) {
  if (table_ != nullptr) {
    uint64_t base, size;
    uint8_t* host;
    if (!table_->FindRegion(gpa, base, size, host)) return {};
    cache_base_ = base;
    cache_size_ = size;
    cache_host_ = host;
    const uint64_t offset = gpa - base;
    return {host + offset, std::min(std::max<uint64_t>(len, 1), size - offset)};
  }
  return memory_->Translate(gpa, len);
}

std::optional<DropReason> SplitRing::AddBuffer(uint64_t addr, uint32_t len,
                                               SegmentList& segments, Chain& chain) {
  chain.length += len;
  if (chain.length > std::numeric_limits<uint32_t>::max()) return DropReason::kLengthOverflow;
  // Translate the whole range, in pieces where it crosses a region boundary
  // (CVE-2018-1059: never the start address alone).
  uint64_t rest = len;
  while (rest > 0) {
    const HostRange r = TranslateCached(addr, rest);
    if (r.ptr == nullptr) return DropReason::kUnmappedAddress;
    if (chain.num_segments >= kMaxSegmentsPerChain) return DropReason::kChainTooLong;
    segments.push_back(Segment{r.ptr, static_cast<uint32_t>(r.len), addr});
    ++chain.num_segments;
    rest -= r.len;
    addr += r.len;  // cannot wrap: the region holding [addr, addr + r.len) did not
  }
  return std::nullopt;
}

std::optional<DropReason> SplitRing::ReadChainWalk(uint16_t offset, Direction direction,
                                                   SegmentList& segments, Chain& chain) {
  const uint32_t mask = layout_.size - 1;
  const uint16_t slot = static_cast<uint16_t>(last_avail_idx_ + offset) & mask;
  const uint16_t head = LoadU16(&layout_.avail->ring[slot], __ATOMIC_RELAXED);
  chain = Chain{};
  chain.first_segment = static_cast<uint32_t>(segments.size());
  if (head >= layout_.size) {
    // 2.6.6: ring entries are descriptor indexes. Nothing sensible can be returned to
    // the driver for this slot, so the queue stops.
    broken_ = true;
    return DropReason::kHeadOutOfRange;
  }
  chain.head = head;

  const VirtqDesc* table = layout_.desc;
  uint32_t table_size = layout_.size;
  uint32_t max_steps = layout_.size;
  uint32_t steps = 0;
  bool in_indirect = false;
  uint16_t idx = head;
  const auto fail = [&](DropReason r) -> std::optional<DropReason> {
    segments.Truncate(chain.first_segment);
    chain.num_segments = 0;
    chain.length = 0;
    return r;
  };
  for (;;) {
    if (idx >= table_size) return fail(DropReason::kDescIndexOutOfRange);
    // 2.6.5.2: a chain is never longer than its table; more steps means a loop.
    if (++steps > max_steps) return fail(DropReason::kChainTooLong);
    const VirtqDesc d = ReadDesc(&table[idx]);
    if ((d.flags & kDescFlagIndirect) != 0) {
      // 2.6.5.3.1: no nested tables, INDIRECT without NEXT, length a multiple of 16.
      if (in_indirect) return fail(DropReason::kNestedIndirect);
      if ((d.flags & kDescFlagNext) != 0) return fail(DropReason::kIndirectWithNext);
      if (!options_.indirect || d.len == 0 || d.len % sizeof(VirtqDesc) != 0 ||
          d.len / sizeof(VirtqDesc) > layout_.size) {
        return fail(DropReason::kBadIndirectTable);
      }
      const HostRange t = TranslateCached(d.addr, d.len);
      if (t.ptr == nullptr) return fail(DropReason::kBadIndirectTable);
      if (t.len >= d.len && reinterpret_cast<uintptr_t>(t.ptr) % alignof(VirtqDesc) == 0) {
        table = reinterpret_cast<const VirtqDesc*>(t.ptr);
      } else {
        // The table crosses a region boundary (contiguous in guest-physical space, not
        // on the host, CVE-2018-1059) or is misaligned: copy it piecewise, every byte
        // translated. Its entries are read once either way (ReadDesc).
        indirect_copy_.resize(d.len / sizeof(VirtqDesc));
        if (!CopyFromGuest(*memory_, d.addr, indirect_copy_.data(), d.len)) {
          return fail(DropReason::kBadIndirectTable);
        }
        table = indirect_copy_.data();
      }
      table_size = d.len / sizeof(VirtqDesc);
      max_steps = table_size;
      steps = 0;
      in_indirect = true;
      idx = 0;
      continue;
    }
    const bool writable = (d.flags & kDescFlagWrite) != 0;
    if (writable != (direction == Direction::kDeviceWritable)) {
      return fail(DropReason::kWrongDirection);
    }
    if (d.len > 0) {
      if (auto r = AddBuffer(d.addr, d.len, segments, chain)) return fail(*r);
    }
    if ((d.flags & kDescFlagNext) == 0) break;
    idx = d.next;
  }
  return std::nullopt;
}

bool SplitRing::PublishUsed() {
  if (last_used_idx_ == published_used_idx_) return false;
  const uint16_t old_idx = published_used_idx_;
  // Release: the used elements (and the buffer contents) are visible before the index.
  __atomic_store_n(&layout_.used->idx, last_used_idx_, __ATOMIC_RELEASE);
  LogUsed(offsetof(VirtqUsed, idx), sizeof(uint16_t));
  published_used_idx_ = last_used_idx_;
  // The index store must be visible before we read the driver's suppression state,
  // or a driver re-enabling interrupts concurrently could miss its notification.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (options_.event_idx) {
    // 2.6.7.2: used_event sits after the available ring's entries.
    const uint16_t used_event = LoadU16(&layout_.avail->ring[layout_.size], __ATOMIC_RELAXED);
    return VringNeedEvent(used_event, last_used_idx_, old_idx);
  }
  return (LoadU16(&layout_.avail->flags, __ATOMIC_RELAXED) & kAvailFlagNoInterrupt) == 0;
}

}  // namespace vswitch::vhost
