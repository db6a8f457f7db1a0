// Surviving a front-end that shrinks its guest memory file (ftruncate on the memfd or
// hugetlbfs file it passed with SET_MEM_TABLE) while this process reads or writes that
// memory: the next access past the new end of the file raises SIGBUS, which by default
// kills the process and with it every guest's network (docs/architecture.md, "A
// front-end that shrinks its memory").
//
// Every mapping of guest memory is registered here. A SIGBUS at an address inside a
// registered range replaces the whole range, in the handler, with private anonymous
// memory (zeros) of the same protection, so the faulting access, retried, completes
// and the datapath carries on with bytes the guest could have written itself (its ring
// walks validate everything they read). The handler records the fault and writes the
// range's notify eventfd; the owner (vswitch-vhost's session thread) closes that
// device outside the handler. A SIGBUS anywhere else keeps its default action: the
// process dies with a core, as before.
//
// Async-signal-safety: the handler only reads and writes lock-free atomics in static
// arrays and calls mmap, write and sigaction (plain system calls on Linux).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace vswitch {

// What the owner of a range wants back when it faults.
struct GuardOwner {
  uint64_t owner = 0;   // who maps it (vswitch-vhost: the connection id)
  uint64_t tag = 0;     // the owner's own detail (vswitch-vhost: the device's vid)
  uint64_t detail = 0;  // the owner's own detail (vswitch-vhost: the region's guest address)
  int notify_fd = -1;   // eventfd written (1) when the range faults; -1: none
};

// One recovered fault.
struct GuestFault {
  GuardOwner who;
  uintptr_t base = 0;  // the range that was replaced
  size_t len = 0;
  uintptr_t addr = 0;  // the faulting address
};

inline constexpr size_t kMaxGuardedRanges = 1024;

// Installs the process's SIGBUS handler (idempotent). False with *error when sigaction
// fails.
[[nodiscard]] bool InstallGuestFaultHandler(std::string* error);

// Registers [base, base + len), mapped with `prot`, as guest memory. Returns a slot for
// UnguardRange, or -1 when kMaxGuardedRanges are taken (the range is then unprotected:
// a fault in it kills the process, as without this guard).
[[nodiscard]] int GuardRange(void* base, size_t len, int prot, const GuardOwner& who);
// Forgets a range before it is unmapped (waits for a handler replacing it right now).
void UnguardRange(int slot);

// Recovered faults so far in this process (never decreases).
[[nodiscard]] uint64_t GuestFaultCount();
// The fault numbered `seq` (0-based, < GuestFaultCount()); false when it was
// overwritten by later faults (the last 64 are kept) or is still being recorded.
[[nodiscard]] bool GuestFaultAt(uint64_t seq, GuestFault* out);

}  // namespace vswitch
