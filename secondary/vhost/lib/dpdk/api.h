// DPDK 16.11's vhost API, name for name, over one process-wide Driver (docs/vhost-api.md
// has the mapping). Code that wants several independent drivers (tests) uses Driver.
#pragma once

#include <string>

#include "driver.h"

namespace vswitch::vhost {

// The process-wide driver behind the functions below.
[[nodiscard]] Driver& DefaultDriver();

[[nodiscard]] inline int DriverRegister(const std::string& path, uint64_t flags,
                                        const SocketOptions& options = {},
                                        std::string* error = nullptr) {
  return DefaultDriver().Register(path, flags, options, error);
}
[[nodiscard]] inline int DriverUnregister(const std::string& path) {
  return DefaultDriver().Unregister(path);
}
inline void DriverCallbackRegister(const DeviceOps& ops) { DefaultDriver().CallbackRegister(ops); }
[[nodiscard]] inline int DriverSessionStart() { return DefaultDriver().SessionStart(); }
inline void DriverSessionStop() { DefaultDriver().SessionStop(); }
[[nodiscard]] inline int FeatureDisable(uint64_t mask) { return DefaultDriver().FeatureDisable(mask); }
[[nodiscard]] inline int FeatureEnable(uint64_t mask) { return DefaultDriver().FeatureEnable(mask); }
[[nodiscard]] inline uint64_t GetFeatures() { return DefaultDriver().GetFeatures(); }
[[nodiscard]] inline int GetNegotiatedFeatures(int vid, uint64_t* features) {
  return DefaultDriver().GetNegotiatedFeatures(vid, features);
}
[[nodiscard]] inline int GetQueueNum(int vid) { return DefaultDriver().GetQueueNum(vid); }
[[nodiscard]] inline int GetIfname(int vid, std::string* path) {
  return DefaultDriver().GetIfname(vid, path);
}
[[nodiscard]] inline int GetMtu(int vid, uint16_t* mtu) { return DefaultDriver().GetMtu(vid, mtu); }
[[nodiscard]] inline bool IsReady(int vid) { return DefaultDriver().IsReady(vid); }
[[nodiscard]] inline uint16_t EnqueueBurst(int vid, uint16_t queue_id, rte_mbuf** pkts,
                                           uint16_t count) {
  return DefaultDriver().EnqueueBurst(vid, queue_id, pkts, count);
}
[[nodiscard]] inline uint16_t DequeueBurst(int vid, uint16_t queue_id, rte_mempool* pool,
                                           rte_mbuf** pkts, uint16_t count) {
  return DefaultDriver().DequeueBurst(vid, queue_id, pool, pkts, count);
}
[[nodiscard]] inline uint16_t AvailEntries(int vid, uint16_t queue_id) {
  return DefaultDriver().AvailEntries(vid, queue_id);
}
[[nodiscard]] inline int EnableGuestNotification(int vid, uint16_t queue_id, int enable) {
  return DefaultDriver().EnableGuestNotification(vid, queue_id, enable);
}

}  // namespace vswitch::vhost
