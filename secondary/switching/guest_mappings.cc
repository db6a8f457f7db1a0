#include "guest_mappings.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "guest_fault_guard.h"
#include "log.h"
#include "process_util.h"

namespace vswitch {
namespace {

constexpr uint64_t kAliveCheckNs = 100'000'000;  // a dead vhost instance's mappings go within 0.1 s

}  // namespace

GuestMappings::GuestMappings(SharedState& state) : state_(state), self_(getpid()) {
  // A front-end that shrinks its memory file while a packet in it is read here (the
  // port's transmit) must not take this process down: the mapping reads as zeros
  // instead, and vswitch-vhost, which faults on the same file, closes that device.
  std::string why;
  if (!InstallGuestFaultHandler(&why)) {
    VSW_LOG(WARNING, "dequeue zero-copy: %s: a guest memory fault will end the process", why.c_str());
  }
  faults_seen_ = GuestFaultCount();
}

GuestMappings::~GuestMappings() {
  for (const Held& h : held_) UnmapOne(h);
}

bool GuestMappings::MapOne(int32_t vhost_pid, const MappingEntry& e) {
  // vswitch-vhost keeps the fd open while the entry is published and until we have
  // acknowledged a generation without it, so this opens the entry's file.
  const std::string path = "/proc/" + std::to_string(vhost_pid) + "/fd/" + std::to_string(e.fd);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    VSW_LOG(WARNING, "dequeue zero-copy: cannot open %s: %s; its packets are copied", path.c_str(),
            std::strerror(errno));
    return false;
  }
  void* want = reinterpret_cast<void*>(e.vhost_va);
  // Read-only: this process reads guest packets, never writes guest memory.
  void* got = mmap(want, e.size, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fd,
                   static_cast<off_t>(e.file_offset));
  const int err = errno;
  close(fd);
  if (got == want) return true;
  if (got != MAP_FAILED) munmap(got, e.size);  // a kernel that ignored the flag
  Bump(state_.mapping_ack.refusals);
  if (!refusal_logged_) {
    refusal_logged_ = true;
    VSW_LOG(WARNING, "dequeue zero-copy: guest memory at %p (%lu bytes) cannot be mapped at the same "
            "address here (%s); packets in it are copied (further refusals are only counted)",
            want, static_cast<unsigned long>(e.size), got == MAP_FAILED ? std::strerror(err) : "address taken");
  }
  return false;
}

void GuestMappings::UnmapOne(const Held& h) {
  UnguardRange(h.guard_slot);
  if (!h.refused) munmap(reinterpret_cast<void*>(h.entry.vhost_va), h.entry.size);
}

void GuestMappings::ReportFaults() {
  const uint64_t end = GuestFaultCount();
  for (; faults_seen_ < end; ++faults_seen_) {
    GuestFault f;
    if (!GuestFaultAt(faults_seen_, &f)) {
      if (end - faults_seen_ <= 64) break;  // still being recorded: next round
      continue;
    }
    VSW_LOG(ERR, "dequeue zero-copy: guest memory at %p (%zu bytes) faulted at %p (SIGBUS): its "
            "front-end shrank the file; it reads as zeros here from now on (vswitch-vhost closes "
            "that device)", reinterpret_cast<void*>(f.base), f.len, reinterpret_cast<void*>(f.addr));
  }
}

void GuestMappings::Sync(uint64_t now_ns) {
  if (GuestFaultCount() != faults_seen_) ReportFaults();
  const MappingTable& table = state_.mappings;
  const uint64_t seq = table.seq.load(std::memory_order_acquire);
  bool check_alive = false;
  if (now_ns >= next_alive_check_ns_) {
    next_alive_check_ns_ = now_ns + kAliveCheckNs;
    check_alive = mapped_pid_ != 0;
  }
  if (seq == applied_seq_ && !(check_alive && !ProcessAlive(mapped_pid_))) return;
  MappingSnapshot snap;
  if (!ReadTable(table, snap)) return;  // being written: next round
  // A vhost instance that is gone maps nothing any more; its packets still in rings
  // fail Readable and are dropped unread.
  if (snap.vhost_pid <= 0 || !ProcessAlive(snap.vhost_pid)) snap.entries.clear();
  std::vector<MappingEntry> current;
  for (const Held& h : held_) current.push_back(h.entry);
  const MappingPlan plan = PlanMappingSync(current, mapped_pid_, snap);
  if (!plan.unmap.empty() || !plan.map.empty()) {
    // Removals first: a new entry may reuse an address a removed one had.
    std::erase_if(held_, [&](const Held& h) {
      for (const MappingEntry& u : plan.unmap) {
        if (u == h.entry) {
          UnmapOne(h);
          return true;
        }
      }
      return false;
    });
    for (const MappingEntry& e : plan.map) {
      Held h{e, !MapOne(snap.vhost_pid, e)};
      if (!h.refused) {
        h.guard_slot = GuardRange(reinterpret_cast<void*>(e.vhost_va), e.size, PROT_READ,
                                  GuardOwner{static_cast<uint64_t>(snap.vhost_pid), e.index, 0, -1});
      }
      held_.push_back(h);
    }
    ranges_.clear();
    for (const Held& h : held_) {
      if (!h.refused) ranges_.push_back({h.entry.vhost_va, h.entry.vhost_va + h.entry.size});
    }
    VSW_LOG(INFO, "dequeue zero-copy: %zu guest memory mapping(s) of vswitch-vhost pid %d mapped, "
            "%zu refused (table generation %lu)", ranges_.size(), snap.vhost_pid,
            held_.size() - ranges_.size(), static_cast<unsigned long>(snap.generation));
  }
  mapped_pid_ = snap.vhost_pid;
  // The fds were opened after the snapshot: acknowledge only if the table did not change
  // meanwhile (else an fd number might have named another file; the next round redoes it).
  if (table.seq.load(std::memory_order_acquire) != seq) return;
  AckRecord ack;
  ack.switching_pid = self_;
  ack.vhost_pid = snap.vhost_pid;
  ack.generation = snap.generation;
  for (const Held& h : held_) {
    if (h.refused) ack.refused[h.entry.index / 64] |= 1ull << (h.entry.index % 64);
  }
  WriteAck(state_.mapping_ack, ack);
  state_.mapping_ack.mapped.store(ranges_.size(), std::memory_order_relaxed);
  applied_seq_ = seq;
}

}  // namespace vswitch
