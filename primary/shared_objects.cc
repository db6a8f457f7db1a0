#include "shared_objects.h"

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <cstring>
#include <new>

#include "clock.h"
#include "mac_table.h"
#include "names.h"

namespace vswitch {

bool CreateSharedObjects(const PrimaryOptions& options, SharedObjects* out, std::string* error) {
  const int socket = static_cast<int>(rte_socket_id());
  out->memzone = rte_memzone_reserve_aligned(kStateMemzone, sizeof(SharedState), socket,
                                             RTE_MEMZONE_SIZE_HINT_ONLY, kCacheLine);
  if (out->memzone == nullptr) {
    *error = "cannot reserve the vswitch_state memzone: " + std::string(rte_strerror(rte_errno));
    return false;
  }
  std::memset(out->memzone->addr, 0, sizeof(SharedState));
  out->state = new (out->memzone->addr) SharedState();
  SharedState& s = *out->state;
  s.magic = kStateMagic;
  s.layout_version = kLayoutVersion;
  s.layout_size = sizeof(SharedState);
  for (uint32_t i = 0; i < kMaxDevices; ++i) s.devices[i].vid.store(-1);

  // Zeroed: no ring recorded yet (packed_ring_record.h: valid 0).
  out->packed_rings = rte_memzone_reserve_aligned(kPackedRingsMemzone, kPackedRingsBytes, socket,
                                                  RTE_MEMZONE_SIZE_HINT_ONLY, kCacheLine);
  if (out->packed_rings == nullptr) {
    *error = "cannot reserve the " + std::string(kPackedRingsMemzone) +
             " memzone: " + std::string(rte_strerror(rte_errno));
    FreeSharedObjects(out);
    return false;
  }
  std::memset(out->packed_rings->addr, 0, kPackedRingsBytes);

  out->pool = rte_pktmbuf_pool_create(kMbufPool, options.mbufs, options.mbuf_cache, 0,
                                      RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (out->pool == nullptr) {
    *error = "cannot create the mbuf pool (" + std::to_string(options.mbufs) +
             " mbufs): " + std::string(rte_strerror(rte_errno)) +
             " (more hugepages: deploy/vswitch hugepages, or a smaller [primary] mbufs)";
    FreeSharedObjects(out);
    return false;
  }
  for (unsigned i = 0; i < options.max_devices; ++i) {
    const unsigned flags = RING_F_SP_ENQ | RING_F_SC_DEQ;
    rte_ring* to = rte_ring_create(ToVmRingName(i).c_str(), options.ring_size, socket, flags);
    rte_ring* from = rte_ring_create(FromVmRingName(i).c_str(), options.ring_size, socket, flags);
    if (to == nullptr || from == nullptr) {
      *error = "cannot create the rings of device " + std::to_string(i) + ": " +
               std::string(rte_strerror(rte_errno));
      rte_ring_free(to);
      rte_ring_free(from);
      FreeSharedObjects(out);
      return false;
    }
    out->to_vm.push_back(to);
    out->from_vm.push_back(from);
  }
  out->mac_table = MacTable::Create(kMacTable, options.mac_table_size, socket);
  if (out->mac_table == nullptr) {
    *error = "cannot create the MAC table: " + std::string(rte_strerror(rte_errno));
    FreeSharedObjects(out);
    return false;
  }
  return true;
}

void FreeSharedObjects(SharedObjects* o) {
  if (o->mac_table != nullptr) rte_hash_free(o->mac_table);
  for (rte_ring* r : o->to_vm) rte_ring_free(r);
  for (rte_ring* r : o->from_vm) rte_ring_free(r);
  if (o->pool != nullptr) rte_mempool_free(o->pool);
  if (o->packed_rings != nullptr) rte_memzone_free(o->packed_rings);
  if (o->memzone != nullptr) rte_memzone_free(o->memzone);
  *o = SharedObjects{};
}

}  // namespace vswitch
