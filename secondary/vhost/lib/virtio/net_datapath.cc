#include "net_datapath.h"

#include "net_dequeue.h"
#include "net_enqueue.h"

namespace vswitch::vhost {
namespace {

template <class Ring>
uint32_t EnqueueAll(Ring& ring, const NetQueueConfig& config, PacketSource* const* packets,
                    uint32_t count, uint16_t& available, QueueStats& stats,
                    DatapathScratch& scratch, EnqueueStatus* status) {
  return EnqueuePacketsOf(ring, config, packets, count, available, stats, scratch, status);
}

template <class Ring>
EnqueueStatus EnqueueOne(Ring& ring, const NetQueueConfig& config, PacketSource& packet,
                         uint16_t& available, QueueStats& stats, DatapathScratch& scratch) {
  PacketSource* one = &packet;
  EnqueueStatus status = EnqueueStatus::kNoRoom;
  return EnqueueAll(ring, config, &one, 1, available, stats, scratch, &status) == 1
             ? status
             : EnqueueStatus::kNoRoom;
}

}  // namespace

uint32_t EnqueuePackets(SplitRing& ring, const NetQueueConfig& config, PacketSource* const* packets,
                        uint32_t count, uint16_t& available, QueueStats& stats,
                        DatapathScratch& scratch, EnqueueStatus* status) {
  return EnqueueAll(ring, config, packets, count, available, stats, scratch, status);
}

EnqueueStatus EnqueuePacket(SplitRing& ring, const NetQueueConfig& config, PacketSource& packet,
                            uint16_t& available, QueueStats& stats, DatapathScratch& scratch) {
  return EnqueueOne(ring, config, packet, available, stats, scratch);
}

uint32_t DequeuePackets(SplitRing& ring, const NetQueueConfig& config, PacketSink& sink,
                        uint32_t max_packets, QueueStats& stats, DatapathScratch& scratch) {
  return DequeuePacketsOf(ring, config, sink, max_packets, stats, scratch);
}

uint32_t EnqueuePackets(PackedRing& ring, const NetQueueConfig& config,
                        PacketSource* const* packets, uint32_t count, uint16_t& available,
                        QueueStats& stats, DatapathScratch& scratch, EnqueueStatus* status) {
  return EnqueueAll(ring, config, packets, count, available, stats, scratch, status);
}

EnqueueStatus EnqueuePacket(PackedRing& ring, const NetQueueConfig& config, PacketSource& packet,
                            uint16_t& available, QueueStats& stats, DatapathScratch& scratch) {
  return EnqueueOne(ring, config, packet, available, stats, scratch);
}

uint32_t DequeuePackets(PackedRing& ring, const NetQueueConfig& config, PacketSink& sink,
                        uint32_t max_packets, QueueStats& stats, DatapathScratch& scratch) {
  return DequeuePacketsOf(ring, config, sink, max_packets, stats, scratch);
}

}  // namespace vswitch::vhost
