#include "mock_split_queue.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <stdexcept>

namespace vswitch::vhost::test {

HeapGuestMemory::~HeapGuestMemory() {
  table_.Clear();
  for (const auto& m : mappings_) munmap(m.base, m.len);
}

uint8_t* HeapGuestMemory::AddRegion(uint64_t gpa, uint64_t size) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t body = (size + page - 1) / page * page;
  const size_t len = body + 2 * page;
  void* base = mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) throw std::runtime_error("HeapGuestMemory: mmap");
  uint8_t* host = static_cast<uint8_t*>(base) + page;
  if (mprotect(host, body, PROT_READ | PROT_WRITE) != 0) {
    munmap(base, len);
    throw std::runtime_error("HeapGuestMemory: mprotect");
  }
  MemoryRegion r{gpa, size, gpa + kUserOffset, 0};
  if (table_.AddHost(r, host) != ProtocolError::kNone) {
    munmap(base, len);
    throw std::runtime_error("HeapGuestMemory: bad region");
  }
  mappings_.push_back({base, len});
  return host;
}

uint8_t* HeapGuestMemory::Host(uint64_t gpa, uint64_t len) const {
  uint8_t* p = TranslateContiguous(table_, gpa, len);
  if (p == nullptr) throw std::runtime_error("HeapGuestMemory: unmapped");
  return p;
}

void HeapGuestMemory::Write(uint64_t gpa, std::span<const uint8_t> bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) *Host(gpa + i) = bytes[i];
}

std::vector<uint8_t> HeapGuestMemory::Read(uint64_t gpa, uint64_t len) const {
  std::vector<uint8_t> out(len);
  if (!CopyFromGuest(table_, gpa, out.data(), len)) throw std::runtime_error("Read: unmapped");
  return out;
}

MockSplitQueue::MockSplitQueue(HeapGuestMemory& memory, uint16_t size, uint64_t ring_gpa,
                               uint64_t data_gpa, uint64_t data_size)
    : memory_(memory), size_(size), ring_gpa_(ring_gpa), data_next_(data_gpa),
      data_end_(data_gpa + data_size) {
  avail_gpa_ = ring_gpa_ + DescTableBytes(size);
  // The used ring is 4-byte aligned (2.6); keep it on its own 64-byte line.
  used_gpa_ = (avail_gpa_ + AvailRingBytes(size) + 63) & ~63ull;
  (void)memory_.Host(ring_gpa_, used_gpa_ + UsedRingBytes(size) - ring_gpa_);
}

RingLayout MockSplitQueue::Layout() const {
  RingLayout l;
  l.desc = reinterpret_cast<VirtqDesc*>(memory_.Host(ring_gpa_, DescTableBytes(size_)));
  l.avail = reinterpret_cast<VirtqAvail*>(memory_.Host(avail_gpa_, AvailRingBytes(size_)));
  l.used = reinterpret_cast<VirtqUsed*>(memory_.Host(used_gpa_, UsedRingBytes(size_)));
  l.size = size_;
  l.used_log_gpa = used_gpa_;
  return l;
}

uint64_t MockSplitQueue::Alloc(uint32_t len) {
  const uint64_t at = data_next_;
  data_next_ = (data_next_ + len + 15) & ~15ull;
  if (data_next_ > data_end_) throw std::runtime_error("MockSplitQueue: data area full");
  return at;
}

void MockSplitQueue::SetDesc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                             uint16_t next) {
  VirtqDesc d{addr, len, flags, next};
  std::memcpy(memory_.Host(ring_gpa_ + 16ull * i, 16), &d, sizeof(d));
}

VirtqDesc MockSplitQueue::GetDesc(uint16_t i) const {
  VirtqDesc d;
  std::memcpy(&d, memory_.Host(ring_gpa_ + 16ull * i, 16), sizeof(d));
  return d;
}

uint16_t MockSplitQueue::AddChain(std::span<const BufferSpec> buffers) {
  const uint16_t head = next_desc_;
  for (size_t i = 0; i < buffers.size(); ++i) {
    const uint16_t idx = next_desc_;
    next_desc_ = static_cast<uint16_t>((next_desc_ + 1) % size_);
    const bool last = i + 1 == buffers.size();
    const uint64_t addr = buffers[i].gpa != 0 ? buffers[i].gpa : Alloc(buffers[i].len);
    const uint16_t flags = static_cast<uint16_t>((last ? 0 : kDescFlagNext) |
                                                 (buffers[i].writable ? kDescFlagWrite : 0));
    SetDesc(idx, addr, buffers[i].len, flags, last ? 0 : next_desc_);
  }
  return head;
}

uint16_t MockSplitQueue::AddIndirectChain(std::span<const BufferSpec> buffers) {
  const uint64_t table = Alloc(static_cast<uint32_t>(16 * buffers.size()));
  for (size_t i = 0; i < buffers.size(); ++i) {
    const bool last = i + 1 == buffers.size();
    const uint64_t addr = buffers[i].gpa != 0 ? buffers[i].gpa : Alloc(buffers[i].len);
    VirtqDesc d{addr, buffers[i].len,
                static_cast<uint16_t>((last ? 0 : kDescFlagNext) |
                                      (buffers[i].writable ? kDescFlagWrite : 0)),
                static_cast<uint16_t>(last ? 0 : i + 1)};
    std::memcpy(memory_.Host(table + 16 * i, 16), &d, 16);
  }
  const uint16_t head = next_desc_;
  next_desc_ = static_cast<uint16_t>((next_desc_ + 1) % size_);
  SetDesc(head, table, static_cast<uint32_t>(16 * buffers.size()), kDescFlagIndirect, 0);
  return head;
}

uint16_t MockSplitQueue::AddReadableBytes(std::span<const uint8_t> bytes,
                                          std::span<const uint32_t> split) {
  std::vector<BufferSpec> specs;
  size_t done = 0;
  for (uint32_t piece : split) {
    if (done + piece >= bytes.size()) break;
    specs.push_back({piece, false});
    done += piece;
  }
  specs.push_back({static_cast<uint32_t>(bytes.size() - done), false});
  const uint16_t head = AddChain(specs);
  // Fill the buffers the chain points at.
  uint16_t idx = head;
  size_t off = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const VirtqDesc d = GetDesc(idx);
    memory_.Write(d.addr, bytes.subspan(off, d.len));
    off += d.len;
    idx = d.next;
  }
  return head;
}

void MockSplitQueue::Publish(uint16_t head) {
  auto* avail = reinterpret_cast<VirtqAvail*>(memory_.Host(avail_gpa_, AvailRingBytes(size_)));
  const uint16_t idx = avail->idx;
  avail->ring[idx % size_] = head;
  std::atomic_thread_fence(std::memory_order_release);
  __atomic_store_n(&avail->idx, static_cast<uint16_t>(idx + 1), __ATOMIC_RELEASE);
}

void MockSplitQueue::SetAvailEntry(uint16_t slot, uint16_t value) {
  auto* avail = reinterpret_cast<VirtqAvail*>(memory_.Host(avail_gpa_, AvailRingBytes(size_)));
  avail->ring[slot % size_] = value;
}

void MockSplitQueue::SetAvailIdx(uint16_t idx) {
  auto* avail = reinterpret_cast<VirtqAvail*>(memory_.Host(avail_gpa_, AvailRingBytes(size_)));
  __atomic_store_n(&avail->idx, idx, __ATOMIC_RELEASE);
}

uint16_t MockSplitQueue::avail_idx() const {
  return reinterpret_cast<VirtqAvail*>(memory_.Host(avail_gpa_, 4))->idx;
}

void MockSplitQueue::SetAvailFlags(uint16_t flags) {
  reinterpret_cast<VirtqAvail*>(memory_.Host(avail_gpa_, 4))->flags = flags;
}

void MockSplitQueue::SetUsedEvent(uint16_t value) {
  auto* avail = reinterpret_cast<VirtqAvail*>(memory_.Host(avail_gpa_, AvailRingBytes(size_)));
  avail->ring[size_] = value;
}

uint16_t MockSplitQueue::UsedIdx() const {
  auto* used = reinterpret_cast<VirtqUsed*>(memory_.Host(used_gpa_, 4));
  return __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE);
}

uint16_t MockSplitQueue::UsedFlags() const {
  return reinterpret_cast<VirtqUsed*>(memory_.Host(used_gpa_, 4))->flags;
}

VirtqUsedElem MockSplitQueue::Used(uint16_t i) const {
  auto* used = reinterpret_cast<VirtqUsed*>(memory_.Host(used_gpa_, UsedRingBytes(size_)));
  return used->ring[i % size_];
}

std::vector<uint8_t> MockSplitQueue::ReadWritten(uint16_t head, uint32_t len) const {
  std::vector<uint8_t> out;
  uint16_t idx = head;
  for (uint32_t steps = 0; steps < size_ && out.size() < len; ++steps) {
    const VirtqDesc d = GetDesc(idx);
    if ((d.flags & kDescFlagIndirect) != 0) {
      for (uint32_t i = 0; i < d.len / 16 && out.size() < len; ++i) {
        VirtqDesc e;
        std::memcpy(&e, memory_.Host(d.addr + 16 * i, 16), 16);
        const auto bytes = memory_.Read(e.addr, std::min<uint32_t>(e.len, len - out.size()));
        out.insert(out.end(), bytes.begin(), bytes.end());
      }
      break;
    }
    const auto bytes = memory_.Read(d.addr, std::min<uint32_t>(d.len, len - out.size()));
    out.insert(out.end(), bytes.begin(), bytes.end());
    if ((d.flags & kDescFlagNext) == 0) break;
    idx = d.next;
  }
  return out;
}

VectorPacketSource::VectorPacketSource(std::vector<uint8_t> bytes, VirtioNetHdr hdr,
                                       uint32_t piece)
    : bytes_(std::move(bytes)), hdr_(hdr), piece_(piece) {}

bool VectorPacketSource::NextPiece(const uint8_t*& data, uint32_t& len) {
  if (pos_ >= bytes_.size()) return false;
  const size_t rest = bytes_.size() - pos_;
  const size_t n = piece_ == 0 ? rest : std::min<size_t>(piece_, rest);
  data = bytes_.data() + pos_;
  len = static_cast<uint32_t>(n);
  pos_ += n;
  return true;
}

bool VectorPacketSink::Begin(uint32_t length) {
  if (packets.size() >= capacity) return false;
  current_ = Packet{};
  current_.bytes.reserve(length);
  expected_ = length;
  return true;
}

void VectorPacketSink::Append(const uint8_t* data, uint32_t len) {
  current_.bytes.insert(current_.bytes.end(), data, data + len);
}

bool VectorPacketSink::Finish(const VirtioNetHdr& header) {
  if (reject || current_.bytes.size() != expected_) return false;
  current_.hdr = header;
  packets.push_back(std::move(current_));
  return true;
}

}  // namespace vswitch::vhost::test
