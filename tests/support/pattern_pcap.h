// Numbered frames of a known pattern in pcap files, written and checked in C++, for tests
// that compare every byte one guest received with what the other sent (a guest's testpmd
// replays a pcap out of its virtio port and records what that port receives into another,
// see pcap_guest.h). A pcap is a 24-byte file header and a 16-byte header per record, so no
// scapy is needed: a round of frames is written and read back in microseconds, which lets
// a test check many rounds without a Python start-up each.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace vswitch::test {

struct PatternFrame {
  uint32_t index = 0;
  uint32_t size = 0;  // bytes on the wire without the FCS, at least 18
};

// Frame `index` of `size` bytes from `src` to `dst` (MACs as "02:00:00:00:00:0a"): the
// two addresses, ethertype 0x88b5, the index as 4 bytes big-endian, then byte k (k >= 18)
// = (index * 7 + k) & 0xff. The same bytes as the scapy frames of jumbo_group_test.cc.
[[nodiscard]] std::string PatternFrameBytes(const std::string& dst, const std::string& src, uint32_t index,
                                            uint32_t size);

// Writes `frames` (dst <- src) into `path` as a pcap of Ethernet frames, replacing it;
// false if it could not be written whole.
[[nodiscard]] bool WritePatternPcap(const std::string& path, const std::string& dst, const std::string& src,
                                    const std::vector<PatternFrame>& frames);

// The frames a pcap file holds, in order (microsecond or nanosecond timestamps, either byte
// order). A record cut short at the end (a file still being written) is left out. `ok`
// (optional) is false when the file is missing or its header is not a pcap's.
[[nodiscard]] std::vector<std::string> ReadPcapFrames(const std::string& path, bool* ok = nullptr);

// What arrived of one sender's pattern frames, over any number of files. A frame whose
// source is the sender is good if it equals PatternFrameBytes for the index it carries and
// its own length, bad otherwise; a good index seen before is a duplicate. Frames of other
// sources are counted apart (foreign) and otherwise ignored.
class PatternCheck {
 public:
  PatternCheck(std::string dst, std::string src) : dst_(std::move(dst)), src_(std::move(src)) {}

  // Adds the frames of one file; returns how many of them were good.
  int Add(const std::vector<std::string>& frames);
  // Indexes of `expected` that never arrived good.
  [[nodiscard]] std::vector<uint32_t> Missing(const std::vector<PatternFrame>& expected) const;
  // Good frames whose size is not the one `expected` gives their index, or whose index it
  // does not hold.
  [[nodiscard]] int Unexpected(const std::vector<PatternFrame>& expected) const;

  [[nodiscard]] int good() const { return good_; }
  [[nodiscard]] int bad() const { return bad_; }
  [[nodiscard]] int duplicates() const { return duplicates_; }
  [[nodiscard]] int foreign() const { return foreign_; }
  [[nodiscard]] const std::map<uint32_t, int>& good_by_size() const { return good_by_size_; }
  // One line for failure messages: counts, sizes, the first bad frame's first 64 bytes.
  [[nodiscard]] std::string Summary() const;

 private:
  std::string dst_, src_;
  std::map<uint32_t, uint32_t> seen_;  // good index -> its size
  std::map<uint32_t, int> good_by_size_;
  int good_ = 0, bad_ = 0, duplicates_ = 0, foreign_ = 0;
  std::string first_bad_;
};

}  // namespace vswitch::test
