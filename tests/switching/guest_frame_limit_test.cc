// What a guest can receive, by its negotiated virtio-net features (VIRTIO 1.x 5.1.6.3.1).
#include "guest_frame_limit.h"

#include <gtest/gtest.h>

namespace vswitch {
namespace {

constexpr uint64_t Bit(uint32_t b) { return uint64_t{1} << b; }

TEST(GuestFrameLimitTest, WithoutBigBuffersA1514ByteFrame) {
  EXPECT_EQ(GuestMaxFrame(0), 1514u);
  // Host-side offloads and checksums do not make the guest's RX buffers bigger.
  constexpr uint64_t kCsum = Bit(0), kGuestCsum = Bit(1), kHostTso4 = Bit(11), kHostTso6 = Bit(12);
  EXPECT_EQ(GuestMaxFrame(kCsum | kGuestCsum | kHostTso4 | kHostTso6 | Bit(32)), 1514u);
}

TEST(GuestFrameLimitTest, MergeableOrGuestTsoUfoTakeA64KiBPacket) {
  for (uint32_t b : {kVirtioNetMrgRxbuf, kVirtioNetGuestTso4, kVirtioNetGuestTso6, kVirtioNetGuestUfo}) {
    EXPECT_EQ(GuestMaxFrame(Bit(b)), 65549u) << "feature bit " << b;
  }
  EXPECT_GE(GuestMaxFrame(Bit(kVirtioNetMrgRxbuf)), 9014u) << "a 9000-byte MTU jumbo frame fits";
}

}  // namespace
}  // namespace vswitch
