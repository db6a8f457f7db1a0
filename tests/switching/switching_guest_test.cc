// A real Linux guest (the Debian cloud kernel's virtio_net under QEMU, tests/peers/guest)
// pings a host on VLAN 1000 behind the port. The host is a scapy responder on the port's
// tap interface (this machine's kernel has no 802.1Q subinterfaces): it answers the
// guest's tagged ARP and ICMP echo requests, and asks the guest for its own MAC once. ARP
// and ICMP cross vhost, switching and the port in both directions.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>
#include <sstream>

#include "process.h"
#include "test_env.h"
#include "guest_console.h"
#include "test_group.h"

namespace vswitch::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kGuestMac = "52:54:00:00:00:14";

int Lines(const std::string& text, const std::string& start) {
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += line.rfind(start, 0) == 0 ? 1 : 0;
  return n;
}

// The host 10.0.0.1 / 02:00:00:00:00:99 on VLAN 1000.
constexpr const char* kResponder = R"PY(
import sys
from scapy.all import sniff, sendp, Ether, Dot1Q, ARP, IP, ICMP
iface, me_mac, me_ip = sys.argv[1], '02:00:00:00:00:99', '10.0.0.1'
asked = False
def handle(p):
    global asked
    if p.src == me_mac or Dot1Q not in p:
        return
    if p[Dot1Q].vlan != 1000:
        print('WRONG-VLAN', p[Dot1Q].vlan, flush=True)
        return
    if ARP in p and p[ARP].op == 1 and p[ARP].pdst == me_ip:
        print('ARP-REQUEST', p[ARP].psrc, p.src, flush=True)
        sendp(Ether(src=me_mac, dst=p.src) / Dot1Q(vlan=1000) /
              ARP(op=2, hwsrc=me_mac, psrc=me_ip, hwdst=p[ARP].hwsrc, pdst=p[ARP].psrc),
              iface=iface, verbose=False)
    elif ARP in p and p[ARP].op == 2 and p[ARP].pdst == me_ip:
        print('ARP-REPLY', p[ARP].psrc, p[ARP].hwsrc, flush=True)
    elif ICMP in p and p[ICMP].type == 8 and p[IP].dst == me_ip:
        print('ECHO-REQUEST', p[IP].src, p[ICMP].seq, flush=True)
        sendp(Ether(src=me_mac, dst=p.src) / Dot1Q(vlan=1000) /
              IP(src=me_ip, dst=p[IP].src) / ICMP(type=0, id=p[ICMP].id, seq=p[ICMP].seq) /
              p[ICMP].payload, iface=iface, verbose=False)
        if not asked:
            asked = True
            sendp(Ether(src=me_mac, dst='ff:ff:ff:ff:ff:ff') / Dot1Q(vlan=1000) /
                  ARP(op=1, hwsrc=me_mac, psrc=me_ip, pdst=p[IP].src), iface=iface, verbose=False)
sniff(iface=iface, prn=handle, store=False, started_callback=lambda: print('LISTENING', flush=True))
)PY";

TEST(SwitchingGuestTest, LinuxGuestPingsAHostOnVlan1000BehindThePort) {
  TestGroup group;
  const CommandResult up = group.Vswitch({"up"});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  ASSERT_TRUE(group.TapUp());
  const std::string responder_log = group.dir() / "responder.log";
  Process responder({"/usr/bin/python3", "-u", "-c", kResponder, group.iface()}, responder_log);
  ASSERT_TRUE(WaitFor([&] { return ReadFile(responder_log).find("LISTENING") != std::string::npos; }, 20s))
      << ReadFile(responder_log);

  const std::string console = group.dir() / "guest.console";
  Process guest({SourceDir() + "/tests/peers/guest/run-guest.sh", "--socket", group.socket(0), "--mac",
                 kGuestMac, "--console", console, "--timeout", "150", "--append",
                 "vsw.ip=10.0.0.2/24 vsw.ping=10.0.0.1 vsw.count=5 vsw.ping_interval=0.3 vsw.wait=2"},
                group.dir() / "qemu.log");
  ASSERT_TRUE(WaitFor([&] { return ReadFile(console).find("VSW-DONE") != std::string::npos; }, 150s))
      << ReadFile(console) << guest.Log() << group.Log("switching");
  const std::string text = ReadFile(console);
  const std::string heard = ReadFile(responder_log);

  EXPECT_EQ(ConsoleValue(text, "VSW-PING", "transmitted"), 5) << text;
  EXPECT_EQ(ConsoleValue(text, "VSW-PING", "received"), 5) << text << heard << group.Log("switching");
  // The guest's frames left tagged 1000 and the host's tagged replies came back untagged.
  EXPECT_GE(Lines(heard, "ARP-REQUEST 10.0.0.2 52:54:00:00:00:14"), 1) << heard;
  EXPECT_EQ(Lines(heard, "ECHO-REQUEST 10.0.0.2"), 5) << heard;
  EXPECT_EQ(Lines(heard, "ARP-REPLY 10.0.0.2 52:54:00:00:00:14"), 1) << "the guest answered the host's ARP" << heard;
  EXPECT_EQ(Lines(heard, "WRONG-VLAN"), 0) << heard;
  EXPECT_NE(group.Log("switching").find("VHOST_DATA: (0) mac 52:54:00:00:00:14 and vlan 1000 registered"),
            std::string::npos) << group.Log("switching");
  EXPECT_TRUE(guest.Wait(30s).has_value()) << "the guest powers off by itself";
  // destroy_device: the MAC leaves the table with the guest.
  EXPECT_TRUE(WaitFor([&] { return group.Status(".devices[0].mac") == "null"; }, 10s));
  EXPECT_NE(group.Log("switching").find("mac 52:54:00:00:00:14 and vlan 1000 unregistered: the device was destroyed"),
            std::string::npos) << group.Log("switching");
  responder.Stop(SIGTERM, 5s);
}

}  // namespace
}  // namespace vswitch::test
