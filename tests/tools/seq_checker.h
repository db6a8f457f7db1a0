// The receiving side of one numbered stream (vswitch-seq-peer, seq_peer.cc): which of the
// sender's sequence numbers arrived, which arrived twice, which never did.
//
// One sender's frames to one receiver cross only FIFOs (the guest's TX ring, from_vm,
// to_vm, the guest's RX ring), so they arrive in order; a number below the next
// expected one is either a frame that went round a gap (late: it was skipped, now it
// came) or one that already arrived (a duplicate: a ring slot read twice, a chain a
// restarted back-end took again). The numbers skipped so far are kept as ranges, so the
// check is exact with memory in the number of gaps, not of frames.
#pragma once

#include <cstdint>
#include <iterator>
#include <map>
#include <vector>

namespace vswitch::tools {

class SeqChecker {
 public:
  // A frame numbered `seq` arrived.
  void Arrived(uint64_t seq) {
    if (seq == next_) {
      ++next_;
      ++received_;
      return;
    }
    if (seq > next_) {
      gaps_.emplace(next_, seq);
      ++gaps_opened_;
      next_ = seq + 1;
      ++received_;
      return;
    }
    // Below next_: inside a gap (late) or already seen (duplicate).
    auto it = gaps_.upper_bound(seq);
    if (it == gaps_.begin() || std::prev(it)->second <= seq) {
      ++duplicates_;
      return;
    }
    --it;
    const uint64_t start = it->first, end = it->second;
    gaps_.erase(it);
    if (start < seq) gaps_.emplace(start, seq);
    if (seq + 1 < end) gaps_.emplace(seq + 1, end);
    ++late_;
    ++received_;
  }

  // Distinct numbers received.
  [[nodiscard]] uint64_t received() const { return received_; }
  [[nodiscard]] uint64_t duplicates() const { return duplicates_; }
  [[nodiscard]] uint64_t late() const { return late_; }
  // Times a number arrived past the next expected one (each opened a gap).
  [[nodiscard]] uint64_t gaps_opened() const { return gaps_opened_; }
  // Numbers at or past `sent` that arrived: the sender never numbered them.
  [[nodiscard]] bool beyond(uint64_t sent) const { return next_ > sent; }
  // Of the numbers [0, sent): those that never arrived.
  [[nodiscard]] uint64_t Missing(uint64_t sent) const {
    uint64_t n = next_ < sent ? sent - next_ : 0;
    for (const auto& [start, end] : gaps_) n += end - start;
    return n;
  }
  // The missing ranges below the highest number seen, [start, end), first `max` of them.
  [[nodiscard]] std::vector<std::pair<uint64_t, uint64_t>> Gaps(size_t max) const {
    std::vector<std::pair<uint64_t, uint64_t>> out;
    for (const auto& g : gaps_) {
      if (out.size() == max) break;
      out.push_back(g);
    }
    return out;
  }

 private:
  uint64_t next_ = 0;  // one past the highest number seen
  uint64_t received_ = 0, duplicates_ = 0, late_ = 0, gaps_opened_ = 0;
  std::map<uint64_t, uint64_t> gaps_;  // start -> end (exclusive), numbers not yet seen
};

}  // namespace vswitch::tools
