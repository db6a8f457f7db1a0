// The request the switching secondary sends the primary (DPDK multi-process IPC,
// rte_mp_request_sync) to put a learned MAC into its device's VMDQ pool, or take it out.
// The port's control path stays in the process that configured it: DPDK's ethdev control
// calls are not multi-process safe, and a secondary killed halfway through one must not
// leave the port half-configured. Header-only, no I/O: Encode/Decode are unit-tested.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>

namespace vswitch {

inline constexpr const char* kVmdqMacAction = "vsw_vmdq_mac";  // <= RTE_MP_MAX_NAME_LEN - 1

struct VmdqMacRequest {
  bool add = true;   // false: remove
  uint8_t mac[6] = {};
  uint32_t pool = 0;
};

inline constexpr int kVmdqMacRequestLen = 12;  // fits rte_mp_msg::param (256 bytes)

inline void EncodeVmdqMacRequest(const VmdqMacRequest& r, uint8_t out[kVmdqMacRequestLen]) {
  out[0] = 'V';
  out[1] = r.add ? 1 : 2;
  std::memcpy(out + 2, r.mac, 6);
  out[8] = static_cast<uint8_t>(r.pool);
  out[9] = static_cast<uint8_t>(r.pool >> 8);
  out[10] = static_cast<uint8_t>(r.pool >> 16);
  out[11] = static_cast<uint8_t>(r.pool >> 24);
}

[[nodiscard]] inline std::optional<VmdqMacRequest> DecodeVmdqMacRequest(const uint8_t* in, int len) {
  if (len != kVmdqMacRequestLen || in[0] != 'V' || (in[1] != 1 && in[1] != 2)) return std::nullopt;
  VmdqMacRequest r;
  r.add = in[1] == 1;
  std::memcpy(r.mac, in + 2, 6);
  r.pool = uint32_t{in[8]} | uint32_t{in[9]} << 8 | uint32_t{in[10]} << 16 | uint32_t{in[11]} << 24;
  return r;
}

}  // namespace vswitch
