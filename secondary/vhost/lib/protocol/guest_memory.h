// Guest memory as the back-end sees it: regions of the front-end's memory, each known by
// its guest-physical address, its front-end user address and (here) a host pointer.
// Translation is always of a range: it returns the host pointer and how many bytes from
// there are contiguous on the host, so a buffer that spans two regions is walked in
// pieces and never read past the end of one mapping (CVE-2018-1059).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "guest_mapping.h"
#include "message.h"
#include "protocol_error.h"

namespace vswitch::vhost {

struct HostRange {
  uint8_t* ptr = nullptr;  // nullptr: the start address is not mapped
  uint64_t len = 0;        // contiguous bytes from ptr, 1..requested (0 when unmapped)
};

// The interface the virtqueue engine depends on; tests implement it over heap memory.
class GuestMemory {
 public:
  virtual ~GuestMemory() = default;
  // Guest-physical address (descriptor addresses; an IOVA would need an IOTLB, not
  // offered). `len` == 0 is treated as 1.
  [[nodiscard]] virtual HostRange Translate(uint64_t gpa, uint64_t len) const = 0;
  // Front-end user address (SET_VRING_ADDR ring addresses, vhost-user.rst "Memory access").
  [[nodiscard]] virtual HostRange TranslateUserAddr(uint64_t uva, uint64_t len) const = 0;
};

// Host pointer for [gpa, gpa+len) only when all of it is contiguous, else nullptr.
[[nodiscard]] uint8_t* TranslateContiguous(const GuestMemory& mem, uint64_t gpa, uint64_t len);
[[nodiscard]] uint8_t* TranslateUserContiguous(const GuestMemory& mem, uint64_t uva, uint64_t len);
// Copies [gpa, gpa+len) out of guest memory piece by piece; false if any byte is unmapped.
[[nodiscard]] bool CopyFromGuest(const GuestMemory& mem, uint64_t gpa, void* dst, uint64_t len);

// Maximum regions per device: GET_MAX_MEM_SLOTS (CONFIGURE_MEM_SLOTS) answers this.
inline constexpr uint32_t kMaxMemSlots = 64;

// A set of non-overlapping regions. Regions added with Map() are mmap'ed from the
// front-end's fd and unmapped on removal or destruction; regions added with AddHost()
// point at memory someone else owns (tests, fuzzers).
class GuestMemoryTable final : public GuestMemory {
 public:
  GuestMemoryTable() = default;
  ~GuestMemoryTable() override;
  GuestMemoryTable(const GuestMemoryTable&) = delete;
  GuestMemoryTable& operator=(const GuestMemoryTable&) = delete;
  GuestMemoryTable(GuestMemoryTable&& other) noexcept;
  GuestMemoryTable& operator=(GuestMemoryTable&& other) noexcept;

  // Validates `region` (non-zero size, no arithmetic overflow, no overlap with existing
  // regions, slot limit), maps `fd` at region.mmap_offset (the file must be at least
  // mmap_offset + memory_size long, so no access can fault past its end) and adds it.
  // Does not take ownership of `fd` (with a sharer, the mapping keeps a duplicate of it
  // for the other process to open).
  [[nodiscard]] ProtocolError Map(const MemoryRegion& region, int fd);
  // Adds a region backed by `host` (memory_size bytes, not owned).
  [[nodiscard]] ProtocolError AddHost(const MemoryRegion& region, uint8_t* host);
  // Removes the region with this guest address, user address and size (REM_MEM_REG
  // ignores mmap_offset). Returns false when there is none.
  [[nodiscard]] bool Remove(const MemoryRegion& region);
  void Clear();
  // Mappings made from now on are published through `sharer` (which must outlive them)
  // and given back to it when their last user lets go.
  void set_sharer(MappingSharer* sharer) { sharer_ = sharer; }
  [[nodiscard]] MappingSharer* sharer() const { return sharer_; }
  // Mappings made from now on are guarded against SIGBUS (guest_fault_guard.h) on
  // behalf of `owner`, whose notify fd hears of a fault (`detail` is set per region to
  // its guest address). Without it (notify_fd -1 and owner 0) they are not guarded.
  void set_fault_owner(const GuardOwner& owner) { fault_owner_ = owner; }
  [[nodiscard]] const GuardOwner& fault_owner() const { return fault_owner_; }

  [[nodiscard]] size_t size() const { return regions_.size(); }
  [[nodiscard]] const MemoryRegion& region(size_t i) const { return regions_[i].desc; }
  [[nodiscard]] uint8_t* host(size_t i) const { return regions_[i].host; }
  // Device and inode of the file region i was mapped from (0, 0 for AddHost regions):
  // which front-end memory a ring lies in (packed_ring_record.h).
  [[nodiscard]] uint64_t file_dev(size_t i) const { return regions_[i].file_dev; }
  [[nodiscard]] uint64_t file_ino(size_t i) const { return regions_[i].file_ino; }

  [[nodiscard]] HostRange Translate(uint64_t gpa, uint64_t len) const override;
  [[nodiscard]] HostRange TranslateUserAddr(uint64_t uva, uint64_t len) const override;

  // A reference that keeps the mapping of the region holding `gpa` alive after the
  // region leaves the table (dequeue zero-copy: a region is unmapped only after its last
  // in-flight buffer is freed); the caller copies it to hold it (no reference count
  // change until then). nullptr for unmapped addresses; empty for AddHost regions.
  // Valid until the table changes.
  [[nodiscard]] const std::shared_ptr<GuestMapping>* MappingAt(uint64_t gpa) const {
    uint64_t base, size;
    return MappingAt(gpa, base, size);
  }
  // The same, with the region's guest range, for callers that cache the lookup.
  [[nodiscard]] const std::shared_ptr<GuestMapping>* MappingAt(uint64_t gpa, uint64_t& base,
                                                               uint64_t& size) const {
    for (const auto& r : regions_) {
      if (gpa >= r.desc.guest_phys_addr && gpa - r.desc.guest_phys_addr < r.desc.memory_size) {
        base = r.desc.guest_phys_addr;
        size = r.desc.memory_size;
        return &r.keep;
      }
    }
    return nullptr;
  }

  // The region holding guest-physical `gpa`, for callers that cache it (the hot path
  // keeps the last region per ring and translates without a virtual call). False when
  // unmapped.
  [[nodiscard]] bool FindRegion(uint64_t gpa, uint64_t& base, uint64_t& size, uint8_t*& host) const {
    for (const auto& r : regions_) {
      if (gpa >= r.desc.guest_phys_addr && gpa - r.desc.guest_phys_addr < r.desc.memory_size) {
        base = r.desc.guest_phys_addr;
        size = r.desc.memory_size;
        host = r.host;
        return true;
      }
    }
    return false;
  }

 private:
  struct Region {
    MemoryRegion desc{};
    uint8_t* host = nullptr;
    void* map_base = nullptr;  // non-null when this table mmap'ed it
    size_t map_len = 0;
    uint64_t file_dev = 0;  // the front-end's file (fstat), 0 for AddHost regions
    uint64_t file_ino = 0;
    std::shared_ptr<GuestMapping> keep;  // owns the mmap: munmap when the last reference goes
  };
  [[nodiscard]] ProtocolError CheckNew(const MemoryRegion& region) const;
  static void Unmap(Region& r);

  std::vector<Region> regions_;
  MappingSharer* sharer_ = nullptr;
  GuardOwner fault_owner_;
};

}  // namespace vswitch::vhost
