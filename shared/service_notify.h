// Readiness for a service manager: systemd's Type=notify protocol through libsystemd's
// sd_notify(3). Each role says READY=1 once it serves (the primary: state published and
// the first status file written; a secondary: attached, registered and doing its work),
// so systemd starts the units ordered After= it only then. Without $NOTIFY_SOCKET
// (deploy/vswitch, or a shell) each call does nothing.
#pragma once

#include <string_view>

namespace vswitch {

// READY=1 with a one-line STATUS= that `systemctl status` shows.
void NotifyReady(std::string_view status);
// STOPPING=1: the process leaves in order (systemd then does not call it a failure to
// start or a crash while it winds down).
void NotifyStopping();

}  // namespace vswitch
