#include "pattern_pcap.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace vswitch::test {
namespace {

// The classic pcap format (libpcap's savefile): the magic tells the byte order and whether
// the second timestamp word counts microseconds or nanoseconds (DPDK's net_pcap writes
// nanoseconds).
constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kMagicNano = 0xa1b23c4d;
constexpr uint32_t kLinkEthernet = 1;
constexpr uint32_t kSnapLen = 65535;
constexpr size_t kFileHeader = 24;
constexpr size_t kRecordHeader = 16;

std::string MacBytes(const std::string& mac) {
  std::string out;
  unsigned b[6] = {};
  if (std::sscanf(mac.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) return out;
  for (unsigned v : b) out.push_back(static_cast<char>(v & 0xff));
  return out;
}

void Put32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void Put16(std::string& out, uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); }

uint32_t Get32(const std::string& in, size_t at, bool swapped) {
  uint32_t v = 0;
  std::memcpy(&v, in.data() + at, 4);
  return swapped ? __builtin_bswap32(v) : v;
}

std::string Hex(const std::string& bytes, size_t max) {
  std::string out;
  char b[3];
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    std::snprintf(b, sizeof(b), "%02x", static_cast<unsigned char>(bytes[i]));
    out += b;
  }
  return out;
}

}  // namespace

std::string PatternFrameBytes(const std::string& dst, const std::string& src, uint32_t index, uint32_t size) {
  std::string f = MacBytes(dst) + MacBytes(src);
  f.push_back(static_cast<char>(0x88));
  f.push_back(static_cast<char>(0xb5));
  for (int shift = 24; shift >= 0; shift -= 8) f.push_back(static_cast<char>((index >> shift) & 0xff));
  for (uint32_t k = 18; k < size; ++k) f.push_back(static_cast<char>((index * 7 + k) & 0xff));
  return f;
}

bool WritePatternPcap(const std::string& path, const std::string& dst, const std::string& src,
                      const std::vector<PatternFrame>& frames) {
  std::string out;
  Put32(out, kMagicMicro);
  Put16(out, 2);  // version 2.4
  Put16(out, 4);
  Put32(out, 0);  // time zone
  Put32(out, 0);  // timestamp accuracy
  Put32(out, kSnapLen);
  Put32(out, kLinkEthernet);
  for (const PatternFrame& f : frames) {
    if (f.size < 18 || f.size > kSnapLen) return false;
    const std::string bytes = PatternFrameBytes(dst, src, f.index, f.size);
    Put32(out, 0);  // seconds: net_pcap replays as fast as it is polled, timestamps unused
    Put32(out, 0);
    Put32(out, static_cast<uint32_t>(bytes.size()));
    Put32(out, static_cast<uint32_t>(bytes.size()));
    out += bytes;
  }
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(out.data(), static_cast<std::streamsize>(out.size()));
  file.close();
  return static_cast<bool>(file);
}

std::vector<std::string> ReadPcapFrames(const std::string& path, bool* ok) {
  std::vector<std::string> frames;
  std::ifstream file(path, std::ios::binary);
  bool header_ok = file.is_open();
  const std::string in = header_ok ? std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>())
                                   : std::string();
  bool swapped = false;
  if (header_ok && in.size() >= kFileHeader) {
    const uint32_t magic = Get32(in, 0, false);
    if (magic == kMagicMicro || magic == kMagicNano) {
      swapped = false;
    } else if (__builtin_bswap32(magic) == kMagicMicro || __builtin_bswap32(magic) == kMagicNano) {
      swapped = true;
    } else {
      header_ok = false;
    }
  } else {
    header_ok = false;
  }
  if (ok != nullptr) *ok = header_ok;
  if (!header_ok) return frames;
  size_t at = kFileHeader;
  while (at + kRecordHeader <= in.size()) {
    const uint32_t captured = Get32(in, at + 8, swapped);
    if (at + kRecordHeader + captured > in.size()) break;  // still being written
    frames.push_back(in.substr(at + kRecordHeader, captured));
    at += kRecordHeader + captured;
  }
  return frames;
}

int PatternCheck::Add(const std::vector<std::string>& frames) {
  const std::string src = MacBytes(src_);
  int good = 0;
  for (const std::string& f : frames) {
    if (f.size() < 12 || f.compare(6, 6, src) != 0) {
      ++foreign_;
      continue;
    }
    uint32_t index = 0;
    if (f.size() >= 18) {
      for (size_t i = 14; i < 18; ++i) index = (index << 8) | static_cast<unsigned char>(f[i]);
    }
    const auto size = static_cast<uint32_t>(f.size());
    if (f.size() < 18 || f != PatternFrameBytes(dst_, src_, index, size)) {
      if (bad_++ == 0) first_bad_ = std::to_string(f.size()) + " bytes: " + Hex(f, 64);
      continue;
    }
    ++good;
    ++good_;
    ++good_by_size_[size];
    if (!seen_.emplace(index, size).second) ++duplicates_;
  }
  return good;
}

std::vector<uint32_t> PatternCheck::Missing(const std::vector<PatternFrame>& expected) const {
  std::vector<uint32_t> missing;
  for (const PatternFrame& f : expected) {
    if (seen_.count(f.index) == 0) missing.push_back(f.index);
  }
  return missing;
}

int PatternCheck::Unexpected(const std::vector<PatternFrame>& expected) const {
  std::map<uint32_t, uint32_t> want;
  for (const PatternFrame& f : expected) want[f.index] = f.size;
  int n = 0;
  for (const auto& [index, size] : seen_) {
    const auto it = want.find(index);
    if (it == want.end() || it->second != size) ++n;
  }
  return n;
}

std::string PatternCheck::Summary() const {
  std::ostringstream s;
  s << "from " << src_ << " to " << dst_ << ": good " << good_ << " (by size:";
  for (const auto& [size, n] : good_by_size_) s << " " << size << "x" << n;
  s << "), bad " << bad_ << ", duplicates " << duplicates_ << ", other sources " << foreign_;
  if (!first_bad_.empty()) s << "; first bad frame " << first_bad_;
  return s.str();
}

}  // namespace vswitch::test
