#include "config_json.h"

#include <cstdio>

#include "json_string.h"

namespace vswitch {
namespace {

// Members of one JSON object, comma-separated as they are added.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
  void String(std::string_view key, std::string_view value) {
    Key(key);
    AppendJsonString(out_, value);
  }
  void Number(std::string_view key, long long value) {
    Key(key);
    out_ += std::to_string(value);
  }
  void Bool(std::string_view key, bool value) {
    Key(key);
    out_ += value ? "true" : "false";
  }
  void Strings(std::string_view key, const std::vector<std::string>& values) {
    Key(key);
    out_ += '[';
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) out_ += ',';
      AppendJsonString(out_, values[i]);
    }
    out_ += ']';
  }
  // The caller writes the member's value (a nested object) after this.
  void Key(std::string_view key) {
    if (!first_) out_ += ',';
    first_ = false;
    AppendJsonString(out_, key);
    out_ += ':';
  }
  void Close() { out_ += '}'; }

 private:
  std::string& out_;
  bool first_ = true;
};

void Eal(std::string& out, const EalOptions& e) {
  ObjectWriter w(out);
  w.String("file-prefix", e.file_prefix);
  w.String("huge-dir", e.huge_dir);
  w.Number("memory", e.memory_mb);
  for (Role r : kAllRoles) {
    w.Number(std::string(RoleName(r)) + "-cpu", e.cpu[static_cast<size_t>(r)]);
  }
  w.String("log-level", e.log_level);
  w.Close();
}

void Group(std::string& out, const GroupOptions& g) {
  ObjectWriter w(out);
  w.String("run-dir", g.run_dir);
  w.String("log-dir", g.log_dir);
  w.Close();
}

void Primary(std::string& out, const PrimaryOptions& p) {
  ObjectWriter w(out);
  w.String("port", p.port);
  w.Number("max-devices", p.max_devices);
  w.Number("mbufs", p.mbufs);
  w.Number("mbuf-cache", p.mbuf_cache);
  w.Number("ring-size", p.ring_size);
  w.Number("mac-table-size", p.mac_table_size);
  w.Number("rx-desc", p.rx_desc);
  w.Number("tx-desc", p.tx_desc);
  w.Bool("dcb", p.dcb);
  w.Number("heartbeat-timeout-ms", p.heartbeat_timeout_ms);
  w.Number("status-interval-ms", p.status_interval_ms);
  if (p.mtu == 0) {
    w.String("mtu", "auto");
  } else {
    w.Number("mtu", p.mtu);
  }
  w.Close();
}

void Vhost(std::string& out, const VhostOptions& v) {
  ObjectWriter w(out);
  w.Strings("socket-file", v.socket_files);
  w.Bool("client", v.client);
  w.Number("mergeable", v.mergeable);
  w.Number("packed", v.packed);
  w.Bool("dequeue-zero-copy", v.dequeue_zero_copy);
  w.Number("tso", v.tso);
  w.Number("tx-csum", v.tx_csum);
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", v.socket_mode);
  w.String("socket-mode", mode);
  w.String("socket-owner", v.socket_owner);
  w.String("socket-group", v.socket_group);
  w.Close();
}

void Switching(std::string& out, const SwitchingOptions& s) {
  ObjectWriter w(out);
  w.Number("vm2vm", s.vm2vm);
  w.Number("rx-retry", s.rx_retry);
  w.Number("rx-retry-num", s.rx_retry_num);
  w.Number("rx-retry-delay", s.rx_retry_delay_us);
  w.Number("stats", s.stats_s);
  w.Close();
}

void Monitor(std::string& out, const MonitorOptions& m) {
  ObjectWriter w(out);
  w.String("metrics-listen", m.metrics_listen);
  w.Close();
}

}  // namespace

std::string RenderConfigJson(const Config& c) {
  std::string out;
  ObjectWriter w(out);
  w.String("role", RoleName(c.role));
  w.String("config_file", c.config_file);
  w.Key("eal");
  Eal(out, c.eal);
  w.Key("group");
  Group(out, c.group);
  w.Key(RoleName(c.role));
  switch (c.role) {
    case Role::kPrimary: Primary(out, c.primary); break;
    case Role::kVhost: Vhost(out, c.vhost); break;
    case Role::kSwitching: Switching(out, c.switching); break;
    case Role::kMonitor: Monitor(out, c.monitor); break;
  }
  w.Close();
  return out;
}

}  // namespace vswitch
