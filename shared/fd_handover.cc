#include "fd_handover.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>

namespace vswitch {
namespace {

static_assert(kMaxHandedFds == RTE_MP_MAX_FD_NUM);

// The IPC callback takes no user argument; it finds its fds by the action's name. The
// callback runs on DPDK's IPC thread, registration on the main thread.
std::mutex g_mutex;
std::map<std::string, std::vector<int>, std::less<>> g_served;

int OnRequest(const rte_mp_msg* msg, const void* peer) {  // NOLINT
  rte_mp_msg reply{};
  std::snprintf(reply.name, sizeof(reply.name), "%s", msg->name);
  {
    std::lock_guard lock(g_mutex);
    auto it = g_served.find(std::string_view(msg->name));
    if (it != g_served.end()) {
      for (size_t i = 0; i < it->second.size(); ++i) reply.fds[i] = it->second[i];
      reply.num_fds = static_cast<int>(it->second.size());
    }
  }
  return rte_mp_reply(&reply, static_cast<const char*>(peer));
}

}  // namespace

bool HandOverFds(const char* action, const std::vector<int>& fds, std::string* error) {
  if (fds.size() > kMaxHandedFds) {
    *error = std::string(action) + ": " + std::to_string(fds.size()) + " fds, more than one IPC message carries (" +
             std::to_string(kMaxHandedFds) + ")";
    return false;
  }
  {
    std::lock_guard lock(g_mutex);
    g_served[action] = fds;
  }
  if (rte_mp_action_register(action, OnRequest) != 0) {
    *error = std::string("cannot register the IPC action ") + action + ": " + rte_strerror(rte_errno);
    std::lock_guard lock(g_mutex);
    g_served.erase(action);
    return false;
  }
  return true;
}

void StopHandingOverFds(const char* action) {
  rte_mp_action_unregister(action);
  std::lock_guard lock(g_mutex);
  g_served.erase(action);
}

bool RequestFds(const char* action, std::size_t count, std::vector<int>* fds, std::string* error) {
  rte_mp_msg request{};
  std::snprintf(request.name, sizeof(request.name), "%s", action);
  struct rte_mp_reply reply{};
  const timespec timeout{5, 0};
  if (rte_mp_request_sync(&request, &reply, &timeout) != 0 || reply.nb_received != 1) {
    *error = std::string("the primary did not answer ") + action + " (" + rte_strerror(rte_errno) + ")";
    std::free(reply.msgs);
    return false;
  }
  const rte_mp_msg& m = reply.msgs[0];
  const bool complete = m.num_fds >= 0 && static_cast<std::size_t>(m.num_fds) == count;
  fds->clear();
  for (int i = 0; i < m.num_fds; ++i) {
    if (complete) {
      fds->push_back(m.fds[i]);
    } else {
      close(m.fds[i]);
    }
  }
  if (!complete) {
    *error = std::string("the primary handed over ") + std::to_string(m.num_fds) + " fds for " + action +
             ", not " + std::to_string(count);
  }
  std::free(reply.msgs);
  return complete;
}

}  // namespace vswitch
