// libFuzzer target: the packed-ring walker (PackedRing) and the virtio-net datapath over
// it, in guest memory the fuzzer writes. The input is the guest: the descriptor ring (its
// flags, wrap bits, buffer IDs, chains, indirect tables), the driver event suppression
// area and the buffers, plus the negotiated options and the vring base. Regions sit
// between guard pages (HeapGuestMemory) and the build uses AddressSanitizer, so any
// access outside the shared memory, any hang (libFuzzer -timeout) or crash is a finding.
//
// Input: byte 0 options (bit0 event_idx, bit1 indirect, bit2 mergeable, bit3 legacy
// 10-byte header, bit4 enqueue before dequeue, bit5 guest_notify), bytes 1-2 queue size
// (1 + value % 512: packed sizes need not be powers of two), bytes 3-6 the
// SET_VRING_BASE value, byte 7 the order raw reads return buffers in, then the bytes of
// region A from guest address 0 (descriptor ring, then the driver event area, then
// anything: buffers, indirect tables).
// Memory: region A [0, 64 KiB), region B [64 KiB, 68 KiB) right after it (ranges that
// cross regions), region C [1 MiB, 1 MiB + 4 KiB) after a hole, holding the device event
// area (the device writes it). The seeds in corpus/packed_walker were written by
// tests/vhost/fuzz/make_packed_seeds.py.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mock_split_queue.h"
#include "net_datapath.h"
#include "packed_ring.h"

using namespace vswitch::vhost;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  const uint8_t opts = data[0];
  uint16_t raw_size;
  std::memcpy(&raw_size, data + 1, 2);
  const uint32_t qsize = 1 + raw_size % 512;
  uint32_t base;
  std::memcpy(&base, data + 3, 4);
  const uint8_t order = data[7];
  data += 8;
  size -= 8;

  test::HeapGuestMemory mem;
  uint8_t* a = mem.AddRegion(0, 64 * 1024);
  mem.AddRegion(64 * 1024, 4096);
  mem.AddRegion(1 << 20, 4096);
  std::memcpy(a, data, std::min<size_t>(size, 64 * 1024));

  PackedRingLayout layout;
  layout.size = qsize;
  layout.desc = reinterpret_cast<PackedDesc*>(a);
  layout.driver_event = reinterpret_cast<PackedEvent*>(a + PackedDescRingBytes(qsize));
  layout.device_event = reinterpret_cast<PackedEvent*>(mem.Host(1 << 20, kPackedEventBytes));

  RingOptions options;
  options.event_idx = (opts & 1) != 0;
  options.indirect = (opts & 2) != 0;
  options.guest_notify = (opts & 32) != 0;
  NetQueueConfig config;
  config.mergeable = (opts & 4) != 0;
  config.header_size = (opts & 8) != 0 ? sizeof(VirtioNetHdr) : sizeof(VirtioNetHdrMrgRxbuf);

  PackedRing ring;
  ring.Init(layout, &mem.table(), DecodePackedBase(base), options);
  QueueStats stats;
  DatapathScratch scratch;

  // Raw reads, returned in an order the input picks (zero-copy frees out of order).
  {
    const uint16_t n = std::min<uint16_t>(ring.Available(stats), 16);
    std::vector<uint16_t> ids;
    SegmentList segments;
    for (uint16_t i = 0; i < n; ++i) {
      Chain chain;
      const auto r = ring.ReadChain(i, Direction::kDeviceReadable, segments, chain);
      if (r && ring.broken()) break;
      ids.push_back(chain.head);
    }
    ring.Advance(static_cast<uint16_t>(ids.size()));
    if ((order & 1) != 0) std::reverse(ids.begin(), ids.end());
    if ((order & 2) != 0 && ids.size() > 1) std::swap(ids.front(), ids[ids.size() / 2]);
    for (size_t i = 0; i < ids.size(); ++i) {
      ring.PutUsed(ids[i], 0);
      if ((order & 4) != 0) (void)ring.PublishUsed();
    }
    (void)ring.PublishUsed();
  }

  auto enqueue = [&] {
    for (uint32_t len : {60u, 1500u, 9000u}) {
      std::vector<uint8_t> bytes(len, 0xab);
      test::VectorPacketSource src(std::move(bytes), {}, 700);
      uint16_t avail = ring.Available(stats);
      if (EnqueuePacket(ring, config, src, avail, stats, scratch) == EnqueueStatus::kNoRoom) break;
    }
    (void)ring.PublishUsed();
  };
  if ((opts & 16) != 0) enqueue();
  test::VectorPacketSink sink;
  (void)DequeuePackets(ring, config, sink, 64, stats, scratch);
  (void)ring.PublishUsed();
  if ((opts & 16) == 0) enqueue();
  return 0;
}
