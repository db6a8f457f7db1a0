#include "config.h"

#include <gtest/gtest.h>

#include "cpu_placement.h"
#include "test_env.h"

namespace vswitch {
namespace {

using test::TempDir;
using test::WriteFile;

ParseResult Parse(Role role, std::vector<std::string> args) { return ParseConfig(role, args); }

TEST(ConfigTest, DefaultsRunOnAnyMachine) {
  const ParseResult r = Parse(Role::kPrimary, {});
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_TRUE(r.run);
  EXPECT_EQ(r.config.primary.port, "net_tap0,iface=vsw0");
  EXPECT_EQ(r.config.eal.file_prefix, "vswitch");
  const ParseResult v = Parse(Role::kVhost, {});
  EXPECT_EQ(v.config.vhost.socket_files,
            (std::vector<std::string>{"/run/vswitch/vm0.sock", "/run/vswitch/vm1.sock"}));
  EXPECT_FALSE(v.config.vhost.client);
  EXPECT_EQ(Parse(Role::kMonitor, {}).config.monitor.metrics_listen, "127.0.0.1:9469");
  EXPECT_EQ(Parse(Role::kSwitching, {}).config.switching.vm2vm, 1u);
}

TEST(ConfigTest, HelpAndVersionExitZeroWithoutRunning) {
  const ParseResult h = Parse(Role::kVhost, {"--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_FALSE(h.run);
  EXPECT_NE(h.message.find("--socket-file"), std::string::npos);
  EXPECT_NE(h.message.find("--mergeable"), std::string::npos);
  const ParseResult v = Parse(Role::kSwitching, {"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_FALSE(v.run);
  EXPECT_NE(v.message.find("vswitch-switching 0."), std::string::npos);
}

TEST(ConfigTest, UnknownOptionIsExitTwoNamingIt) {
  const ParseResult r = Parse(Role::kVhost, {"--no-such-thing"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.message.find("--no-such-thing"), std::string::npos) << r.message;
  // Another role's option is unknown here too.
  EXPECT_EQ(Parse(Role::kVhost, {"--vm2vm", "1"}).exit_code, 2);
}

struct BadValue {
  Role role;
  std::vector<std::string> args;
  std::string names;  // the message must name this option
};

class BadValueTest : public testing::TestWithParam<BadValue> {};

TEST_P(BadValueTest, ExitTwoWithOneLineNamingTheOption) {
  const ParseResult r = ParseConfig(GetParam().role, GetParam().args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(r.run);
  EXPECT_NE(r.message.find(GetParam().names), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find('\n'), r.message.size() - 1) << "one line: " << r.message;
}

INSTANTIATE_TEST_SUITE_P(
    EveryRange, BadValueTest,
    testing::Values(
        BadValue{Role::kPrimary, {"--mtu", "67"}, "--mtu: 67 is out of range (allowed: auto or 68-65535)"},
        BadValue{Role::kPrimary, {"--mtu", "65536"}, "--mtu"},
        BadValue{Role::kPrimary, {"--mtu", "99999999999"}, "--mtu"},
        BadValue{Role::kPrimary, {"--mtu", "jumbo"}, "--mtu: 'jumbo' is not an MTU"},
        BadValue{Role::kPrimary, {"--mtu", ""}, "--mtu"},
        BadValue{Role::kVhost, {"--mergeable", "2"}, "--mergeable"},
        BadValue{Role::kVhost, {"--mergeable", "yes"}, "mergeable"},
        BadValue{Role::kVhost, {"--tso", "5"}, "--tso"},
        BadValue{Role::kVhost, {"--packed", "2"}, "--packed: 2"},
        BadValue{Role::kVhost, {"--tx-csum", "9"}, "--tx-csum"},
        BadValue{Role::kVhost, {"--socket-mode", "999"}, "--socket-mode"},
        BadValue{Role::kVhost, {"--socket-file", std::string(200, 'x')}, "--socket-file"},
        BadValue{Role::kVhost, {"--socket-file", "/a", "--socket-file", "/a"}, "given twice"},
        BadValue{Role::kSwitching, {"--vm2vm", "3"}, "--vm2vm"},
        BadValue{Role::kSwitching, {"--rx-retry", "2"}, "--rx-retry"},
        BadValue{Role::kSwitching, {"--rx-retry-num", "0"}, "--rx-retry-num"},
        BadValue{Role::kSwitching, {"--rx-retry-delay", "0"}, "--rx-retry-delay"},
        BadValue{Role::kSwitching, {"--stats", "-1"}, "stats"},
        BadValue{Role::kPrimary, {"--max-devices", "65"}, "--max-devices"},
        BadValue{Role::kPrimary, {"--max-devices", "0"}, "--max-devices"},
        BadValue{Role::kPrimary, {"--ring-size", "1000"}, "--ring-size"},
        BadValue{Role::kPrimary, {"--mbufs", "10"}, "--mbufs"},
        BadValue{Role::kPrimary, {"--mbuf-cache", "513"}, "--mbuf-cache"},
        BadValue{Role::kPrimary, {"--rx-desc", "8"}, "--rx-desc"},
        BadValue{Role::kPrimary, {"--heartbeat-timeout-ms", "1"}, "--heartbeat-timeout-ms"},
        BadValue{Role::kPrimary, {"--port", ""}, "--port"},
        BadValue{Role::kPrimary, {"--vhost-cpu", "4096"}, "--vhost-cpu"},
        BadValue{Role::kPrimary, {"--vhost-cpu", "99999999999999999999"}, "--vhost-cpu"},
        BadValue{Role::kVhost, {"--switching-cpu", "foo"}, "--switching-cpu: 'foo' is not a CPU"},
        BadValue{Role::kSwitching, {"--monitor-cpu=-1"}, "--monitor-cpu"},
        BadValue{Role::kMonitor, {"--primary-cpu", "1x"}, "--primary-cpu"},
        BadValue{Role::kMonitor, {"--primary-cpu", "AUTO"}, "--primary-cpu"},
        BadValue{Role::kPrimary, {"--file-prefix", "a/b"}, "--file-prefix"},
        BadValue{Role::kPrimary, {"--log-level", "loud"}, "--log-level"},
        BadValue{Role::kPrimary, {"--run-dir", "relative"}, "--run-dir"},
        BadValue{Role::kMonitor, {"--metrics-listen", "localhost"}, "--metrics-listen"},
        BadValue{Role::kMonitor, {"--metrics-listen", "127.0.0.1:70000"}, "--metrics-listen"},
        BadValue{Role::kMonitor, {"--config", "/nonexistent/vswitch.conf"}, "--config"}));

TEST(ConfigTest, IniSectionsAndCommandLineOverride) {
  TempDir dir;
  const std::string file = dir / "g.conf";
  WriteFile(file,
            "[eal]\nfile-prefix = grp\nvhost-cpu = 0\n"
            "[group]\nrun-dir = /tmp/x\n"
            "[primary]\nport = 0000:01:00.0\n"
            "[vhost]\nsocket-file = /s/a.sock\nsocket-file = /s/b.sock\nclient = true\nmergeable = 1\n"
            "[switching]\nvm2vm = 2\n"
            "[monitor]\nmetrics-listen = 127.0.0.1:9999\n");
  const ParseResult v = Parse(Role::kVhost, {"--config", file, "--mergeable", "0"});
  ASSERT_EQ(v.exit_code, 0) << v.message;
  EXPECT_EQ(v.config.eal.file_prefix, "grp");
  EXPECT_EQ(v.config.eal.cpu[static_cast<size_t>(Role::kVhost)], 0);
  EXPECT_EQ(v.config.group.run_dir, "/tmp/x");
  EXPECT_EQ(v.config.vhost.socket_files, (std::vector<std::string>{"/s/a.sock", "/s/b.sock"}));
  EXPECT_TRUE(v.config.vhost.client);
  EXPECT_EQ(v.config.vhost.mergeable, 0u) << "the command line wins over the file";
  EXPECT_EQ(v.config.vhost.packed, 0u) << "packed rings are off unless asked for";
  EXPECT_EQ(Parse(Role::kVhost, {"--packed", "1"}).config.vhost.packed, 1u);
  // Each role reads its own section and ignores the others'.
  EXPECT_EQ(Parse(Role::kSwitching, {"--config", file}).config.switching.vm2vm, 2u);
  EXPECT_EQ(Parse(Role::kMonitor, {"--config", file}).config.monitor.metrics_listen, "127.0.0.1:9999");
  EXPECT_EQ(Parse(Role::kPrimary, {"--config", file}).config.primary.port, "0000:01:00.0");
  // A command-line socket list replaces the file's.
  const ParseResult c = Parse(Role::kVhost, {"--config", file, "--socket-file", "/only.sock"});
  EXPECT_EQ(c.config.vhost.socket_files, std::vector<std::string>{"/only.sock"});
}

TEST(ConfigTest, CpusAreAutoByDefaultAndPlacedFromTheAffinityMask) {
  const auto expected = PlaceRoles(AllowedCpus());
  for (Role role : kAllRoles) {
    const ParseResult r = Parse(role, {});
    ASSERT_EQ(r.exit_code, 0) << r.message;
    for (Role each : kAllRoles) {
      const size_t i = static_cast<size_t>(each);
      EXPECT_TRUE(r.config.eal.cpu_auto[i]) << RoleName(each);
      EXPECT_EQ(r.config.eal.cpu[i], static_cast<int>(expected[i])) << RoleName(each);
    }
  }
}

TEST(ConfigTest, AnExplicitCpuWinsOverAuto) {
  TempDir dir;
  const std::string file = dir / "cpu.conf";
  WriteFile(file, "[eal]\nvhost-cpu = 0\nswitching-cpu = auto\n");
  const ParseResult r = Parse(Role::kSwitching, {"--config", file, "--monitor-cpu", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.message;
  const auto expected = PlaceRoles(AllowedCpus());
  const auto& eal = r.config.eal;
  EXPECT_EQ(eal.cpu[static_cast<size_t>(Role::kVhost)], 0);
  EXPECT_FALSE(eal.cpu_auto[static_cast<size_t>(Role::kVhost)]);
  EXPECT_EQ(eal.cpu[static_cast<size_t>(Role::kMonitor)], 0);
  EXPECT_FALSE(eal.cpu_auto[static_cast<size_t>(Role::kMonitor)]);
  // The others stay where auto puts them, whatever the explicit ones chose.
  EXPECT_TRUE(eal.cpu_auto[static_cast<size_t>(Role::kSwitching)]);
  EXPECT_EQ(eal.cpu[static_cast<size_t>(Role::kSwitching)],
            static_cast<int>(expected[static_cast<size_t>(Role::kSwitching)]));
  EXPECT_EQ(eal.cpu[static_cast<size_t>(Role::kPrimary)],
            static_cast<int>(expected[static_cast<size_t>(Role::kPrimary)]));
  // The command line's auto overrides the file's number.
  const ParseResult a = Parse(Role::kVhost, {"--config", file, "--vhost-cpu", "auto"});
  ASSERT_EQ(a.exit_code, 0) << a.message;
  EXPECT_TRUE(a.config.eal.cpu_auto[static_cast<size_t>(Role::kVhost)]);
}

TEST(ConfigTest, ABadCpuInTheFileNamesTheOption) {
  TempDir dir;
  const std::string file = dir / "cpu.conf";
  WriteFile(file, "[eal]\nswitching-cpu = foo\n");
  // Every role reads [eal], so every role refuses it.
  for (Role role : kAllRoles) {
    const ParseResult r = Parse(role, {"--config", file});
    EXPECT_EQ(r.exit_code, 2) << RoleName(role);
    EXPECT_NE(r.message.find("--switching-cpu: 'foo' is not a CPU number (allowed: auto or 0-"),
              std::string::npos)
        << r.message;
  }
}

TEST(ConfigTest, TheShippedConfigIsValidForEveryRole) {
  const std::string file = test::SourceDir() + "/deploy/vswitch.conf";
  for (Role role : kAllRoles) {
    const ParseResult r = Parse(role, {"--config", file, "--check-config"});
    EXPECT_EQ(r.exit_code, 0) << RoleName(role) << ": " << r.message;
    EXPECT_NE(r.message.find("configuration OK"), std::string::npos);
  }
}

TEST(ConfigTest, IniErrorsNameFileSectionAndKey) {
  TempDir dir;
  const std::string file = dir / "bad.conf";
  WriteFile(file, "[vhost]\nmergable = 1\n");
  ParseResult r = Parse(Role::kVhost, {"--config", file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.message.find("unknown key 'mergable' in [vhost]"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find(file), std::string::npos);
  // Another role's typo is that role's to report.
  EXPECT_EQ(Parse(Role::kMonitor, {"--config", file}).exit_code, 0);

  WriteFile(file, "[switch]\nvm2vm = 1\n");
  r = Parse(Role::kSwitching, {"--config", file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.message.find("unknown section [switch]"), std::string::npos) << r.message;

  WriteFile(file, "[switching]\nvm2vm = 7\n");
  r = Parse(Role::kSwitching, {"--config", file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.message.find("--vm2vm"), std::string::npos) << r.message;

  WriteFile(file, "[switching]\nvm2vm = one\n");
  r = Parse(Role::kSwitching, {"--config", file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.message.find("vm2vm"), std::string::npos) << r.message;

  WriteFile(file, "[switching]\nvm2vm = 1\nvm2vm = 2\n");
  r = Parse(Role::kSwitching, {"--config", file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.message.find("vm2vm"), std::string::npos) << r.message;
}

TEST(ConfigTest, VlanStripIsAcceptedOnlyToSayItWasRemoved) {
  const ParseResult r = Parse(Role::kSwitching, {"--vlan-strip", "1"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.run);
  EXPECT_NE(r.message.find("--vlan-strip was removed"), std::string::npos) << r.message;
}

TEST(ConfigTest, PortMtuIsAutoOrANumber) {
  EXPECT_EQ(Parse(Role::kPrimary, {}).config.primary.mtu, 0u) << "auto";
  EXPECT_EQ(Parse(Role::kPrimary, {"--mtu", "auto"}).config.primary.mtu, 0u);
  EXPECT_EQ(Parse(Role::kPrimary, {"--mtu", "9000"}).config.primary.mtu, 9000u);
  TempDir dir;
  const std::string file = dir / "m.conf";
  WriteFile(file, "[primary]\nmtu = 4000\n[vhost]\nmergeable = 1\n");
  const ParseResult r = Parse(Role::kPrimary, {"--config", file, "--print-config"});
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_NE(r.message.find("\"mtu\":4000"), std::string::npos) << r.message;
  const ParseResult a = Parse(Role::kPrimary, {"--print-config"});
  EXPECT_NE(a.message.find("\"mtu\":\"auto\""), std::string::npos) << a.message;
  // [primary] mtu is the primary's: vhost does not know it.
  EXPECT_EQ(Parse(Role::kVhost, {"--mtu", "9000"}).exit_code, 2);
}

TEST(ConfigTest, SocketModeIsOctal) {
  const ParseResult r = Parse(Role::kVhost, {"--socket-mode", "0600"});
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.config.vhost.socket_mode, 0600u);
}

TEST(ConfigTest, PrintConfigIsTheResolvedConfigurationAsJson) {
  TempDir dir;
  const std::string file = dir / "p.conf";
  WriteFile(file,
            "[eal]\nfile-prefix = grp # an inline comment\nvhost-cpu = 0\n"
            "[group]\nrun-dir = /tmp/x\n"
            "[vhost]\nsocket-file = /s/a\"b.sock\nsocket-file = /s/c.sock\nclient = true\n");
  const ParseResult r = Parse(Role::kVhost, {"--config", file, "--print-config", "--tso", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.message;
  EXPECT_FALSE(r.run);
  const std::string& j = r.message;
  EXPECT_EQ(j.front(), '{');
  EXPECT_EQ(j.substr(j.size() - 2), "}\n") << "stdout carries the JSON alone";
  EXPECT_NE(j.find("\"file-prefix\":\"grp\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"vhost-cpu\":0"), std::string::npos) << j;
  EXPECT_NE(j.find("\"run-dir\":\"/tmp/x\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"log-dir\":\"/var/log/vswitch\""), std::string::npos) << "defaults too: " << j;
  EXPECT_NE(j.find("\"socket-file\":[\"/s/a\\\"b.sock\",\"/s/c.sock\"]"), std::string::npos) << j;
  EXPECT_NE(j.find("\"client\":true"), std::string::npos) << j;
  EXPECT_NE(j.find("\"tso\":1"), std::string::npos) << "the command line wins: " << j;
  EXPECT_NE(j.find("\"socket-mode\":\"0660\""), std::string::npos) << j;
  EXPECT_EQ(j.find("\"switching\""), std::string::npos) << "only this role's section: " << j;
  // A bad configuration prints no JSON: the usual one-line error, exit 2.
  const ParseResult bad = Parse(Role::kVhost, {"--config", file, "--print-config", "--tso", "3"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.message.find("--tso"), std::string::npos) << bad.message;
}

TEST(ConfigTest, SemicolonIsNotACommentAndSaysSo) {
  TempDir dir;
  const std::string file = dir / "semi.conf";
  WriteFile(file, "[eal]\n; log-level = debug\n");
  ParseResult r = Parse(Role::kMonitor, {"--config", file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.message.find("comments start with '#', not ';'"), std::string::npos) << r.message;
  WriteFile(file, "[eal]\n; just words\n");
  r = Parse(Role::kMonitor, {"--config", file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.message.find("comments start with '#', not ';'"), std::string::npos) << r.message;
}

TEST(ConfigTest, SplitHostPort) {
  std::string host;
  unsigned port = 0;
  EXPECT_TRUE(SplitHostPort("127.0.0.1:9469", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 9469u);
  EXPECT_TRUE(SplitHostPort("[::1]:80", &host, &port));
  EXPECT_EQ(host, "[::1]");
  EXPECT_FALSE(SplitHostPort(":80", &host, &port));
  EXPECT_FALSE(SplitHostPort("a:", &host, &port));
  EXPECT_FALSE(SplitHostPort("a:0", &host, &port));
  EXPECT_FALSE(SplitHostPort("a:12x", &host, &port));
}

}  // namespace
}  // namespace vswitch
