// Every metric family vswitch-monitor exposes, by name. The builders use these constants;
// tests check that docs/metrics.md, the alert rules and the Grafana dashboard name only
// metrics that exist. Base units, `_total` on counters (Prometheus naming conventions).
#pragma once

#include <array>
#include <string_view>

namespace vswitch::metrics {

// Group and roles.
inline constexpr std::string_view kBuildInfo = "vswitch_build_info";
inline constexpr std::string_view kRoleUp = "vswitch_role_up";
inline constexpr std::string_view kRoleRestarts = "vswitch_role_restarts_total";
inline constexpr std::string_view kRoleDeaths = "vswitch_role_deaths_total";
inline constexpr std::string_view kRoleHeartbeatAge = "vswitch_role_heartbeat_age_seconds";
inline constexpr std::string_view kRoleStartTime = "vswitch_role_start_time_seconds";
inline constexpr std::string_view kRoleSleeps = "vswitch_role_sleeps_total";
inline constexpr std::string_view kRoleYields = "vswitch_role_cpu_yields_total";
inline constexpr std::string_view kRoleRingRepairs = "vswitch_role_ring_repairs_total";
inline constexpr std::string_view kRoleRingRepairSlots = "vswitch_role_ring_repair_slots_total";
inline constexpr std::string_view kRoleMbufsRecovered = "vswitch_role_mbufs_recovered_total";

// vhost-user devices.
inline constexpr std::string_view kDeviceInfo = "vswitch_device_info";
inline constexpr std::string_view kDeviceConnected = "vswitch_device_connected";
inline constexpr std::string_view kDeviceReady = "vswitch_device_ready";
inline constexpr std::string_view kDeviceFeaturesInfo = "vswitch_device_features_info";
inline constexpr std::string_view kDeviceFeatureNegotiated = "vswitch_device_feature_negotiated";
inline constexpr std::string_view kDeviceQueuePairs = "vswitch_device_queue_pairs";
inline constexpr std::string_view kDeviceConnections = "vswitch_device_connections_total";
inline constexpr std::string_view kDeviceRefusedConnections = "vswitch_device_refused_connections_total";
inline constexpr std::string_view kDeviceMemoryFaults = "vswitch_device_memory_faults_total";
inline constexpr std::string_view kDeviceMacInfo = "vswitch_device_mac_info";
inline constexpr std::string_view kDevicePackets = "vswitch_device_packets_total";
inline constexpr std::string_view kDeviceBytes = "vswitch_device_bytes_total";
inline constexpr std::string_view kDeviceDrops = "vswitch_device_drops_total";
inline constexpr std::string_view kDeviceRxRetries = "vswitch_device_rx_retries_total";
// Dequeue zero-copy (--dequeue-zero-copy).
inline constexpr std::string_view kZeroCopyPackets = "vswitch_zero_copy_packets_total";
inline constexpr std::string_view kZeroCopyCopied = "vswitch_zero_copy_copied_total";
inline constexpr std::string_view kZeroCopyMappings = "vswitch_zero_copy_mappings";
inline constexpr std::string_view kZeroCopyMappingRefusals = "vswitch_zero_copy_mapping_refusals_total";

// The port: the switching secondary's software counters.
inline constexpr std::string_view kPortInfo = "vswitch_port_info";
inline constexpr std::string_view kPortSwitchedPackets = "vswitch_port_switched_packets_total";
inline constexpr std::string_view kPortSwitchedBytes = "vswitch_port_switched_bytes_total";
inline constexpr std::string_view kPortDrops = "vswitch_port_drops_total";
// The port: DPDK ethdev statistics (rte_eth_stats_get, rte_eth_xstats_get).
inline constexpr std::string_view kPortRxPackets = "vswitch_port_rx_packets_total";
inline constexpr std::string_view kPortRxBytes = "vswitch_port_rx_bytes_total";
inline constexpr std::string_view kPortTxPackets = "vswitch_port_tx_packets_total";
inline constexpr std::string_view kPortTxBytes = "vswitch_port_tx_bytes_total";
inline constexpr std::string_view kPortRxMissed = "vswitch_port_rx_missed_total";
inline constexpr std::string_view kPortRxErrors = "vswitch_port_rx_errors_total";
inline constexpr std::string_view kPortTxErrors = "vswitch_port_tx_errors_total";
inline constexpr std::string_view kPortRxNoMbuf = "vswitch_port_rx_nombuf_total";
inline constexpr std::string_view kPortXstats = "vswitch_port_xstats_total";
inline constexpr std::string_view kPortLinkUp = "vswitch_port_link_up";

// Shared DPDK objects.
inline constexpr std::string_view kRingEntries = "vswitch_ring_entries";
inline constexpr std::string_view kRingCapacity = "vswitch_ring_capacity";
inline constexpr std::string_view kMbufPoolInUse = "vswitch_mbuf_pool_in_use";
inline constexpr std::string_view kMbufPoolAvailable = "vswitch_mbuf_pool_available";
inline constexpr std::string_view kMbufPoolSize = "vswitch_mbuf_pool_size";
inline constexpr std::string_view kMacTableEntries = "vswitch_mac_table_entries";
inline constexpr std::string_view kMacTableCapacity = "vswitch_mac_table_capacity";

inline constexpr std::array kAll = {
    kBuildInfo, kRoleUp, kRoleRestarts, kRoleDeaths, kRoleHeartbeatAge, kRoleStartTime,
    kRoleSleeps, kRoleYields, kRoleRingRepairs, kRoleRingRepairSlots, kRoleMbufsRecovered,
    kDeviceInfo, kDeviceConnected, kDeviceReady, kDeviceFeaturesInfo, kDeviceFeatureNegotiated,
    kDeviceQueuePairs, kDeviceConnections, kDeviceRefusedConnections, kDeviceMemoryFaults, kDeviceMacInfo, kDevicePackets, kDeviceBytes,
    kDeviceDrops, kDeviceRxRetries, kZeroCopyPackets, kZeroCopyCopied, kZeroCopyMappings,
    kZeroCopyMappingRefusals, kPortInfo, kPortSwitchedPackets, kPortSwitchedBytes,
    kPortDrops, kPortRxPackets, kPortRxBytes, kPortTxPackets, kPortTxBytes, kPortRxMissed,
    kPortRxErrors, kPortTxErrors, kPortRxNoMbuf, kPortXstats, kPortLinkUp, kRingEntries,
    kRingCapacity, kMbufPoolInUse, kMbufPoolAvailable, kMbufPoolSize, kMacTableEntries,
    kMacTableCapacity,
};

}  // namespace vswitch::metrics
