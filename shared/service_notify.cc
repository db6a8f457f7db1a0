#include "service_notify.h"

#include <systemd/sd-daemon.h>

#include <cstring>
#include <string>

#include "log.h"

namespace vswitch {
namespace {

void Notify(const std::string& message) {
  // 0: keep $NOTIFY_SOCKET, so a process that restarts its work (exec) could say it again.
  const int r = sd_notify(0, message.c_str());
  if (r < 0) {
    VSW_LOG(WARNING, "cannot tell the service manager '%s' ($NOTIFY_SOCKET): %s",
            message.substr(0, message.find('\n')).c_str(), std::strerror(-r));
  }
}

}  // namespace

void NotifyReady(std::string_view status) {
  std::string message = "READY=1\nSTATUS=";
  // STATUS= is one line: a newline would start another assignment.
  for (char c : status) message += c == '\n' ? ' ' : c;
  Notify(message);
}

void NotifyStopping() { Notify("STOPPING=1"); }

}  // namespace vswitch
