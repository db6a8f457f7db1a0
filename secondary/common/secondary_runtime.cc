#include "secondary_runtime.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_memzone.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "clock.h"
#include "eal_args.h"
#include "log.h"
#include "names.h"
#include "process_util.h"
#include "role_held_recovery.h"
#include "role_ring_repair.h"
#include "service_notify.h"

namespace vswitch {
namespace {

constexpr uint64_t kTickNs = 100'000'000;

std::string RuntimeConfigPath(const std::string& prefix) {
  // DPDK's runtime directory for root (eal_get_runtime_dir): /var/run/dpdk/<prefix>.
  return "/var/run/dpdk/" + prefix + "/config";
}

}  // namespace

std::unique_ptr<SecondaryRuntime> SecondaryRuntime::Attach(const Config& config,
                                                           std::string* error) {
  std::unique_ptr<SecondaryRuntime> rt(new SecondaryRuntime());
  rt->role_ = config.role;
  rt->self_ = getpid();
  rt->startup_.attach_begin_ms = MsSinceExec();
  const std::string binary(RoleBinary(config.role));
  const std::string& prefix = config.eal.file_prefix;

  const std::string runtime_config = RuntimeConfigPath(prefix);
  if (access(runtime_config.c_str(), F_OK) != 0 ||
      rte_eal_primary_proc_alive(runtime_config.c_str()) == 0) {
    *error = "no vswitch-primary is running with file-prefix '" + prefix +
             "' (start the group first: deploy/vswitch up)";
    return nullptr;
  }

  // The port is known only to the primary; pass its kind (PCI or vdev) so that PCI ports
  // are scanned by secondaries too.
  std::vector<std::string> args = BuildEalArgs(config, config.primary.port);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    *error = "DPDK EAL init as secondary failed: " + std::string(rte_strerror(rte_errno)) +
             " (is the primary with file-prefix '" + prefix + "' healthy? see deploy/vswitch logs primary)";
    return nullptr;
  }
  rt->eal_up_ = true;
  rt->startup_.eal_done_ms = MsSinceExec();
  InitLog(config.role, config.eal.log_level);

  const rte_memzone* mz = nullptr;
  for (int i = 0; i < 100 && mz == nullptr; ++i) {
    mz = rte_memzone_lookup(kStateMemzone);
    if (mz == nullptr) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (mz == nullptr) {
    *error = "the primary with file-prefix '" + prefix +
             "' has no vswitch_state memzone: it is not vswitch-primary";
    return nullptr;
  }
  rt->state_ = static_cast<SharedState*>(mz->addr);
  if (mz->len < sizeof(uint64_t) * 2) {
    *error = "the vswitch_state memzone is too small: rebuild and restart the whole group";
    return nullptr;
  }
  const std::string layout_error = CheckLayout(*rt->state_);
  if (!layout_error.empty()) {
    *error = layout_error;
    rt->state_ = nullptr;  // not our layout: never write to it
    return nullptr;
  }
  for (int i = 0; i < 100 && rt->state_->ready.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (rt->state_->ready.load() == 0) {
    *error = "the primary did not finish starting within 10 s (see deploy/vswitch logs primary)";
    return nullptr;
  }
  rt->primary_ = rt->state_->primary_pid.load();
  if (!rt->Register(error)) return nullptr;
  // Registered: no other instance of this role is alive, so the ring ends it owns are
  // ours to repair, before the role's body touches any of them.
  RoleRingRepairTotals rings;
  if (!RepairRoleRings(rt->role_, *rt->state_, &rings, error)) return nullptr;
  // Then the mbufs a killed predecessor held outside the rings (the repaired tails say
  // which of them a half-done ring operation had published), before this instance
  // allocates or frees any.
  RoleHeldRecovery held;
  if (!RecoverHeldMbufs(rt->role_, *rt->state_, &held, error)) return nullptr;
  rt->startup_.attached_ms = MsSinceExec();
  VSW_LOG(INFO, "%s (pid %d) attached to the group '%s' (primary pid %d, layout %u)",
          binary.c_str(), rt->self_, prefix.c_str(), rt->primary_, kLayoutVersion);
  if (rings.rings_checked > 0) {
    VSW_LOG(INFO, "ring ends taken over: %u, half-done operations repaired: %u "
            "(slots dropped %lu, redelivered %lu)", rings.rings_checked, rings.repairs,
            static_cast<unsigned long>(rings.slots_dropped),
            static_cast<unsigned long>(rings.slots_redelivered));
  }
  if (held.predecessor && (held.plan.to_free.size() + held.plan.freed_already + held.plan.published) > 0) {
    VSW_LOG(WARNING, "the previous %s left mbufs in its hands: %zu freed now; %u it had freed, "
            "%u it had put on a ring, %u a ring still holds%s", binary.c_str(), held.plan.to_free.size(),
            held.plan.freed_already, held.plan.published, held.plan.not_taken,
            held.plan.journal_clamped ? " (its ring journal was inconsistent: clamped)" : "");
  }
  return rt;
}

bool SecondaryRuntime::Register(std::string* error) {
  RoleSlot& slot = state_->roles[static_cast<size_t>(role_)];
  for (;;) {
    int32_t current = slot.pid.load();
    if (current == self_) break;
    if (current != 0 && ProcessAlive(current)) {
      *error = std::string(RoleBinary(role_)) + " is already running (pid " +
               std::to_string(current) + "); stop it first or use deploy/vswitch restart " +
               std::string(RoleName(role_));
      return false;
    }
    if (slot.pid.compare_exchange_strong(current, self_)) break;
  }
  slot.start_ns.store(RealtimeNs());
  slot.heartbeat_ns.store(MonotonicNs());
  slot.state.store(static_cast<uint32_t>(RoleState::kStarting));
  slot.instances.fetch_add(1);
  return true;
}

void SecondaryRuntime::MarkUp() {
  RoleSlot& slot = state_->roles[static_cast<size_t>(role_)];
  slot.heartbeat_ns.store(MonotonicNs());
  slot.state.store(static_cast<uint32_t>(RoleState::kUp));
  // How long a restart keeps this role's work waiting, by phase: what an operator
  // restarting a role under traffic wants to know, and where to look when it grows.
  const double up_ms = MsSinceExec();
  VSW_LOG(INFO, "%s up %.0f ms after exec: before main %.0f ms, EAL init %.0f ms, attach %.0f ms, "
          "role set-up %.0f ms", RoleBinary(role_).data(), up_ms, startup_.attach_begin_ms,
          startup_.eal_done_ms - startup_.attach_begin_ms, startup_.attached_ms - startup_.eal_done_ms,
          up_ms - startup_.attached_ms);
  NotifyReady(std::string(RoleBinary(role_)) + " serving (primary pid " + std::to_string(primary_) + ")");
}

bool SecondaryRuntime::Tick() {
  const uint64_t now = MonotonicNs();
  if (now < next_tick_ns_) return true;
  next_tick_ns_ = now + kTickNs;
  RoleSlot& slot = state_->roles[static_cast<size_t>(role_)];
  if (state_->ready.load() == 0) {
    // The primary is stopping and will free the shared objects once we have left.
    exit_reason_ = "vswitch-primary is stopping the group";
    orderly_exit_ = true;
    return false;
  }
  if (!ProcessAlive(primary_)) {
    primary_gone_ = true;
    exit_reason_ = "vswitch-primary (pid " + std::to_string(primary_) +
                   ") is gone; secondaries cannot outlive it: restart the group (deploy/vswitch up)";
    return false;
  }
  const int32_t owner = slot.pid.load();
  if (owner != self_) {
    if (owner != 0) {
      exit_reason_ = "another " + std::string(RoleBinary(role_)) + " (pid " + std::to_string(owner) +
                     ") took this role after this one was marked down";
      return false;
    }
    // The primary marked us down (a long stall); take the slot back.
    std::string ignored;
    if (!Register(&ignored)) {
      exit_reason_ = ignored;
      return false;
    }
    VSW_LOG(WARNING, "re-registered after the primary marked this process down");
  }
  slot.heartbeat_ns.store(now);
  if (slot.state.load() == static_cast<uint32_t>(RoleState::kDown)) {
    slot.state.store(static_cast<uint32_t>(RoleState::kUp));
  }
  return true;
}

void SecondaryRuntime::Deregister() {
  if (state_ == nullptr) return;
  RoleSlot& slot = state_->roles[static_cast<size_t>(role_)];
  int32_t mine = self_;
  if (slot.pid.load() == self_) {
    slot.state.store(static_cast<uint32_t>(RoleState::kDown));
    slot.pid.compare_exchange_strong(mine, 0);
  }
}

SecondaryRuntime::~SecondaryRuntime() {
  if (!primary_gone_) Deregister();
  // With the primary gone there is nobody to tell: skip EAL's multi-process cleanup.
  if (eal_up_ && !primary_gone_) rte_eal_cleanup();
}

}  // namespace vswitch
