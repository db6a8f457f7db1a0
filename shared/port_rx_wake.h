// The port's RX wake-up: how vswitch-switching sleeps until a frame reaches the port
// instead of looking at it on a timer.
//
// For a port whose RX queue interrupt fd is readable exactly while frames wait in the
// queue (net_tap: the fd is the tun queue itself), the primary configures the port with
// RX queue interrupts (intr_conf.rxq), takes each RX queue's fd
// (rte_eth_dev_rx_intr_ctl_q_get_fd) and hands copies to a secondary that asks (DPDK IPC,
// kPortRxFdsAction), as it does the doorbells (doorbell.h). vswitch-switching adds them to
// the epoll it sleeps in. `ConfigSnapshot::port_rx_wake_fds` says how many there are (0:
// none; vswitch-switching looks at the port on a timer, 20 us doubling to 1 ms).
#pragma once

#include <cstdint>

#include "fd_handover.h"

namespace vswitch {

// DPDK IPC action answered by the primary with the port's RX queue fds in queue order
// (<= RTE_MP_MAX_NAME_LEN - 1 characters).
inline constexpr const char* kPortRxFdsAction = "vsw_port_rx_fds";
// One IPC message carries at most RTE_MP_MAX_FD_NUM (8) fds: a port with more RX queues
// (VMDQ on an 82599) keeps the timed look.
inline constexpr uint16_t kMaxPortRxWakeFds = kMaxHandedFds;

}  // namespace vswitch
