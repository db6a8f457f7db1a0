#include "seq_peer_process.h"

#include <signal.h>

#include <sstream>

namespace vswitch::test {
namespace {

int g_instances = 0;

// Fills `s` from "key=value" fields; false when one is malformed.
bool ParseStream(std::istringstream& in, SeqStream* s) {
  std::string field;
  while (in >> field) {
    const auto eq = field.find('=');
    if (eq == std::string::npos) return false;
    const std::string key = field.substr(0, eq), value = field.substr(eq + 1);
    try {
      if (key == "sent") s->sent = std::stoll(value);
      else if (key == "received") s->received = std::stoll(value);
      else if (key == "missing") s->missing = std::stoll(value);
      else if (key == "duplicates") s->duplicates = std::stoll(value);
      else if (key == "late") s->late = std::stoll(value);
      else if (key == "gaps") s->gaps = std::stoll(value);
      else if (key == "beyond") s->beyond = value != "0";
      else if (key == "first_gaps") s->first_gaps = value;
    } catch (const std::exception&) {
      return false;
    }
  }
  return s->sent >= 0 && s->received >= 0 && s->missing >= 0 && s->duplicates >= 0;
}

}  // namespace

SeqReport ParseSeqReport(const std::string& log) {
  SeqReport r;
  bool ab = false, ba = false, other = false;
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("STALL ", 0) == 0) {
      std::istringstream in(line.substr(6));
      std::string which, ms, end;
      in >> which >> ms >> end;
      if (ms.rfind("ms=", 0) != 0 || end.rfind("end_ms=", 0) != 0) continue;
      r.stalls.push_back({which == "a_to_b", std::atoll(ms.c_str() + 3), std::atoll(end.c_str() + 7)});
      continue;
    }
    if (line.rfind("REPORT ", 0) != 0) continue;
    r.text += line + "\n";
    std::istringstream in(line.substr(7));
    std::string which;
    in >> which;
    if (which == "a_to_b") {
      ab = ParseStream(in, &r.a_to_b);
    } else if (which == "b_to_a") {
      ba = ParseStream(in, &r.b_to_a);
    } else if (which == "other") {
      std::string field;
      while (in >> field) {
        const auto eq = field.find('=');
        if (eq == std::string::npos) continue;
        const std::string key = field.substr(0, eq);
        const long long v = std::atoll(field.c_str() + eq + 1);
        if (key == "learn") r.learn = v;
        else if (key == "foreign") r.foreign = v;
        else if (key == "tx_refused") r.tx_refused = v;
      }
      other = r.foreign >= 0;
    }
  }
  r.complete = ab && ba && other;
  return r;
}

SeqPeerProcess::SeqPeerProcess(const TestGroup& group, int cpu, const std::string& mac_a,
                               const std::string& mac_b, bool server_mode, bool packed)
    : prefix_(UniqueName("vsq") + "n" + std::to_string(g_instances++)) {
  const std::string server = std::string(server_mode ? ",server=1" : "") + (packed ? ",packed_vq=1" : "");
  process_ = Process(
      {BinaryDir() + "/tests/tools/vswitch-seq-peer", "-l", std::to_string(cpu), "--no-pci",
       "--single-file-segments", "--file-prefix=" + prefix_, "-m", "128", "--no-telemetry", "--vdev",
       "net_virtio_user0,path=" + group.socket(0) + ",mac=" + mac_a + server, "--vdev",
       "net_virtio_user1,path=" + group.socket(1) + ",mac=" + mac_b + server},
      group.dir() / (prefix_ + ".log"));
}

SeqPeerProcess::~SeqPeerProcess() {
  process_.Stop(SIGINT, std::chrono::seconds(15));
  RemoveDpdkLeftovers(prefix_);
}

bool SeqPeerProcess::WaitLearned(std::chrono::milliseconds timeout) {
  return WaitFor([&] { return process_.Log().find("LEARNED ") != std::string::npos; }, timeout);
}

SeqReport SeqPeerProcess::Finish() {
  if (!finished_) {
    finished_ = true;
    // The peer drains for at most 10 s after the signal, then reports and exits.
    (void)process_.Stop(SIGINT, std::chrono::seconds(15));
  }
  return ParseSeqReport(process_.Log());
}

}  // namespace vswitch::test
