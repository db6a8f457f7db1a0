// libFuzzer target: the split-ring descriptor walker and the virtio-net datapath over
// guest memory the fuzzer writes. The input is the guest: its descriptor table,
// available ring, buffers and header bytes, plus the negotiated options. Regions sit
// between guard pages (HeapGuestMemory) and the build uses AddressSanitizer, so any
// access outside the shared memory, any hang (libFuzzer -timeout) or crash is a finding.
//
// Input: byte 0 options (bit0 event_idx, bit1 indirect, bit2 mergeable, bit3 legacy
// 10-byte header, bit4 enqueue before dequeue), byte 1 queue size log2 (mod 9), bytes
// 2-3 last_avail_idx, then the bytes of region A from guest address 0 (descriptor table,
// then the available ring, then anything: buffers, indirect tables).
// Memory: region A [0, 64 KiB), region B [64 KiB, 68 KiB) right after it (ranges that
// cross regions), region C [1 MiB, 1 MiB + 4 KiB) after a hole.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mock_split_queue.h"
#include "net_datapath.h"
#include "split_ring.h"

using namespace vswitch::vhost;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint8_t opts = data[0];
  const uint16_t qsize = static_cast<uint16_t>(1u << (data[1] % 9));
  uint16_t start;
  std::memcpy(&start, data + 2, 2);
  data += 4;
  size -= 4;

  test::HeapGuestMemory mem;
  uint8_t* a = mem.AddRegion(0, 64 * 1024);
  mem.AddRegion(64 * 1024, 4096);
  mem.AddRegion(1 << 20, 4096);
  // The used ring lives in region C so the input cannot describe it (the device writes
  // it); descriptors and avail ring come from the input.
  std::memcpy(a, data, std::min<size_t>(size, 64 * 1024));

  RingLayout layout;
  layout.size = qsize;
  layout.desc = reinterpret_cast<VirtqDesc*>(a);
  layout.avail = reinterpret_cast<VirtqAvail*>(a + DescTableBytes(qsize));
  layout.used = reinterpret_cast<VirtqUsed*>(mem.Host(1 << 20, UsedRingBytes(qsize)));
  // The device sets used->idx from its own state; start it where the ring resumes.
  layout.used->idx = start;

  RingOptions options;
  options.event_idx = (opts & 1) != 0;
  options.indirect = (opts & 2) != 0;
  NetQueueConfig config;
  config.mergeable = (opts & 4) != 0;
  config.header_size = (opts & 8) != 0 ? sizeof(VirtioNetHdr) : sizeof(VirtioNetHdrMrgRxbuf);

  SplitRing ring;
  ring.Init(layout, &mem.table(), start, options);
  QueueStats stats;
  DatapathScratch scratch;

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
