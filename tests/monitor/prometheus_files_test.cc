// deploy/prometheus as an operator installs it: promtool accepts the scrape config and the
// alert rules, the rule unit tests pass, and the rules, the dashboard and docs/metrics.md
// name only metrics vswitch-monitor exports (a renamed metric must not leave a silent
// alert or an empty panel behind).
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <set>
#include <string>

#include "metric_names.h"
#include "process.h"
#include "test_env.h"

namespace vswitch::test {
namespace {

std::string Deploy(const std::string& file) { return SourceDir() + "/deploy/prometheus/" + file; }

std::set<std::string> MetricNamesIn(const std::string& text) {
  static const std::regex kName("vswitch_[a-z0-9_]+");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kName); it != std::sregex_iterator(); ++it) {
    out.insert(it->str());
  }
  return out;
}

bool Exported(const std::string& name) {
  return std::find(metrics::kAll.begin(), metrics::kAll.end(), name) != metrics::kAll.end();
}

TEST(PrometheusFilesTest, PromtoolAcceptsScrapeConfigAndRules) {
  const CommandResult config = RunCommand({"promtool", "check", "config", Deploy("prometheus.yml")});
  EXPECT_EQ(config.exit_code, 0) << config.output;
  const CommandResult rules = RunCommand({"promtool", "check", "rules", Deploy("alerts.yml")});
  EXPECT_EQ(rules.exit_code, 0) << rules.output;
  EXPECT_NE(rules.output.find("SUCCESS: 7 rules found"), std::string::npos) << rules.output;
}

TEST(PrometheusFilesTest, AlertRuleUnitTestsPass) {
  const CommandResult r = RunCommand({"promtool", "test", "rules", Deploy("alerts_test.yml")});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("SUCCESS"), std::string::npos) << r.output;
}

TEST(PrometheusFilesTest, AlertsCoverDownDropsAndPool) {
  const std::string rules = ReadFile(Deploy("alerts.yml"));
  for (const char* alert : {"VswitchSecondaryDown", "VswitchMonitorDown", "VswitchDeviceDropsRising",
                            "VswitchPortDropsRising", "VswitchMbufPoolNearlyEmpty", "VswitchGuestMemoryFault"}) {
    EXPECT_NE(rules.find(std::string("alert: ") + alert), std::string::npos) << alert;
    EXPECT_NE(ReadFile(Deploy("alerts_test.yml")).find(std::string("alertname: ") + alert), std::string::npos)
        << alert << " has no unit test";
  }
}

TEST(PrometheusFilesTest, RulesAndDashboardNameOnlyExportedMetrics) {
  for (const char* file : {"alerts.yml", "alerts_test.yml", "grafana-dashboard.json"}) {
    const std::set<std::string> names = MetricNamesIn(ReadFile(Deploy(file)));
    EXPECT_FALSE(names.empty()) << file;
    for (const auto& n : names) EXPECT_TRUE(Exported(n)) << file << " names " << n << ", which the monitor does not export";
  }
}

TEST(PrometheusFilesTest, DashboardIsValidJsonWithQueries) {
  const CommandResult r = RunCommand(
      {"jq", "-r", "[.panels[].targets[].expr] | length", Deploy("grafana-dashboard.json")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GE(std::stoi(r.output), 12);
}

TEST(PrometheusFilesTest, EveryMetricIsDocumented) {
  const std::string doc = ReadFile(SourceDir() + "/docs/metrics.md");
  ASSERT_FALSE(doc.empty());
  for (std::string_view name : metrics::kAll) {
    EXPECT_NE(doc.find("`" + std::string(name) + "`"), std::string::npos) << name << " is not in docs/metrics.md";
  }
  // Every table row documents a metric that exists.
  static const std::regex kRow("\\| `(vswitch_[a-z0-9_]+)`");
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), kRow); it != std::sregex_iterator(); ++it) {
    EXPECT_TRUE(Exported((*it)[1].str())) << "docs/metrics.md documents " << (*it)[1].str();
  }
}

}  // namespace
}  // namespace vswitch::test
