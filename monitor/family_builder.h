// Builds one prometheus::MetricFamily sample by sample. Collect() builds fresh families on
// every scrape, so nothing is registered per device in advance and every value comes from
// where it lives (shared memory, DPDK), never from a copy kept by this process.
#pragma once

#include <prometheus/metric_family.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vswitch {

using MetricLabels = std::vector<prometheus::ClientMetric::Label>;

class FamilyBuilder {
 public:
  FamilyBuilder(std::string_view name, std::string_view help, prometheus::MetricType type) {
    family_.name = name;
    family_.help = help;
    family_.type = type;
  }

  void Add(MetricLabels labels, double value) {
    prometheus::ClientMetric m;
    m.label = std::move(labels);
    switch (family_.type) {
      case prometheus::MetricType::Counter: m.counter.value = value; break;
      case prometheus::MetricType::Gauge: m.gauge.value = value; break;
      default: m.untyped.value = value; break;
    }
    family_.metric.push_back(std::move(m));
  }
  void Add(MetricLabels labels, uint64_t value) { Add(std::move(labels), static_cast<double>(value)); }

  // Appends the family to `out` when it has samples (a family without samples would be
  // HELP and TYPE lines alone, which some parsers reject).
  void MoveTo(std::vector<prometheus::MetricFamily>& out) {
    if (!family_.metric.empty()) out.push_back(std::move(family_));
  }

 private:
  prometheus::MetricFamily family_;
};

inline FamilyBuilder CounterFamily(std::string_view name, std::string_view help) {
  return FamilyBuilder(name, help, prometheus::MetricType::Counter);
}
inline FamilyBuilder GaugeFamily(std::string_view name, std::string_view help) {
  return FamilyBuilder(name, help, prometheus::MetricType::Gauge);
}

}  // namespace vswitch
