// Whether a frame may leave through the port as it is, or must first be copied into
// pool memory because the port could not read it.
//
// A virtual port (the `vdev` bus: net_tap, net_pcap, net_af_packet) reads mbuf data
// through its virtual address, which vswitch-switching maps, guest memory included
// (dequeue zero-copy). A port that DMAs (a device on a real bus: a PCI NIC) reads by
// IOVA, and only memory registered with the IOMMU is readable: DPDK's own hugepages
// are, guest memory is not (vswitch never calls rte_extmem_register / rte_dev_dma_map
// for it), so under VFIO the NIC would fault, whatever IOVA the mbuf carries.
#pragma once

#include <rte_mbuf_core.h>

#include <cstdint>
#include <string_view>

namespace vswitch {

enum class PortAccess : uint8_t {
  kVirtualAddress,  // a vdev: reads what the process maps
  kDma,             // a device on a real bus: reads memory registered for DMA only
};

// From rte_bus_name() of the port's device; unknown (no bus) counts as DMA.
[[nodiscard]] constexpr PortAccess PortAccessOfBus(std::string_view bus_name) {
  return bus_name == "vdev" ? PortAccess::kVirtualAddress : PortAccess::kDma;
}

// True when `m` must be copied before the port may transmit it: a DMA port and a segment
// that is an external buffer (the group's only external buffers are zero-copy guest
// memory) or has no IOVA at all.
[[nodiscard]] inline bool MustCopyToPort(PortAccess access, const rte_mbuf* m) {
  if (access != PortAccess::kDma) return false;
  for (const rte_mbuf* seg = m; seg != nullptr; seg = seg->next) {
    if ((seg->ol_flags & RTE_MBUF_F_EXTERNAL) != 0 || seg->buf_iova == RTE_BAD_IOVA) return true;
  }
  return false;
}

}  // namespace vswitch
