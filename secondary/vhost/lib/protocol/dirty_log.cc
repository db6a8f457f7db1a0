#include "dirty_log.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "message.h"

namespace vswitch::vhost {

DirtyLog::~DirtyLog() { Reset(); }

void DirtyLog::Reset() {
  UnguardRange(guard_slot_);
  guard_slot_ = -1;
  if (map_base_ != nullptr) munmap(map_base_, map_len_);
  map_base_ = nullptr;
  map_len_ = 0;
  log_ = nullptr;
  size_ = 0;
}

void DirtyLog::Swap(DirtyLog& other) noexcept {
  std::swap(log_, other.log_);
  std::swap(size_, other.size_);
  std::swap(map_base_, other.map_base_);
  std::swap(map_len_, other.map_len_);
  std::swap(guard_slot_, other.guard_slot_);
}

void DirtyLog::Guard(const GuardOwner& who) {
  if (map_base_ == nullptr || guard_slot_ >= 0) return;
  guard_slot_ = GuardRange(map_base_, map_len_, PROT_READ | PROT_WRITE, who);
}

void DirtyLog::Attach(uint8_t* base, uint64_t size) {
  Reset();
  log_ = base;
  size_ = size;
}

ProtocolError DirtyLog::Map(int fd, uint64_t size, uint64_t offset) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (size == 0 || offset > kMax - size) return ProtocolError::kBadLogBase;
  struct stat st{};
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
      offset + size > static_cast<uint64_t>(st.st_size)) {
    return ProtocolError::kBadLogBase;
  }
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t map_offset = offset & ~(page - 1);
  const uint64_t delta = offset - map_offset;
  if (size > kMax - delta - page) return ProtocolError::kBadLogBase;
  const uint64_t map_len = (delta + size + page - 1) & ~(page - 1);
  if (map_len > std::numeric_limits<size_t>::max()) return ProtocolError::kBadLogBase;
  void* base = mmap(nullptr, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                    static_cast<off_t>(map_offset));
  if (base == MAP_FAILED) return ProtocolError::kMmapFailed;
  Reset();
  map_base_ = base;
  map_len_ = map_len;
  log_ = static_cast<uint8_t*>(base) + delta;
  size_ = size;
  return ProtocolError::kNone;
}

void DirtyLog::Mark(uint64_t gpa, uint64_t len) {
  if (log_ == nullptr || len == 0) return;
  const uint64_t first = gpa / kLogPageSize;
  const uint64_t last_addr =
      gpa > std::numeric_limits<uint64_t>::max() - (len - 1) ? std::numeric_limits<uint64_t>::max()
                                                             : gpa + (len - 1);
  const uint64_t last = last_addr / kLogPageSize;
  for (uint64_t page = first; page <= last; ++page) {
    const uint64_t byte = page / 8;
    if (byte >= size_) return;
    __atomic_fetch_or(&log_[byte], static_cast<uint8_t>(1u << (page % 8)), __ATOMIC_RELAXED);
  }
}

bool DirtyLog::IsMarked(uint64_t gpa) const {
  const uint64_t page = gpa / kLogPageSize;
  if (log_ == nullptr || page / 8 >= size_) return false;
  return (__atomic_load_n(&log_[page / 8], __ATOMIC_RELAXED) & (1u << (page % 8))) != 0;
}

}  // namespace vswitch::vhost
