#include "mock_packed_queue.h"

#include <atomic>
#include <cstring>
#include <stdexcept>

namespace vswitch::vhost::test {

MockPackedQueue::MockPackedQueue(HeapGuestMemory& memory, uint16_t size, uint64_t ring_gpa,
                                 uint64_t data_gpa, uint64_t data_size)
    : memory_(memory), size_(size), ring_gpa_(ring_gpa), data_next_(data_gpa),
      data_end_(data_gpa + data_size) {
  (void)memory_.Host(ring_gpa_, PackedDescRingBytes(size) + 2 * kPackedEventBytes);
}

PackedEvent* MockPackedQueue::DriverEventPtr() const {
  return reinterpret_cast<PackedEvent*>(
      memory_.Host(ring_gpa_ + PackedDescRingBytes(size_), kPackedEventBytes));
}

PackedEvent* MockPackedQueue::DeviceEventPtr() const {
  return reinterpret_cast<PackedEvent*>(
      memory_.Host(ring_gpa_ + PackedDescRingBytes(size_) + kPackedEventBytes, kPackedEventBytes));
}

PackedRingLayout MockPackedQueue::Layout() const {
  PackedRingLayout l;
  l.desc = reinterpret_cast<PackedDesc*>(memory_.Host(ring_gpa_, PackedDescRingBytes(size_)));
  l.driver_event = DriverEventPtr();
  l.device_event = DeviceEventPtr();
  l.size = size_;
  l.desc_log_gpa = ring_gpa_;
  l.device_event_log_gpa = ring_gpa_ + PackedDescRingBytes(size_) + kPackedEventBytes;
  return l;
}

uint64_t MockPackedQueue::Alloc(uint32_t len) {
  const uint64_t at = data_next_;
  data_next_ = (data_next_ + len + 15) & ~15ull;
  if (data_next_ > data_end_) throw std::runtime_error("MockPackedQueue: data area full");
  return at;
}

uint16_t MockPackedQueue::AvailFlags(PackedPosition p, uint16_t other_flags) {
  return static_cast<uint16_t>(other_flags | (p.wrap ? kPackedDescFlagAvail : kPackedDescFlagUsed));
}

void MockPackedQueue::SetDesc(uint16_t i, uint64_t addr, uint32_t len, uint16_t id,
                              uint16_t flags) {
  auto* d = reinterpret_cast<PackedDesc*>(memory_.Host(ring_gpa_ + 16ull * i, 16));
  d->addr = addr;
  d->len = len;
  d->id = id;
  __atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
}

PackedDesc MockPackedQueue::GetDesc(uint16_t i) const {
  PackedDesc d;
  std::memcpy(&d, memory_.Host(ring_gpa_ + 16ull * i, 16), sizeof(d));
  return d;
}

uint16_t MockPackedQueue::TakeId() {
  for (uint32_t tries = 0; tries < size_; ++tries) {
    const uint16_t id = next_id_;
    next_id_ = static_cast<uint16_t>((next_id_ + 1) % size_);
    if (outstanding_.count(id) == 0) return id;
  }
  throw std::runtime_error("MockPackedQueue: no free buffer ID");
}

uint16_t MockPackedQueue::AddChain(std::span<const BufferSpec> buffers,
                                   std::optional<uint16_t> id_in) {
  const uint16_t id = id_in ? *id_in : TakeId();
  Buffer buf;
  buf.descs = static_cast<uint16_t>(buffers.size());
  const PackedPosition head = avail_;
  uint16_t head_flags = 0;
  for (size_t i = 0; i < buffers.size(); ++i) {
    const bool last = i + 1 == buffers.size();
    const uint64_t addr = buffers[i].gpa != 0 ? buffers[i].gpa : Alloc(buffers[i].len);
    if (buffers[i].writable) buf.writable.push_back({addr, buffers[i].len});
    const uint16_t flags = AvailFlags(
        avail_, static_cast<uint16_t>((last ? 0 : kDescFlagNext) |
                                      (buffers[i].writable ? kDescFlagWrite : 0)));
    if (i == 0) {
      // 2.8 "Next Flag": the first descriptor is made available after the rest.
      auto* d = reinterpret_cast<PackedDesc*>(memory_.Host(ring_gpa_ + 16ull * avail_.idx, 16));
      d->addr = addr;
      d->len = buffers[i].len;
      d->id = last ? id : 0;
      head_flags = flags;
    } else {
      SetDesc(avail_.idx, addr, buffers[i].len, last ? id : 0, flags);
    }
    avail_ = PackedAdvance(avail_, 1, size_);
  }
  auto* first = reinterpret_cast<PackedDesc*>(memory_.Host(ring_gpa_ + 16ull * head.idx, 16));
  __atomic_store_n(&first->flags, head_flags, __ATOMIC_RELEASE);
  outstanding_[id] = std::move(buf);
  return id;
}

uint16_t MockPackedQueue::AddIndirectChain(std::span<const BufferSpec> buffers) {
  const uint64_t table = Alloc(static_cast<uint32_t>(16 * buffers.size()));
  Buffer buf;
  buf.descs = 1;
  for (size_t i = 0; i < buffers.size(); ++i) {
    const uint64_t addr = buffers[i].gpa != 0 ? buffers[i].gpa : Alloc(buffers[i].len);
    if (buffers[i].writable) buf.writable.push_back({addr, buffers[i].len});
    PackedDesc d{addr, buffers[i].len, 0,
                 static_cast<uint16_t>(buffers[i].writable ? kDescFlagWrite : 0)};
    std::memcpy(memory_.Host(table + 16 * i, 16), &d, 16);
  }
  const uint16_t id = TakeId();
  SetDesc(avail_.idx, table, static_cast<uint32_t>(16 * buffers.size()), id,
          AvailFlags(avail_, kDescFlagIndirect));
  avail_ = PackedAdvance(avail_, 1, size_);
  outstanding_[id] = std::move(buf);
  return id;
}

uint16_t MockPackedQueue::AddReadableBytes(std::span<const uint8_t> bytes,
                                           std::span<const uint32_t> split) {
  std::vector<BufferSpec> specs;
  size_t done = 0;
  for (uint32_t piece : split) {
    if (done + piece >= bytes.size()) break;
    specs.push_back({piece, false, Alloc(piece)});
    done += piece;
  }
  const auto rest = static_cast<uint32_t>(bytes.size() - done);
  specs.push_back({rest, false, Alloc(rest)});
  size_t off = 0;
  for (const auto& s : specs) {
    memory_.Write(s.gpa, bytes.subspan(off, s.len));
    off += s.len;
  }
  return AddChain(specs);
}

std::optional<MockPackedQueue::UsedElem> MockPackedQueue::PollUsed() {
  auto* d = reinterpret_cast<PackedDesc*>(memory_.Host(ring_gpa_ + 16ull * used_.idx, 16));
  const uint16_t flags = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE);
  const bool avail = (flags & kPackedDescFlagAvail) != 0;
  const bool used = (flags & kPackedDescFlagUsed) != 0;
  if (avail != used || used != used_.wrap) return std::nullopt;
  UsedElem e{d->id, d->len, (flags & kDescFlagWrite) != 0};
  auto it = outstanding_.find(e.id);
  if (it == outstanding_.end()) throw std::runtime_error("MockPackedQueue: used an ID not handed out");
  used_ = PackedAdvance(used_, it->second.descs, size_);
  last_used_writable_[e.id] = it->second.writable;
  outstanding_.erase(it);
  return e;
}

std::vector<uint8_t> MockPackedQueue::ReadWritten(uint16_t id, uint32_t len) const {
  std::vector<uint8_t> out;
  auto it = last_used_writable_.find(id);
  if (it == last_used_writable_.end()) return out;
  for (const auto& [gpa, blen] : it->second) {
    if (out.size() >= len) break;
    const auto bytes = memory_.Read(gpa, std::min<uint32_t>(blen, len - static_cast<uint32_t>(out.size())));
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  return out;
}

void MockPackedQueue::SetDriverEvent(uint16_t flags, uint16_t off_wrap) {
  PackedEvent* e = DriverEventPtr();
  e->off_wrap = off_wrap;
  __atomic_store_n(&e->flags, flags, __ATOMIC_RELEASE);
}

PackedEvent MockPackedQueue::DeviceEvent() const {
  PackedEvent e;
  std::memcpy(&e, DeviceEventPtr(), sizeof(e));
  return e;
}

}  // namespace vswitch::vhost::test
