// The DPDK objects the primary owns and every secondary looks up by name (names.h): the
// state memzone, the packed ring records' memzone, the mbuf pool, the per-device rings and
// the MAC table.
#pragma once

#include <rte_hash.h>
#include <rte_mempool.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#include <string>
#include <vector>

#include "config.h"
#include "state_layout.h"

namespace vswitch {

struct SharedObjects {
  const rte_memzone* memzone = nullptr;
  SharedState* state = nullptr;
  const rte_memzone* packed_rings = nullptr;  // kPackedRingsMemzone
  rte_mempool* pool = nullptr;
  std::vector<rte_ring*> to_vm;
  std::vector<rte_ring*> from_vm;
  rte_hash* mac_table = nullptr;
};

// Creates everything; on failure returns false with an operator-facing *error, having
// freed what it created.
[[nodiscard]] bool CreateSharedObjects(const PrimaryOptions& options, SharedObjects* out,
                                       std::string* error);
void FreeSharedObjects(SharedObjects* objects);

}  // namespace vswitch
