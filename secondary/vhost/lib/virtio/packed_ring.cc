#include "packed_ring.h"

#include <atomic>
#include <limits>

namespace vswitch::vhost {
namespace {

// One descriptor out of guest memory: flags first with acquire (2.8 "Polling of available
// and used descriptors": the other fields are valid once the flags say available), then
// the rest with volatile loads so the compiler cannot read the guest's copy again.
PackedDesc ReadDesc(const PackedDesc* p) {
  PackedDesc d;
  d.flags = __atomic_load_n(&p->flags, __ATOMIC_ACQUIRE);
  const volatile PackedDesc* v = p;
  d.addr = v->addr;
  d.len = v->len;
  d.id = v->id;
  return d;
}

uint16_t LoadFlags(const PackedDesc* p) { return __atomic_load_n(&p->flags, __ATOMIC_ACQUIRE); }

}  // namespace

void PackedRing::Init(const PackedRingLayout& layout, const GuestMemory* memory,
                      PackedRingState state, const RingOptions& options) {
  Clear();
  layout_ = layout;
  memory_ = memory;
  options_ = options;
  avail_ = state.avail;
  // vhost-user.rst: a front-end that does not know the used half sends zeros there; with
  // nothing in flight at a stop (the device returns everything before GET_VRING_BASE
  // answers) the used position is the available one.
  used_ = state.avail;
  used_published_ = used_;
  scan_ = avail_;
  held_descs_.assign(layout_.size, 0);
  peek_mark_.assign(layout_.size, 0);
  chain_copy_.reserve(16);
  // An index outside the ring is nothing the device can resume from.
  if (avail_.idx >= layout_.size) broken_ = true;
  SetGuestNotify(options_.guest_notify);
}

bool PackedRing::AttachRecord(PackedRingRecord* record, const PackedRingIdentity& identity,
                              const PackedResumePlan* plan) {
  record_ = nullptr;
  if (record == nullptr || !valid() || layout_.size > kPackedRecordMaxSize) return false;
  if (plan == nullptr || !plan->adopt) {
    ResetPackedRecord(*record, identity, state(), {});
    record_ = record;
    recorded_avail_ = avail_;
    return false;
  }
  avail_ = plan->state.avail;
  used_ = plan->state.used;
  used_published_ = used_;
  scan_ = avail_;
  scan_chains_ = 0;
  scan_descs_ = 0;
  for (const PackedHeldChain& c : plan->returning) {
    held_descs_[c.id] = c.descs;
    ++in_flight_count_;
  }
  ResetPackedRecord(*record, identity, state(), plan->returning);
  record_ = record;
  recorded_avail_ = avail_;
  SetGuestNotify(options_.guest_notify);
  // The chains held when the predecessor died: their frames are gone with it (or
  // revoked, zero-copy), their buffers come back to the driver, each once.
  for (const PackedHeldChain& c : plan->returning) PutUsed(c.id, 0);
  return PublishUsed();
}

void PackedRing::Record(uint64_t position) {
  record_->pending.store(position, std::memory_order_release);
  record_->committed.store(position, std::memory_order_release);
  recorded_avail_ = avail_;
}

void PackedRing::UpdateLayout(const PackedRingLayout& layout) {
  layout_.desc = layout.desc;
  layout_.driver_event = layout.driver_event;
  layout_.device_event = layout.device_event;
  layout_.desc_log_gpa = layout.desc_log_gpa;
  layout_.device_event_log_gpa = layout.device_event_log_gpa;
  layout_.log = layout.log;
  SetGuestNotify(options_.guest_notify);
}

void PackedRing::SetGuestNotify(bool enable) {
  options_.guest_notify = enable;
  if (layout_.device_event == nullptr) return;
  if (!enable) {
    __atomic_store_n(&layout_.device_event->flags, kPackedEventDisable, __ATOMIC_RELAXED);
  } else if (options_.event_idx) {
    WriteDeviceEvent();
    __atomic_store_n(&layout_.device_event->flags, kPackedEventDesc, __ATOMIC_RELEASE);
  } else {
    __atomic_store_n(&layout_.device_event->flags, kPackedEventEnable, __ATOMIC_RELAXED);
  }
  Log(layout_.device_event_log_gpa, kPackedEventBytes);
}

void PackedRing::WriteDeviceEvent() {
  // Kick me when the next descriptor I have not read is made available.
  const uint16_t off_wrap = static_cast<uint16_t>(avail_.idx | (avail_.wrap ? 0x8000 : 0));
  __atomic_store_n(&layout_.device_event->off_wrap, off_wrap, __ATOMIC_RELAXED);
  Log(layout_.device_event_log_gpa, sizeof(uint16_t));
}

uint16_t PackedRing::Available(QueueStats& stats) {
  if (!valid() || broken_) return 0;
  const uint32_t size = layout_.size;
  // Bound: never more than one lap of the ring from the next descriptor to read.
  while (scan_descs_ < size) {
    PackedPosition p = scan_;
    uint32_t n = 0;
    bool complete = false;
    bool available = true;
    while (scan_descs_ + n < size) {
      const uint16_t flags = LoadFlags(&layout_.desc[p.idx]);
      if (!PackedDescAvailable(flags, p.wrap)) {
        available = false;
        break;
      }
      ++n;
      p = PackedAdvance(p, 1, size);
      if ((flags & kDescFlagNext) == 0) {
        complete = true;
        break;
      }
    }
    if (!complete && available) {
      // Every descriptor up to a full lap is available and says NEXT: a chain that
      // never ends (2.8 "Scatter-Gather Support": at most the queue size in a list).
      broken_ = true;
      stats.Drop(DropReason::kChainTooLong);
      return 0;
    }
    // A chain whose rest is not there yet is not counted; ReadChain says what is wrong
    // with one that was counted and turns out different.
    if (!complete) break;
    scan_ = p;
    scan_descs_ += n;
    ++scan_chains_;
  }
  return static_cast<uint16_t>(std::min<uint32_t>(scan_chains_, std::numeric_limits<uint16_t>::max()));
}

std::optional<DropReason> PackedRing::AddBuffer(uint64_t addr, uint32_t len,
                                                SegmentList& segments, Chain& chain) {
  chain.length += len;
  if (chain.length > std::numeric_limits<uint32_t>::max()) return DropReason::kLengthOverflow;
  // Whole range, in pieces where it crosses a region boundary (CVE-2018-1059).
  uint64_t rest = len;
  while (rest > 0) {
    const HostRange r = memory_->Translate(addr, rest);
    if (r.ptr == nullptr) return DropReason::kUnmappedAddress;
    if (chain.num_segments >= kMaxSegmentsPerChain) return DropReason::kChainTooLong;
    segments.push_back(Segment{r.ptr, static_cast<uint32_t>(r.len), addr});
    ++chain.num_segments;
    rest -= r.len;
    addr += r.len;
  }
  return std::nullopt;
}

std::optional<DropReason> PackedRing::AddIndirect(const PackedDesc& d, Direction direction,
                                                  SegmentList& segments, Chain& chain) {
  // 2.8 "Indirect Flag": a table of len / 16 descriptors; like the split ring, at most
  // the queue size of them and a length that is a multiple of 16.
  if (!options_.indirect || d.len == 0 || d.len % sizeof(PackedDesc) != 0 ||
      d.len / sizeof(PackedDesc) > layout_.size) {
    return DropReason::kBadIndirectTable;
  }
  const uint32_t entries = d.len / sizeof(PackedDesc);
  // Copied out whole (every byte translated, in pieces if the table crosses regions):
  // the entries are then read once, from the copy.
  indirect_copy_.resize(entries);
  if (!CopyFromGuest(*memory_, d.addr, indirect_copy_.data(), d.len)) {
    return DropReason::kBadIndirectTable;
  }
  for (uint32_t i = 0; i < entries; ++i) {
    const PackedDesc& e = indirect_copy_[i];
    // WRITE is the only flag that means anything in the table; INDIRECT there would be
    // a nested table, which neither layout allows.
    if ((e.flags & kDescFlagIndirect) != 0) return DropReason::kNestedIndirect;
    // Direction: a device-writable buffer must say WRITE in every entry. On the readable
    // side WRITE is ignored: DPDK's virtio PMD initialises its packed indirect tables
    // with WRITE in every entry and rewrites the flags of the segment entries only, so
    // the header entry of each multi-segment TX packet keeps it. Reading such an entry
    // touches nothing the guest did not share; the device never writes on this side.
    const bool writable = (e.flags & kDescFlagWrite) != 0;
    if (direction == Direction::kDeviceWritable && !writable) return DropReason::kWrongDirection;
    if (e.len > 0) {
      if (auto r = AddBuffer(e.addr, e.len, segments, chain)) return r;
    }
  }
  return std::nullopt;
}

std::optional<DropReason> PackedRing::ReadChain(uint16_t offset, Direction direction,
                                                SegmentList& segments, Chain& chain) {
  chain = Chain{};
  chain.first_segment = static_cast<uint32_t>(segments.size());
  if (!valid() || broken_) return DropReason::kDescNotAvailable;
  if (offset == 0) {
    peek_ = avail_;
    peeked_.clear();
    if (++peek_generation_ == 0) {
      std::fill(peek_mark_.begin(), peek_mark_.end(), 0);
      peek_generation_ = 1;
    }
  }
  const uint32_t size = layout_.size;
  const auto stop = [&](DropReason r) -> std::optional<DropReason> {
    broken_ = true;
    return r;
  };
  if (offset != peeked_.size()) return stop(DropReason::kDescNotAvailable);  // caller's bug

  // Find the chain's extent: consecutive descriptors, each available for the wrap
  // counter at its place, up to the first without NEXT, never more than the ring holds.
  chain_copy_.clear();
  PackedPosition p = peek_;
  for (;;) {
    if (chain_copy_.size() == size) return stop(DropReason::kChainTooLong);
    const PackedDesc d = ReadDesc(&layout_.desc[p.idx]);
    if (!PackedDescAvailable(d.flags, p.wrap)) return stop(DropReason::kDescNotAvailable);
    chain_copy_.push_back(d);
    p = PackedAdvance(p, 1, size);
    if ((d.flags & kDescFlagNext) == 0) break;
  }
  // 2.8 "Next Flag": the buffer ID is in the last descriptor of the list.
  const uint16_t id = chain_copy_.back().id;
  if (id >= size) return stop(DropReason::kBufferIdOutOfRange);
  if (held_descs_[id] != 0 || peek_mark_[id] == peek_generation_) {
    return stop(DropReason::kBufferIdInUse);
  }
  peek_mark_[id] = peek_generation_;
  peek_ = p;
  peeked_.push_back({id, static_cast<uint16_t>(chain_copy_.size())});
  chain.head = id;

  const auto fail = [&](DropReason r) -> std::optional<DropReason> {
    segments.Truncate(chain.first_segment);
    chain.num_segments = 0;
    chain.length = 0;
    return r;
  };
  const size_t n = chain_copy_.size();
  for (size_t i = 0; i < n; ++i) {
    const PackedDesc& d = chain_copy_[i];
    if ((d.flags & kDescFlagIndirect) != 0) {
      // 2.8 "Scatter-Gather Support": a list holds descriptors of one type, so an
      // indirect descriptor stands alone.
      if (n != 1) return fail(DropReason::kIndirectWithNext);
      if (auto r = AddIndirect(d, direction, segments, chain)) return fail(*r);
      continue;
    }
    const bool writable = (d.flags & kDescFlagWrite) != 0;
    if (writable != (direction == Direction::kDeviceWritable)) {
      return fail(DropReason::kWrongDirection);
    }
    if (d.len > 0) {
      if (auto r = AddBuffer(d.addr, d.len, segments, chain)) return fail(*r);
    }
  }
  return std::nullopt;
}

void PackedRing::Advance(uint16_t n) {
  n = static_cast<uint16_t>(std::min<size_t>(n, peeked_.size()));
  uint32_t descs = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (!peeked_[i].returned) {
      held_descs_[peeked_[i].id] = peeked_[i].descs;
      ++in_flight_count_;
      // Held across this burst (zero-copy): the next instance must know to return it.
      if (record_ != nullptr) record_->held[peeked_[i].id].store(peeked_[i].descs, std::memory_order_relaxed);
    }
    descs += peeked_[i].descs;
  }
  peeked_.erase(peeked_.begin(), peeked_.begin() + n);
  avail_ = PackedAdvance(avail_, descs, layout_.size);
  // The scan's count stays right only if it covered what was consumed.
  if (descs <= scan_descs_ && n <= scan_chains_) {
    scan_descs_ -= descs;
    scan_chains_ -= n;
  } else {
    scan_ = avail_;
    scan_descs_ = 0;
    scan_chains_ = 0;
  }
  // Descriptors held by the device are not in the driver's hands to make available
  // again: they stay in the scan's bound until they are used.
  if (options_.event_idx && options_.guest_notify && layout_.device_event != nullptr) {
    WriteDeviceEvent();
  }
}

void PackedRing::PutUsed(uint16_t id, uint32_t len) {
  if (id >= held_descs_.size()) return;
  if (held_descs_[id] != 0) {
    pending_.push_back({id, held_descs_[id], len});
    if (record_ != nullptr) {
      record_->held[id].store(static_cast<uint16_t>(held_descs_[id] | kPackedHeldPut), std::memory_order_relaxed);
    }
    held_descs_[id] = 0;
    --in_flight_count_;
    return;
  }
  if (peek_mark_[id] != peek_generation_) return;
  for (Peeked& p : peeked_) {
    if (p.id == id && !p.returned) {
      p.returned = true;
      pending_.push_back({id, p.descs, len});
      return;
    }
  }
}

bool PackedRing::PublishUsed() {
  if (pending_.empty() || layout_.desc == nullptr) {
    pending_.clear();
    // Chains consumed and all held (zero-copy): the avail place moved, nothing else.
    if (record_ != nullptr && avail_ != recorded_avail_) {
      Record(EncodeRecordedPosition(state(), last_used_, has_last_used_));
    }
    return false;
  }
  const uint32_t size = layout_.size;
  const PackedPosition old = used_;
  // The record says which batch is being written before any of it is (see
  // packed_ring_record.h): its end, and the place of its last used descriptor.
  PackedPosition last = used_;
  {
    PackedPosition q = used_;
    for (const PendingUsed& u : pending_) {
      last = q;
      q = PackedAdvance(q, u.descs, size);
    }
    if (record_ != nullptr) {
      record_->pending.store(EncodeRecordedPosition({avail_, q}, last, true), std::memory_order_release);
    }
  }
  // IDs and lengths first; then the flags of all but the first, then the first's with
  // release: the driver polls the first place, and seeing it used it sees the rest.
  PackedPosition p = used_;
  for (const PendingUsed& u : pending_) {
    PackedDesc* d = &layout_.desc[p.idx];
    __atomic_store_n(&d->id, u.id, __ATOMIC_RELAXED);
    __atomic_store_n(&d->len, u.len, __ATOMIC_RELAXED);
    p = PackedAdvance(p, u.descs, size);
  }
  std::atomic_thread_fence(std::memory_order_release);
  p = used_;
  uint16_t first_flags = 0;
  for (size_t i = 0; i < pending_.size(); ++i) {
    const uint16_t flags = PackedUsedFlags(p.wrap, pending_[i].len > 0);
    if (i == 0) {
      first_flags = flags;
    } else {
      __atomic_store_n(&layout_.desc[p.idx].flags, flags, __ATOMIC_RELAXED);
    }
    Log(layout_.desc_log_gpa + uint64_t{p.idx} * sizeof(PackedDesc), sizeof(PackedDesc));
    p = PackedAdvance(p, pending_[i].descs, size);
  }
  __atomic_store_n(&layout_.desc[old.idx].flags, first_flags, __ATOMIC_RELEASE);
  used_ = p;
  used_published_ = p;
  last_used_ = last;
  has_last_used_ = true;
  if (record_ != nullptr) {
    for (const PendingUsed& u : pending_) {
      if (record_->held[u.id].load(std::memory_order_relaxed) != 0) {
        record_->held[u.id].store(0, std::memory_order_relaxed);
      }
    }
    record_->committed.store(EncodeRecordedPosition(state(), last_used_, true), std::memory_order_release);
    recorded_avail_ = avail_;
  }
  pending_.clear();
  // The flag stores must be visible before the driver's suppression state is read, or a
  // driver re-enabling notifications concurrently could miss this batch.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  PackedEvent ev;
  ev.flags = __atomic_load_n(&layout_.driver_event->flags, __ATOMIC_RELAXED);
  ev.off_wrap = __atomic_load_n(&layout_.driver_event->off_wrap, __ATOMIC_RELAXED);
  return PackedNeedEvent(ev, options_.event_idx, old, used_, size);
}

}  // namespace vswitch::vhost
