#include "port_metrics.h"

#include "family_builder.h"
#include "metric_names.h"

namespace vswitch {

void AppendPortMetrics(const PortReading& reading, std::vector<prometheus::MetricFamily>& out) {
  const MetricLabels labels = {{"port", reading.port}};
  if (reading.stats) {
    const rte_eth_stats& s = *reading.stats;
    struct Stat {
      std::string_view name;
      std::string_view help;
      uint64_t value;
    };
    const Stat stats[] = {
        {metrics::kPortRxPackets,
         "Packets the port received and handed to a reader of its RX queues (ethdev "
         "ipackets). Flat while traffic arrives means nobody polls the port (is "
         "vswitch-switching up?).",
         s.ipackets},
        {metrics::kPortRxBytes, "Bytes the port received (ethdev ibytes).", s.ibytes},
        {metrics::kPortTxPackets, "Packets the port transmitted (ethdev opackets).", s.opackets},
        {metrics::kPortTxBytes, "Bytes the port transmitted (ethdev obytes).", s.obytes},
        {metrics::kPortRxMissed,
         "Packets the NIC dropped because its RX queues were full (ethdev imissed). Rising "
         "means vswitch-switching does not poll the port fast enough.",
         s.imissed},
        {metrics::kPortRxErrors,
         "Erroneous packets the port received (ethdev ierrors): bad CRC, bad length; rising "
         "points at the cable, the peer or the MTU.",
         s.ierrors},
        {metrics::kPortTxErrors,
         "Packets the port failed to transmit (ethdev oerrors).", s.oerrors},
        {metrics::kPortRxNoMbuf,
         "Times the port could not receive because the mbuf pool was empty (ethdev "
         "rx_nombuf). Any rise means the pool is exhausted: see vswitch_mbuf_pool_available.",
         s.rx_nombuf},
    };
    for (const Stat& st : stats) {
      auto f = CounterFamily(st.name, st.help);
      f.Add(labels, st.value);
      f.MoveTo(out);
    }
  }
  auto x = CounterFamily(metrics::kPortXstats,
                   "The port driver's extended statistics (rte_eth_xstats_get), one series per "
                   "xstat name. Error and drop xstats rising name the NIC-level cause of loss.");
  for (const auto& [name, value] : reading.xstats) {
    x.Add({{"port", reading.port}, {"xstat", name}}, value);
  }
  x.MoveTo(out);
  if (reading.link_up) {
    auto link = GaugeFamily(metrics::kPortLinkUp,
                      "1 while the port's link is up. 0 cuts every VM off the outside network.");
    link.Add(labels, *reading.link_up ? 1.0 : 0.0);
    link.MoveTo(out);
  }
}

}  // namespace vswitch
