#include "mapping_publisher.h"

#include <unistd.h>

#include "log.h"
#include "mapping_share.h"

namespace vswitch {

MappingPublisher::MappingPublisher(SharedState& state) : state_(state), self_(getpid()) {
  MappingTable& t = state_.mappings;
  BeginTableWrite(t);
  for (SharedMapping& e : t.entries) e.add_generation.store(0, std::memory_order_relaxed);
  t.vhost_pid.store(self_, std::memory_order_relaxed);
  t.generation.store(t.generation.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  EndTableWrite(t);
}

MappingPublisher::~MappingPublisher() {
  std::lock_guard lock(mu_);
  retired_.clear();
}

int32_t MappingPublisher::SwitchingPid() const {
  return state_.roles[static_cast<size_t>(Role::kSwitching)].pid.load();
}

void MappingPublisher::Publish(vhost::GuestMapping& m) {
  std::lock_guard lock(mu_);
  MappingTable& t = state_.mappings;
  for (uint32_t i = 0; i < kMaxSharedMappings; ++i) {
    SharedMapping& e = t.entries[i];
    if (e.add_generation.load(std::memory_order_relaxed) != 0) continue;
    const uint64_t g = PublishEntry(t, i, reinterpret_cast<uintptr_t>(m.base), m.len, m.file_offset, m.fd.get());
    m.share_index = static_cast<int32_t>(i);
    m.add_generation = g;
    VSW_LOG(DEBUG, "guest memory %p (+0x%zx) published as entry %u, generation %lu", m.base, m.len, i,
            static_cast<unsigned long>(g));
    return;
  }
  if (!full_logged_) {
    full_logged_ = true;
    VSW_LOG(WARNING, "dequeue zero-copy: %u guest memory mappings already published; packets in "
            "further regions are copied", kMaxSharedMappings);
  }
}

void MappingPublisher::Retire(std::unique_ptr<vhost::GuestMapping> m) {
  std::lock_guard lock(mu_);
  if (m->share_index < 0) return;  // never published: unmapped here and now
  MappingTable& t = state_.mappings;
  const uint64_t g = WithdrawEntry(t, static_cast<uint32_t>(m->share_index));
  retired_.push_back({std::move(m), g});
  UnmapAcknowledgedLocked();
}

bool MappingPublisher::Shared(const vhost::GuestMapping& m) const {
  if (m.share_index < 0) return false;
  AckRecord ack;
  if (!ReadAck(state_.mapping_ack, ack)) return false;  // being written: copy this one
  return MappingShared(ack, SwitchingPid(), self_, static_cast<uint32_t>(m.share_index),
                       m.add_generation);
}

void MappingPublisher::UnmapAcknowledgedLocked() {
  if (retired_.empty()) return;
  AckRecord ack;
  if (!ReadAck(state_.mapping_ack, ack)) return;
  const int32_t switching = SwitchingPid();
  std::erase_if(retired_, [&](const Retired& r) {
    return MayUnmapRetired(ack, switching, self_, r.removed_generation);
  });
}

size_t MappingPublisher::Tick() {
  std::unique_lock lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return 0;
  UnmapAcknowledgedLocked();
  return retired_.size();
}

}  // namespace vswitch
