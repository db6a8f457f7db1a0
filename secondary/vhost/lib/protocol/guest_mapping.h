// One mmap of a front-end's memory file, and who else is told about it. The regions table
// and the zero-copy slots whose buffers lie in it share the mapping (std::shared_ptr); when
// the last of them lets go it is unmapped, or handed to the MappingSharer, which unmaps it
// once no other process can still be reading through the same address.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "guest_fault_guard.h"
#include "unique_fd.h"

namespace vswitch::vhost {

struct GuestMapping {
  GuestMapping(void* base_in, size_t len_in, uint64_t file_offset_in, UniqueFd fd_in)
      : base(base_in), len(len_in), file_offset(file_offset_in), fd(std::move(fd_in)) {}
  ~GuestMapping();
  GuestMapping(const GuestMapping&) = delete;
  GuestMapping& operator=(const GuestMapping&) = delete;

  void* const base;
  const size_t len;
  const uint64_t file_offset;  // of `base` in the file
  UniqueFd fd;                 // kept open only when a MappingSharer publishes it
  // Set by MappingSharer::Publish before the mapping is visible to any datapath.
  int32_t share_index = -1;
  uint64_t add_generation = 0;
  // Its slot in the SIGBUS guard (guest_fault_guard.h); -1: not guarded.
  int guard_slot = -1;
};

// Dequeue zero-copy across processes (docs/architecture.md): the process that transmits a
// guest packet maps the same file at the same address. The sharer publishes mappings to
// that process and answers, on the datapath, whether it has mapped one.
class MappingSharer {
 public:
  virtual ~MappingSharer() = default;
  // A new mapping (session thread). May leave it unpublished (share_index -1).
  virtual void Publish(GuestMapping& mapping) = 0;
  // Nothing in this process uses the mapping any more (any thread). The sharer unmaps it
  // when the other process has stopped mapping it too.
  virtual void Retire(std::unique_ptr<GuestMapping> mapping) = 0;
  // Datapath: may a buffer in `mapping` be passed by reference to the other process?
  [[nodiscard]] virtual bool Shared(const GuestMapping& mapping) const = 0;
};

// Where to ask the kernel to place a published mapping of `len` bytes aligned to `align`
// (the file's page size): a per-process window far from where DPDK, the heap and
// libraries live, walked in order, so the other process rarely finds the address taken
// and a vswitch-vhost restart (another pid, another window) does not land on addresses
// the other process may still map. nullptr: let the kernel choose.
[[nodiscard]] void* NextMappingHint(size_t len, size_t align);

}  // namespace vswitch::vhost
