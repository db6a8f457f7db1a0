// The MAC table: the primary's rte_hash in shared memory, MAC -> device id.
//
// rte_hash keeps a hash *function pointer* in shared memory, and function addresses differ
// between our four binaries, so every call here uses the *_with_hash variants with a hash
// computed locally by MacHash().
#pragma once

#include <rte_hash.h>

#include <cstdint>
#include <optional>
#include <string>

namespace vswitch {

// A MAC as a 64-bit key: the six address bytes in transmission order in the low 48 bits of
// a little-endian integer (byte 0 is the first on the wire), upper 16 bits zero.
using MacKey = uint64_t;
inline constexpr uint32_t kMacKeyLen = sizeof(MacKey);

[[nodiscard]] MacKey MacFromBytes(const uint8_t bytes[6]);
void MacToBytes(MacKey mac, uint8_t bytes[6]);
[[nodiscard]] std::string MacToString(MacKey mac);  // "52:54:00:00:00:14"
[[nodiscard]] std::optional<MacKey> MacFromString(const std::string& s);
[[nodiscard]] uint32_t MacHash(MacKey mac);

class MacTable {
 public:
  explicit MacTable(rte_hash* hash) : hash_(hash) {}
  // Creates the table (primary). nullptr on failure (rte_errno set).
  [[nodiscard]] static rte_hash* Create(const char* name, uint32_t entries, int socket_id);
  // Finds the primary's table (secondaries). nullptr when absent.
  [[nodiscard]] static rte_hash* Find(const char* name);

  [[nodiscard]] std::optional<uint32_t> Lookup(MacKey mac) const;
  // Adds or replaces; false when the table is full.
  [[nodiscard]] bool Add(MacKey mac, uint32_t device);
  [[nodiscard]] bool Remove(MacKey mac);
  [[nodiscard]] int32_t Count() const;

 private:
  rte_hash* hash_;
};

}  // namespace vswitch
