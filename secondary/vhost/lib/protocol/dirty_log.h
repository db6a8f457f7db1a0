// The live-migration dirty log (vhost-user.rst "Migration"): one bit per 4 KiB page of
// guest-physical memory, set atomically when the back-end writes guest memory while
// VHOST_F_LOG_ALL is negotiated. Marks past the end of the log are dropped, never
// written (CVE-2019-14835).
#pragma once

#include <cstddef>
#include <cstdint>

#include "guest_fault_guard.h"
#include "protocol_error.h"

namespace vswitch::vhost {

// GuardOwner::detail of a dirty log's mapping (guest memory regions carry their guest
// address there).
inline constexpr uint64_t kDirtyLogFaultDetail = ~0ull;

class DirtyLog {
 public:
  DirtyLog() = default;
  ~DirtyLog();
  DirtyLog(const DirtyLog&) = delete;
  DirtyLog& operator=(const DirtyLog&) = delete;

  // SET_LOG_BASE: maps `size` bytes of `fd` from `offset`; size + offset must not
  // overflow (CVE-2020-10722) and must lie inside the file. Does not take `fd`.
  [[nodiscard]] ProtocolError Map(int fd, uint64_t size, uint64_t offset);
  // Uses caller-owned memory (tests).
  void Attach(uint8_t* base, uint64_t size);
  void Reset();
  void Swap(DirtyLog& other) noexcept;
  // Guards the mapping Map made against SIGBUS for `who` (guest_fault_guard.h): the
  // front-end may shrink the log's file as it may its memory.
  void Guard(const GuardOwner& who);

  [[nodiscard]] bool mapped() const { return log_ != nullptr; }
  [[nodiscard]] uint64_t size() const { return size_; }

  // Marks every page touched by [gpa, gpa + len).
  void Mark(uint64_t gpa, uint64_t len);
  [[nodiscard]] bool IsMarked(uint64_t gpa) const;

 private:
  uint8_t* log_ = nullptr;
  uint64_t size_ = 0;
  void* map_base_ = nullptr;
  size_t map_len_ = 0;
  int guard_slot_ = -1;
};

}  // namespace vswitch::vhost
