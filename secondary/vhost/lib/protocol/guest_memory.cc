#include "guest_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <utility>

namespace vswitch::vhost {
namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

// [start, start + size) as an inclusive last address; false when size is 0 or the end
// wraps past 2^64.
bool LastAddress(uint64_t start, uint64_t size, uint64_t& last) {
  if (size == 0 || start > kU64Max - (size - 1)) return false;
  last = start + (size - 1);
  return true;
}

bool Overlaps(uint64_t a, uint64_t a_last, uint64_t b, uint64_t b_last) {
  return a <= b_last && b <= a_last;
}

HostRange Lookup(uint64_t addr, uint64_t len, uint64_t base, uint64_t size, uint8_t* host) {
  if (addr < base || addr - base >= size) return {};
  const uint64_t offset = addr - base;
  const uint64_t rest = size - offset;
  return {host + offset, std::min(std::max<uint64_t>(len, 1), rest)};
}

}  // namespace

uint8_t* TranslateContiguous(const GuestMemory& mem, uint64_t gpa, uint64_t len) {
  const HostRange r = mem.Translate(gpa, len);
  return (r.ptr != nullptr && r.len >= std::max<uint64_t>(len, 1)) ? r.ptr : nullptr;
}

uint8_t* TranslateUserContiguous(const GuestMemory& mem, uint64_t uva, uint64_t len) {
  const HostRange r = mem.TranslateUserAddr(uva, len);
  return (r.ptr != nullptr && r.len >= std::max<uint64_t>(len, 1)) ? r.ptr : nullptr;
}

bool CopyFromGuest(const GuestMemory& mem, uint64_t gpa, void* dst, uint64_t len) {
  auto* out = static_cast<uint8_t*>(dst);
  while (len > 0) {
    const HostRange r = mem.Translate(gpa, len);
    if (r.ptr == nullptr) return false;
    std::memcpy(out, r.ptr, r.len);
    out += r.len;
    len -= r.len;
    if (len > 0 && gpa > kU64Max - r.len) return false;
    gpa += r.len;
  }
  return true;
}

GuestMapping::~GuestMapping() {
  UnguardRange(guard_slot);
  munmap(base, len);
}

void* NextMappingHint(size_t len, size_t align) {
  // 16 TiB and up: above DPDK's memseg reservations (from 4 GiB), below the top-down mmap
  // area and the stack (near 128 TiB). 256 GiB per pid slot (256 slots), walked in order
  // and wrapped: an address comes round again only after many mappings, by when the
  // mapping that had it was retired (and switching unmapped it first, the rule of
  // shared/mapping_share.h). A hint the kernel cannot honour is ignored (no MAP_FIXED).
  constexpr uint64_t kBase = 0x100000000000ull;
  constexpr uint64_t kWindow = 1ull << 38;
  static std::atomic<uint64_t> next{0};
  const uint64_t a = std::max<uint64_t>(align, 1ull << 21);
  if ((a & (a - 1)) != 0 || len == 0 || len > kWindow / 4) return nullptr;
  const uint64_t span = (static_cast<uint64_t>(len) + a - 1) & ~(a - 1);
  uint64_t at = 0;
  uint64_t cur = next.load();
  do {
    at = (cur + a - 1) & ~(a - 1);
    if (at + span > kWindow) at = 0;
  } while (!next.compare_exchange_weak(cur, at + span));
  const uint64_t window = static_cast<uint64_t>(getpid() & 0xff) * kWindow;
  return reinterpret_cast<void*>(kBase + window + at);
}

GuestMemoryTable::~GuestMemoryTable() { Clear(); }

GuestMemoryTable::GuestMemoryTable(GuestMemoryTable&& other) noexcept
    : regions_(std::exchange(other.regions_, {})), sharer_(other.sharer_), fault_owner_(other.fault_owner_) {}

GuestMemoryTable& GuestMemoryTable::operator=(GuestMemoryTable&& other) noexcept {
  if (this != &other) {
    Clear();
    regions_ = std::exchange(other.regions_, {});
    sharer_ = other.sharer_;
    fault_owner_ = other.fault_owner_;
  }
  return *this;
}

void GuestMemoryTable::Unmap(Region& r) {
  r.keep.reset();  // munmap now, or when the last zero-copy buffer in it is freed
  r.map_base = nullptr;
  r.host = nullptr;
}

void GuestMemoryTable::Clear() {
  for (auto& r : regions_) Unmap(r);
  regions_.clear();
}

ProtocolError GuestMemoryTable::CheckNew(const MemoryRegion& region) const {
  uint64_t gpa_last, uva_last, off_last;
  if (!LastAddress(region.guest_phys_addr, region.memory_size, gpa_last) ||
      !LastAddress(region.userspace_addr, region.memory_size, uva_last) ||
      !LastAddress(region.mmap_offset, region.memory_size, off_last)) {
    return ProtocolError::kBadMemoryTable;
  }
  if (regions_.size() >= kMaxMemSlots) return ProtocolError::kTooManyRegions;
  for (const auto& r : regions_) {
    const uint64_t r_size = r.desc.memory_size;
    if (Overlaps(region.guest_phys_addr, gpa_last, r.desc.guest_phys_addr,
                 r.desc.guest_phys_addr + (r_size - 1)) ||
        Overlaps(region.userspace_addr, uva_last, r.desc.userspace_addr,
                 r.desc.userspace_addr + (r_size - 1))) {
      return ProtocolError::kRegionOverlap;
    }
  }
  return ProtocolError::kNone;
}

ProtocolError GuestMemoryTable::Map(const MemoryRegion& region, int fd) {
  if (const ProtocolError e = CheckNew(region); e != ProtocolError::kNone) return e;
  struct stat st{};
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return ProtocolError::kBadMemoryTable;
  // Touching a shared mapping past the end of its file raises SIGBUS: the region must
  // lie inside the file (memfd, hugetlbfs and tmpfs files all report their size).
  if (st.st_size < 0 || region.mmap_offset > static_cast<uint64_t>(st.st_size) ||
      region.memory_size > static_cast<uint64_t>(st.st_size) - region.mmap_offset) {
    return ProtocolError::kBadMemoryTable;
  }
  // hugetlbfs reports its page size as st_blksize; the offset and length of the mapping
  // must be multiples of it.
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t align = std::max<uint64_t>(page, static_cast<uint64_t>(st.st_blksize));
  if ((align & (align - 1)) != 0) return ProtocolError::kBadMemoryTable;
  const uint64_t map_offset = region.mmap_offset & ~(align - 1);
  const uint64_t delta = region.mmap_offset - map_offset;
  if (region.memory_size > kU64Max - delta - align) return ProtocolError::kBadMemoryTable;
  const uint64_t map_len = (delta + region.memory_size + align - 1) & ~(align - 1);
  if (map_len == 0 || map_len > std::numeric_limits<size_t>::max()) {
    return ProtocolError::kBadMemoryTable;
  }
  // A published mapping keeps its own fd, which the other process opens through
  // /proc/<our pid>/fd/<n> to map the same file.
  UniqueFd keep_fd;
  if (sharer_ != nullptr) {
    keep_fd.Reset(fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!keep_fd) return ProtocolError::kMmapFailed;
  }
  void* hint = sharer_ != nullptr ? NextMappingHint(map_len, align) : nullptr;
  void* base = mmap(hint, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                    static_cast<off_t>(map_offset));
  if (base == MAP_FAILED) return ProtocolError::kMmapFailed;
  auto* mapping = new GuestMapping(base, map_len, map_offset, std::move(keep_fd));
  if (fault_owner_.notify_fd >= 0 || fault_owner_.owner != 0) {
    GuardOwner who = fault_owner_;
    who.detail = region.guest_phys_addr;
    mapping->guard_slot = GuardRange(base, map_len, PROT_READ | PROT_WRITE, who);
  }
  MappingSharer* sharer = sharer_;
  if (sharer != nullptr) sharer->Publish(*mapping);
  Region r;
  r.desc = region;
  r.map_base = base;
  r.map_len = map_len;
  r.file_dev = static_cast<uint64_t>(st.st_dev);
  r.file_ino = static_cast<uint64_t>(st.st_ino);
  r.keep = std::shared_ptr<GuestMapping>(mapping, [sharer](GuestMapping* m) {
    if (sharer != nullptr) {
      sharer->Retire(std::unique_ptr<GuestMapping>(m));
    } else {
      delete m;
    }
  });
  r.host = static_cast<uint8_t*>(base) + delta;
  regions_.push_back(r);
  return ProtocolError::kNone;
}

ProtocolError GuestMemoryTable::AddHost(const MemoryRegion& region, uint8_t* host) {
  if (host == nullptr) return ProtocolError::kBadMemoryTable;
  if (const ProtocolError e = CheckNew(region); e != ProtocolError::kNone) return e;
  Region r;
  r.desc = region;
  r.host = host;
  regions_.push_back(r);
  return ProtocolError::kNone;
}

bool GuestMemoryTable::Remove(const MemoryRegion& region) {
  for (auto it = regions_.begin(); it != regions_.end(); ++it) {
    if (it->desc.guest_phys_addr == region.guest_phys_addr &&
        it->desc.userspace_addr == region.userspace_addr &&
        it->desc.memory_size == region.memory_size) {
      Unmap(*it);
      regions_.erase(it);
      return true;
    }
  }
  return false;
}

HostRange GuestMemoryTable::Translate(uint64_t gpa, uint64_t len) const {
  for (const auto& r : regions_) {
    const HostRange h = Lookup(gpa, len, r.desc.guest_phys_addr, r.desc.memory_size, r.host);
    if (h.ptr != nullptr) return h;
  }
  return {};
}

HostRange GuestMemoryTable::TranslateUserAddr(uint64_t uva, uint64_t len) const {
  for (const auto& r : regions_) {
    const HostRange h = Lookup(uva, len, r.desc.userspace_addr, r.desc.memory_size, r.host);
    if (h.ptr != nullptr) return h;
  }
  return {};
}

}  // namespace vswitch::vhost
