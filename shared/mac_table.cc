#include "mac_table.h"

#include <rte_hash_crc.h>

#include <cstdio>

namespace vswitch {

MacKey MacFromBytes(const uint8_t bytes[6]) {
  MacKey k = 0;
  for (int i = 5; i >= 0; --i) k = (k << 8) | bytes[i];
  return k;
}

void MacToBytes(MacKey mac, uint8_t bytes[6]) {
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<uint8_t>(mac >> (8 * i));
}

std::string MacToString(MacKey mac) {
  uint8_t b[6];
  MacToBytes(mac, b);
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return buf;
}

std::optional<MacKey> MacFromString(const std::string& s) {
  unsigned b[6];
  char tail;
  if (s.size() != 17 ||
      std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                  &tail) != 6) {
    return std::nullopt;
  }
  uint8_t bytes[6];
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<uint8_t>(b[i]);
  return MacFromBytes(bytes);
}

uint32_t MacHash(MacKey mac) { return rte_hash_crc_8byte(mac, 0); }

rte_hash* MacTable::Create(const char* name, uint32_t entries, int socket_id) {
  rte_hash_parameters params{};
  params.name = name;
  params.entries = entries;
  params.key_len = kMacKeyLen;
  params.hash_func = nullptr;  // never called: see the header
  params.socket_id = socket_id;
  // One writer process (switching), lock-free readers (monitor, primary).
  params.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
  return rte_hash_create(&params);
}

rte_hash* MacTable::Find(const char* name) { return rte_hash_find_existing(name); }

std::optional<uint32_t> MacTable::Lookup(MacKey mac) const {
  void* data = nullptr;
  if (rte_hash_lookup_with_hash_data(hash_, &mac, MacHash(mac), &data) < 0) return std::nullopt;
  return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data));
}

bool MacTable::Add(MacKey mac, uint32_t device) {
  return rte_hash_add_key_with_hash_data(hash_, &mac, MacHash(mac),
                                         reinterpret_cast<void*>(static_cast<uintptr_t>(device))) == 0;
}

bool MacTable::Remove(MacKey mac) {
  const int32_t pos = rte_hash_del_key_with_hash(hash_, &mac, MacHash(mac));
  if (pos < 0) return false;
  // With RW_CONCURRENCY_LF, a deleted key's slot is not reused until freed. Only the
  // single writer (the switching process, one thread) reads keys; the other processes only
  // count, so the slot can be freed at once.
  return rte_hash_free_key_with_position(hash_, pos) == 0;
}

int32_t MacTable::Count() const { return rte_hash_count(hash_); }

}  // namespace vswitch
