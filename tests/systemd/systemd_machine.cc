#include "systemd_machine.h"

#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string_view>
#include <thread>

#include "test_env.h"

namespace vswitch::test {
namespace {

namespace fs = std::filesystem;

// Units of the test machine: a boot target that starts journald (so the group's output
// lands in a journal, as on a real host), journald's own units, and empty stand-ins for
// the targets that every service's default dependencies name (sysinit.target and the
// rest): the test machine has no boot of its own, and must not run this machine's.
void WriteTestUnits(const std::string& dir) {
  fs::create_directories(dir);
  WriteFile(dir + "/vswitch-test-boot.target",
            "[Unit]\nDescription=vswitch unit test machine\n"
            "Wants=systemd-journald.socket systemd-journald.service\n");
  for (const char* target : {"sysinit", "basic", "sockets", "shutdown"}) {
    WriteFile(dir + "/" + target + ".target",
              std::string("[Unit]\nDescription=") + target + ".target (empty on the test machine)\n");
  }
  for (const char* unit : {"systemd-journald.service", "systemd-journald.socket"}) {
    fs::copy_file(std::string("/lib/systemd/system/") + unit, dir + "/" + unit,
                  fs::copy_options::overwrite_existing);
  }
}

// The sanitizer runtimes read their settings from these variables (`deploy/vswitch test
// --sanitize` sets them for every process the suite starts).
constexpr const char* kSanitizerVariables[] = {"ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS"};

// `options` (NAME=VALUE pairs separated by ':', as the sanitizer runtimes read them) with
// each suppressions=FILE replaced by a copy of FILE in `dir`: the test machine's /tmp is
// its own, so a checkout under /tmp would not be seen from in there, while `dir` (the
// test's scratch directory) is mounted back in place.
std::string WithSuppressionsIn(const std::string& options, const std::string& dir, const std::string& tag) {
  constexpr std::string_view kKey = "suppressions=";
  std::string out;
  size_t start = 0;
  while (start <= options.size()) {
    size_t end = options.find(':', start);
    if (end == std::string::npos) end = options.size();
    std::string option = options.substr(start, end - start);
    if (option.rfind(kKey, 0) == 0) {
      const std::string copy = dir + "/" + tag + ".supp";
      fs::copy_file(option.substr(kKey.size()), copy, fs::copy_options::overwrite_existing);
      option = std::string(kKey) + copy;
    }
    if (!out.empty()) out += ':';
    out += option;
    start = end + 1;
  }
  return out;
}

}  // namespace

SystemdMachine::SystemdMachine(const std::string& work_dir, const std::string& config_text)
    : work_dir_(work_dir), cgroup_("vswitch-test-systemd-" + std::to_string(getpid())) {
  const std::string stage = work_dir_ + "/stage";
  const CommandResult install = RunCommand({"cmake", "--install", BinaryDir()}, std::chrono::seconds(60),
                                           {"DESTDIR=" + stage});
  if (install.exit_code != 0) {
    error_ = "DESTDIR=" + stage + " cmake --install failed:\n" + install.output;
    return;
  }
  WriteFile(stage + VSWITCH_INSTALL_CONFIG, config_text);
  WriteTestUnits(work_dir_ + "/units");
  boot_ = Process({SourceDir() + "/tests/systemd/boot_systemd.sh", cgroup_, work_dir_},
                  work_dir_ + "/boot.log");
  // The namespace's PID 1 is unshare's child: the one child of the boot process in
  // another PID namespace (before the exec of unshare, the script's own children, mkdir
  // and the like, are in ours).
  const std::string children = "/proc/" + std::to_string(boot_.pid()) + "/task/" +
                               std::to_string(boot_.pid()) + "/children";
  const std::string our_pid_ns = fs::read_symlink("/proc/self/ns/pid").string();
  if (!WaitFor([&] {
        if (!boot_.Running()) return true;
        std::istringstream in(ReadFile(children));
        pid_t child = 0;
        while (in >> child) {
          std::error_code ec;
          const fs::path ns = fs::read_symlink("/proc/" + std::to_string(child) + "/ns/pid", ec);
          if (!ec && ns.string() != our_pid_ns) {
            init_ = child;
            return true;
          }
        }
        return false;
      }, std::chrono::seconds(10)) || init_ == 0) {
    error_ = "systemd did not start in a namespace:\n" + boot_.Log();
    return;
  }
  // Up once it answers systemctl and has reached its boot target.
  if (!WaitFor([&] {
        const CommandResult r = Systemctl({"show", "-p", "SystemState", "--value"}, std::chrono::seconds(5));
        return r.output.rfind("running", 0) == 0 || r.output.rfind("degraded", 0) == 0;
      }, std::chrono::seconds(30))) {
    error_ = "systemd in the namespace did not finish booting:\n" + boot_.Log() +
             Systemctl({"list-units", "--all", "--no-pager"}).output;
    return;
  }
  PassSanitizerSettings();
}

void SystemdMachine::PassSanitizerSettings() {
  // systemd starts its units with its own environment, not the test's: without this a
  // sanitized role runs with the runtime's defaults (LeakSanitizer reports DPDK's own
  // leaks, unsuppressed, and the unit ends `failed`).
  std::vector<std::string> args = {"set-environment"};
  for (const char* name : kSanitizerVariables) {
    const char* value = std::getenv(name);
    if (value == nullptr) continue;
    std::string tag(name);
    for (char& c : tag) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    try {
      args.push_back(std::string(name) + "=" + WithSuppressionsIn(value, work_dir_, tag));
    } catch (const fs::filesystem_error& e) {
      error_ = std::string(name) + " names a suppressions file the test cannot copy: " + e.what();
      return;
    }
  }
  if (args.size() == 1) return;
  const CommandResult r = Systemctl(args);
  if (r.exit_code != 0) error_ = "systemctl set-environment failed:\n" + r.output;
}

SystemdMachine::~SystemdMachine() {
  if (init_ > 0) {
    kill(init_, SIGKILL);  // PID 1 of a namespace: everything in there goes with it
    (void)WaitFor([&] { return !PidAlive(init_); }, std::chrono::seconds(10));
  }
  boot_.Stop(SIGKILL);
  // Whatever is still in the machine's cgroup is the machine's (init_ unknown when the
  // boot failed half-way): kill it by pid.
  std::error_code ec;
  const std::string tracked = "/sys/fs/cgroup/systemd/" + cgroup_;
  if (fs::is_directory(tracked, ec)) {
    for (const auto& entry : fs::recursive_directory_iterator(tracked, ec)) {
      if (entry.path().filename() != "cgroup.procs") continue;
      std::istringstream in(ReadFile(entry.path().string()));
      pid_t pid = 0;
      while (in >> pid) kill(pid, SIGKILL);
    }
  }
  // Cgroups empty out once the kernel has reaped the namespace's processes.
  for (const char* h : {"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/sys/fs/cgroup",
                        "/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu",
                        "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/blkio",
                        "/sys/fs/cgroup/devices", "/sys/fs/cgroup/freezer"}) {
    const std::string dir = std::string(h) + "/" + cgroup_;
    if (!fs::is_directory(dir)) continue;
    (void)WaitFor([&] {
      (void)RunCommand({"find", dir, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"},
                       std::chrono::seconds(10));
      return !fs::exists(dir);
    }, std::chrono::seconds(10));
  }
}

CommandResult SystemdMachine::Run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  if (init_ <= 0) return {};
  std::vector<std::string> full = {"nsenter", "--target", std::to_string(init_), "--mount", "--pid",
                                   "--net", "--uts", "--ipc", "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  return RunCommand(full, timeout);
}

CommandResult SystemdMachine::Shell(const std::string& script, std::chrono::milliseconds timeout) {
  return Run({"bash", "-c", script}, timeout);
}

CommandResult SystemdMachine::Systemctl(const std::vector<std::string>& args,
                                        std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {"systemctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv, timeout);
}

std::string SystemdMachine::Property(const std::string& unit, const std::string& property) {
  const CommandResult r = Systemctl({"show", "-p", property, "--value", unit}, std::chrono::seconds(10));
  std::string out = r.output;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return r.exit_code == 0 ? out : "";
}

pid_t SystemdMachine::MainPid(const std::string& unit) {
  const std::string s = Property(unit, "MainPID");
  return s.empty() ? 0 : static_cast<pid_t>(std::stol(s));
}

std::string SystemdMachine::Journal() {
  return Run({"journalctl", "--no-pager", "-o", "short-monotonic"}, std::chrono::seconds(20)).output;
}

}  // namespace vswitch::test
