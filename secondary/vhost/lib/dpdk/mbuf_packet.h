// DPDK mbufs as the virtio-net datapath's packets: a PacketSource over a caller-owned
// mbuf chain (host to guest) and a PacketSink that builds mbuf chains from a mempool
// (guest to host), with the virtio-net header translated to and from mbuf offload flags
// (VIRTIO 1.1 5.1.6.2 / 5.1.6.4, DPDK's RTE_MBUF_F_TX_* semantics).
#pragma once

#include <rte_mbuf.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "net_datapath.h"
#include "guest_memory.h"
#include "queue_stats.h"
#include "zero_copy.h"

namespace vswitch::vhost {

// The virtio-net header for an mbuf about to enter a guest with `features`. Returns
// false when the mbuf asks for an offload the guest did not negotiate.
[[nodiscard]] bool HeaderFromMbufOffloads(const rte_mbuf* m, uint64_t features, VirtioNetHdr& hdr);
[[nodiscard]] inline bool HeaderFromMbuf(const rte_mbuf* m, uint64_t features, VirtioNetHdr& hdr) {
  // Inline for the common mbuf that asks for no offload and reports no checksum state:
  // its header is all zeros (called per packet on the enqueue path).
  constexpr uint64_t kOffloadFlags = RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG |
                                     RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK;
  if ((m->ol_flags & kOffloadFlags) == 0) {
    hdr = VirtioNetHdr{};
    return true;
  }
  return HeaderFromMbufOffloads(m, features, hdr);
}

// Applies a (validated) guest TX header to an mbuf: checksum and segmentation requests
// become RTE_MBUF_F_TX_* flags with l2/l3/l4 lengths; a checksum on a protocol that has
// no offload flag is completed in software. Returns false when the header cannot be
// honoured (it does not match the packet's headers).
[[nodiscard]] bool ApplyHeaderToMbuf(const VirtioNetHdr& hdr, rte_mbuf* m);
// False for the common header that asks for nothing (ApplyHeaderToMbuf has no work).
[[nodiscard]] inline bool HeaderAsksOffload(const VirtioNetHdr& hdr) {
  return (hdr.flags & kNetHdrFlagNeedsCsum) != 0 || (hdr.gso_type & ~kNetHdrGsoEcn) != kNetHdrGsoNone;
}

class MbufSource final : public PacketSource {
 public:
  MbufSource(const rte_mbuf* m, const VirtioNetHdr& hdr) : head_(m), cur_(m), hdr_(hdr) {}
  [[nodiscard]] uint32_t length() const override { return head_->pkt_len; }
  [[nodiscard]] VirtioNetHdr header() const override { return hdr_; }
  void Rewind() override { cur_ = head_; }
  [[nodiscard]] bool SinglePiece(const uint8_t*& data) const override {
    if (head_->data_len != head_->pkt_len) return false;
    data = rte_pktmbuf_mtod(head_, const uint8_t*);
    return true;
  }
  [[nodiscard]] bool NextPiece(const uint8_t*& data, uint32_t& len) override {
    while (cur_ != nullptr && cur_->data_len == 0) cur_ = cur_->next;
    if (cur_ == nullptr) return false;
    data = rte_pktmbuf_mtod(cur_, const uint8_t*);
    len = cur_->data_len;
    cur_ = cur_->next;
    return true;
  }

 private:
  const rte_mbuf* head_;
  const rte_mbuf* cur_;
  VirtioNetHdr hdr_;
};

// How many mbufs the packet builder may allocate ahead (MbufSink's spare slots).
inline constexpr uint32_t kDequeueSpareSlots = 64;

// Builds up to `capacity` packets into `out`. Every mbuf it has taken is named at every
// instant, for a process that may die mid-burst (Driver::DequeueBurst): unused spares in
// `spare_slots` (own storage when null), the packet being built in out[count()], finished
// ones in out[0, count()). A slot is written before the one it moves from is cleared (a
// compiler barrier between: x86 stores become visible in program order).
class MbufSink final : public PacketSink {
 public:
  MbufSink(rte_mempool* pool, rte_mbuf** out, uint32_t capacity, rte_mbuf** spare_slots = nullptr)
      : pool_(pool), out_(out), capacity_(capacity), spare_(spare_slots != nullptr ? spare_slots : own_spare_) {}
  ~MbufSink() override;
  // Dequeue zero-copy through `zc` (see zero_copy.h); `table` names the mappings (and
  // the sharer that says which of them the transmitting process reads); `stats` counts
  // what went by reference and why the rest was copied.
  void EnableZeroCopy(ZeroCopyQueue* zc, const GuestMemoryTable* table, QueueStats* stats = nullptr) {
    zc_ = zc;
    table_ = table;
    stats_ = stats;
  }
  void Reserve(uint32_t packets) override;
  // Begin/Append/Finish are inline: DequeuePacketsOf<MbufSink> calls them per packet.
  [[nodiscard]] bool Begin(uint32_t length) override {
    if (count_ >= capacity_) return false;
    if (length <= room_ && spare_pos_ < spare_end_) {
      head_ = spare_[spare_pos_];
      out_[count_] = head_;
      std::atomic_signal_fence(std::memory_order_seq_cst);
      spare_[spare_pos_++] = nullptr;
      head_->pkt_len = length;
      cur_ = head_;
      return true;
    }
    return BeginChain(length);
  }
  void Append(const uint8_t* data, uint32_t len) override {
    // One segment holds it: the usual case of a packet no larger than the data room.
    if (cur_ != nullptr && cur_->next == nullptr && len <= rte_pktmbuf_tailroom(cur_)) {
      std::memcpy(rte_pktmbuf_mtod_offset(cur_, uint8_t*, cur_->data_len), data, len);
      cur_->data_len = static_cast<uint16_t>(cur_->data_len + len);
      return;
    }
    AppendChain(data, len);
  }
  [[nodiscard]] bool Finish(const VirtioNetHdr& header) override {
    rte_mbuf* m = head_;
    head_ = nullptr;
    cur_ = nullptr;
    if (HeaderAsksOffload(header) && !ApplyHeaderToMbuf(header, m)) {
      rte_pktmbuf_free(m);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      out_[count_] = nullptr;
      return false;
    }
    ++count_;  // out_[count_] has named it since Begin
    return true;
  }
  [[nodiscard]] bool TakeByReference(const Segment* segments, uint32_t count, uint32_t offset,
                                     uint32_t length, const VirtioNetHdr& header,
                                     uint16_t head) override {
    if (zc_ == nullptr) return false;
    return TakeByReferenceSlow(segments, count, offset, length, header, head);
  }
  [[nodiscard]] uint32_t count() const { return count_; }

 private:
  [[nodiscard]] bool BeginChain(uint32_t length);
  void AppendChain(const uint8_t* data, uint32_t len);
  [[nodiscard]] bool TakeByReferenceSlow(const Segment* segments, uint32_t count, uint32_t offset,
                                         uint32_t length, const VirtioNetHdr& header, uint16_t head);

  rte_mempool* pool_;
  rte_mbuf** out_;
  uint32_t capacity_;
  // The pool's data room past the headroom: what one mbuf holds.
  uint32_t room_ = rte_pktmbuf_data_room_size(pool_) - RTE_PKTMBUF_HEADROOM;
  uint32_t count_ = 0;
  rte_mbuf* head_ = nullptr;
  rte_mbuf* cur_ = nullptr;
  // Mbufs allocated in bulk by Reserve, handed out by Begin; the rest go back.
  static constexpr uint32_t kSpare = kDequeueSpareSlots;
  rte_mbuf** spare_;
  rte_mbuf* own_spare_[kSpare] = {};
  uint32_t spare_pos_ = 0;
  uint32_t spare_end_ = 0;
  [[nodiscard]] bool Copy(ZeroCopyCopyReason why) {
    if (stats_ != nullptr) stats_->CopiedAnyway(why);
    return false;
  }

  // Caches the region of the last zero-copy piece for the burst (this sink's life,
  // during which the table cannot change): its range, mapping and whether the
  // transmitting process shares it.
  void LookUpRegion(uint64_t gpa);

  ZeroCopyQueue* zc_ = nullptr;
  const GuestMemoryTable* table_ = nullptr;
  QueueStats* stats_ = nullptr;
  uint32_t by_reference_ = 0;  // packets of this burst taken by reference
  uint64_t region_base_ = 0;
  uint64_t region_size_ = 0;  // 0: nothing cached
  const std::shared_ptr<GuestMapping>* region_keep_ = nullptr;
  bool region_shared_ = false;
};

}  // namespace vswitch::vhost
