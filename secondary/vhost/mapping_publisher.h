// vswitch-vhost's side of dequeue zero-copy across processes (docs/architecture.md): the
// vhost library's MappingSharer, publishing every guest memory mapping in the shared
// state's MappingTable for vswitch-switching to map at the same address, answering on the
// datapath whether switching has acknowledged a mapping (shared/mapping_share.h), and
// unmapping retired mappings only once switching no longer maps them.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <vector>

#include "guest_mapping.h"
#include "state_layout.h"

namespace vswitch {

class MappingPublisher final : public vhost::MappingSharer {
 public:
  // Takes the table over for this process: whatever an earlier instance published is
  // gone with it.
  explicit MappingPublisher(SharedState& state);
  // Unmaps what is left: this process is leaving, switching keeps its own mappings.
  ~MappingPublisher() override;
  MappingPublisher(const MappingPublisher&) = delete;
  MappingPublisher& operator=(const MappingPublisher&) = delete;

  void Publish(vhost::GuestMapping& mapping) override;
  void Retire(std::unique_ptr<vhost::GuestMapping> mapping) override;
  [[nodiscard]] bool Shared(const vhost::GuestMapping& mapping) const override;

  // Unmaps retired mappings that switching has stopped mapping. Any thread; returns the
  // retired mappings still waiting.
  size_t Tick();

 private:
  [[nodiscard]] int32_t SwitchingPid() const;
  void UnmapAcknowledgedLocked();

  struct Retired {
    std::unique_ptr<vhost::GuestMapping> mapping;
    uint64_t removed_generation;
  };

  SharedState& state_;
  const int32_t self_;
  std::mutex mu_;  // one table writer at a time (session and datapath threads)
  std::vector<Retired> retired_;
  bool full_logged_ = false;
};

}  // namespace vswitch
