#!/bin/bash
# The whole vswitch group against OVS-DPDK, same cores, same run, interleaved.
#
#   bench/group-bench.sh BUILD_A [BUILD_B]      (root; see docs/benchmarks.md)
#   env: ROUNDS=3 SECS=10 WARMUP=2 IDLE_SECS=5 CELLS="1-64 32-64 ..." LAYOUTS="shared separate"
#        OUT=docs/benchmarks.md SET_A="switching.direct-vm2vm=0" SET_B="..."
#
# The loop: one dpdk-testpmd holds two guests, DPDK virtio-user ports with MACs
# $MAC0 (port 0, socket vm0) and $MAC1 (port 1, socket vm1), in server mode (server=1);
# both switches connect to them as vhost-user clients (OVS: dpdkvhostuserclient ports;
# vswitch: [vhost] client = true), so the peer command is the same for every switch.
# testpmd forwards in io mode (frames are not rewritten) on lcore 0; --eth-peer makes the
# frames each port sends at "start tx_first" go to the other guest's MAC, and io sends
# what port 0 receives out of port 1 and vice versa, so every frame enters the switch
# from the same guest each time, addressed to the other guest: guest -> switch -> other
# guest -> (testpmd, same process) -> the first guest's port again. One switch crossing
# per loop; the switch must learn both MACs and forward by MAC (checked after every run).
#
# A cell is BURST-SIZE: testpmd --burst BURST (start tx_first puts BURST frames per guest
# in the loop; the run checks it) and SIZE-byte Ethernet frames counted as RFC 2544 does,
# with the 4-byte FCS that virtio does not carry: --txpkts SIZE-4 (64 -> 60, 1518 -> 1514;
# a 1518-byte --txpkts is over a 1500 MTU, vswitch drops it as oversize). The figure:
# testpmd's per-second Rx-pps summed over both ports, median of the samples after WARMUP s;
# a cell's figure is the median over rounds. Each round runs every cell once per switch,
# rotating which switch goes first. A second build (BUILD_B) adds a column: before/after
# in one run.
#
# SET_A / SET_B: space-separated SECTION.KEY=VALUE settings added to that build's group
# config (A/B runs of one build with an option on and off, or two builds with one setting);
# a key this script already sets is refused by the binaries as given twice.
#
# Layouts: "shared": testpmd forwards on CPU 0, the switch (OVS's PMD; vswitch's vhost and
# switching) polls CPU 1, vswitch's primary and monitor on CPU 0. "separate" (>= 4 CPUs
# only): testpmd on CPU 0, vhost on CPU 1 and switching on CPU 2 (OVS: two PMDs, CPUs 1
# and 2), the rest on CPU 3.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

usage() {
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
die() { echo "group-bench: $*" >&2; exit 2; }
say() { echo "group-bench: $*" >&2; }

(($# >= 1 && $# <= 2)) || usage
[[ $1 == -h || $1 == --help ]] && usage
[[ $(id -u) -eq 0 ]] || die "needs root (hugepages, vhost-user sockets, taps)"

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
WARMUP=${WARMUP:-2}
IDLE_SECS=${IDLE_SECS:-5}
CELLS=${CELLS:-"1-64 32-64 256-64 1-1518 32-1518 256-1518"}
LAYOUTS=${LAYOUTS:-"shared separate"}
OUT=${OUT:-$root/docs/benchmarks.md}
for v in ROUNDS SECS IDLE_SECS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive number (got '${!v}')"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a number of seconds (got '$WARMUP')"
for c in $CELLS; do
  [[ $c =~ ^[0-9]+-[0-9]+$ ]] || die "bad cell '$c' (BURST-SIZE, e.g. 32-64)"
  b=${c%-*} s=${c#*-}
  ((b >= 1 && b <= 512)) || die "cell $c: burst must be 1-512"
  ((s >= 64 && s <= 1518)) || die "cell $c: size must be 64-1518"
done
for l in $LAYOUTS; do [[ $l == shared || $l == separate ]] || die "bad layout '$l' (shared, separate)"; done
declare -A SETTINGS=([A]=${SET_A:-} [B]=${SET_B:-})
for l in A B; do
  for kv in ${SETTINGS[$l]}; do
    [[ $kv =~ ^[a-z]+\.[a-z0-9-]+=[^[:space:]]+$ ]] || die "SET_$l: bad setting '$kv' (SECTION.KEY=VALUE, e.g. switching.direct-vm2vm=1)"
  done
done

# ---- what we run --------------------------------------------------------------------
LABELS=(A B)
declare -A BUILD COMMIT
SWITCHES=(ovs)
i=0
for b in "$@"; do
  d=$(cd "$b" 2>/dev/null && pwd) || die "build dir '$b' does not exist"
  for bin in primary/vswitch-primary secondary/vhost/vswitch-vhost \
             secondary/switching/vswitch-switching monitor/vswitch-monitor; do
    [[ -x $d/$bin ]] || die "$d/$bin is missing: cmake --build $d"
  done
  l=${LABELS[$i]}
  BUILD[$l]=$d
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$d/CMakeCache.txt" 2>/dev/null)
  # The checkout's HEAD and the last commit that touched the group's sources (a branch
  # that only changed bench/ or docs/ runs the same binaries as that commit).
  g=(primary secondary shared monitor CMakeLists.txt cmake)
  c=$(git -C "${src:-$d}" rev-parse --short HEAD 2>/dev/null || echo unknown)
  c+=", group sources at $(git -C "${src:-$d}" log -1 --format=%h -- "${g[@]}" 2>/dev/null || echo unknown)"
  [[ -n $(git -C "${src:-$d}" status --porcelain --untracked-files=no -- "${g[@]}" 2>/dev/null) ]] && c+=" + uncommitted changes"
  [[ -n ${SETTINGS[$l]} ]] && c+="; settings: ${SETTINGS[$l]}"
  COMMIT[$l]=$c
  SWITCHES+=("$l")
  i=$((i + 1))
done
[[ -z ${BUILD[B]:-} || ${BUILD[A]} != "${BUILD[B]}" || ${SETTINGS[A]} != "${SETTINGS[B]}" ]] ||
  say "BUILD_A and BUILD_B are the same directory with the same settings (an A/A run: the spread between equal builds)"

OVS_VSWITCHD=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
OVS_SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
# Install what is missing (Debian 12 package names); never touch what is there.
need_pkgs=()
command -v dpdk-testpmd >/dev/null || need_pkgs+=(dpdk)
[[ -x $OVS_VSWITCHD && -r $OVS_SCHEMA ]] || need_pkgs+=(openvswitch-switch-dpdk)
for t in ovsdb-tool ovsdb-server ovs-vsctl ovs-appctl ovs-ofctl; do
  command -v $t >/dev/null || { need_pkgs+=(openvswitch-switch-dpdk); break; }
done
command -v jq >/dev/null || need_pkgs+=(jq)
command -v gnuplot >/dev/null || need_pkgs+=(gnuplot-nox)
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v stdbuf >/dev/null || need_pkgs+=(coreutils)
[[ -x /usr/bin/python3 ]] || need_pkgs+=(python3)
if ((${#need_pkgs[@]})); then
  mapfile -t need_pkgs < <(printf '%s\n' "${need_pkgs[@]}" | sort -u)
  say "installing ${need_pkgs[*]} (apt-get)"
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null || say "apt-get update failed; trying the install anyway"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${need_pkgs[@]}" >/dev/null ||
    die "apt-get install ${need_pkgs[*]} failed: install them and run again"
fi
for t in dpdk-testpmd ovsdb-tool ovsdb-server ovs-vsctl ovs-appctl ovs-ofctl jq ip stdbuf; do
  command -v $t >/dev/null || die "$t is missing"
done
[[ -x $OVS_VSWITCHD ]] || die "$OVS_VSWITCHD is missing (Debian package openvswitch-switch-dpdk)"
# The DPDK build of ovs-vswitchd is started by path: the system's ovs-vswitchd alternative
# (update-alternatives --set ovs-vswitchd ...) is left as it is.
"$root/deploy/vswitch" hugepages >/dev/null || die "no hugepages: deploy/vswitch hugepages failed"

NCPU=$(nproc)
run_layouts=()
for l in $LAYOUTS; do
  if [[ $l == separate ]] && ((NCPU < 4)); then
    say "layout separate: not measurable: $NCPU CPUs (needs 4: guests, vhost, switching, the rest)"
    continue
  fi
  run_layouts+=("$l")
done
((${#run_layouts[@]})) || die "no layout can run on $NCPU CPUs"

# ---- state and cleanup --------------------------------------------------------------
TAG=vgb$$
work=$(mktemp -d /tmp/vswgroupbench.XXXXXX)
chmod 755 "$work"
results=$work/results.tsv
MAC0=52:54:00:0b:00:01
MAC1=52:54:00:0b:00:02
CLK_TCK=$(getconf CLK_TCK)
PIDS=()          # testpmd (the guests), while it runs
OVS_PIDS=()      # ovsdb-server, ovs-vswitchd, while they run
GROUP_CONF=""    # the vswitch group that is up, if any
OVS_DIR=""       # the OVS instance that is up, if any
OVS_BR=""
TP_FD=""

kill_pids() {
  local p
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 50); do
    local alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "$@"; do kill -KILL "$p" 2>/dev/null; done
  for p in "$@"; do wait "$p" 2>/dev/null; done
}

stop_group() {
  [[ -n $GROUP_CONF ]] || return 0
  local cfg=$GROUP_CONF rd f p
  GROUP_CONF=""
  "$root/deploy/vswitch" down --config "$cfg" >/dev/null 2>&1
  # down stops the roles by their pid files; anything left is killed by pid.
  rd=$(sed -n 's/^run-dir = //p' "$cfg")
  for f in "$rd"/*.pid; do
    [[ -r $f ]] || continue
    p=$(<"$f")
    [[ $p =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "--config $cfg" &&
      kill -KILL "$p" 2>/dev/null
  done
}

stop_ovs() {
  [[ -n $OVS_DIR ]] || return 0
  local d=$OVS_DIR p
  OVS_DIR=""
  if [[ -n $OVS_BR ]]; then
    timeout 10 ovs-vsctl --db="unix:$d/db.sock" --timeout=5 -- --if-exists del-br "$OVS_BR" >/dev/null 2>&1
  fi
  # ovs-vswitchd first, then the database (the pids we started, newest first).
  local k
  for ((k = ${#OVS_PIDS[@]} - 1; k >= 0; k--)); do kill_pids "${OVS_PIDS[$k]}"; done
  OVS_PIDS=()
  # The netdev datapath's bridge port is a kernel tap; it goes with the bridge, but a
  # killed ovs-vswitchd can leave it.
  [[ -n $OVS_BR ]] && ip link show "$OVS_BR" >/dev/null 2>&1 && ip link delete "$OVS_BR" 2>/dev/null
  OVS_BR=""
}

cleanup() {
  if [[ -n $TP_FD ]]; then exec {TP_FD}>&-; TP_FD=""; fi
  ((${#PIDS[@]})) && kill_pids "${PIDS[@]}"
  PIDS=()
  stop_group
  stop_ovs
  local t
  for t in "${TAG}a" "${TAG}b"; do ip link show "$t" >/dev/null 2>&1 && ip link delete "$t" 2>/dev/null; done
  rm -rf /dev/hugepages/"$TAG"-* /var/run/dpdk/"$TAG"-*
  find "$work" -type s -delete 2>/dev/null
}
trap 'echo; say "interrupted: cleaning up"; cleanup; exit 130' INT TERM
trap 'cleanup' EXIT

# Median of the numbers on stdin (a second without packets counts: the loop stalled);
# 0 when there are none.
median() {
  sort -n |
    awk '{v[NR]=$1} END {if (NR==0) print 0; else if (NR%2) printf "%.0f\n", v[(NR+1)/2]; else printf "%.0f\n", (v[NR/2]+v[NR/2+1])/2}'
}

proc_ticks() {  # utime + stime of a process, in clock ticks (0 when gone)
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  s=${s##*) }
  awk '{print $12 + $13}' <<<"$s"
}

# layout -> CPUs
layout_cpus() {  # sets TP_LCORES TP_MAIN VH_CPU SW_CPU REST_CPU OVS_MASK
  if [[ $1 == shared ]]; then
    TP_LCORES=0,1 TP_MAIN=1 VH_CPU=1 SW_CPU=1 REST_CPU=0 OVS_MASK=0x2
  else
    TP_LCORES=0,3 TP_MAIN=3 VH_CPU=1 SW_CPU=2 REST_CPU=3 OVS_MASK=0x6
  fi
}

free_loopback_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- the switches --------------------------------------------------------------------
# start_vswitch LABEL RUNDIR: the group from BUILD[LABEL], client mode, on the layout's CPUs.
start_vswitch() {
  local l=$1 rd=$2 lc
  lc=$(tr 'A-Z' 'a-z' <<<"$l")
  cat >"$rd/vswitch.conf" <<EOF
# written by bench/group-bench.sh
[eal]
file-prefix = $TAG-$l
primary-cpu = $REST_CPU
vhost-cpu = $VH_CPU
switching-cpu = $SW_CPU
monitor-cpu = $REST_CPU
log-level = info

[group]
run-dir = $rd/run
log-dir = $rd/log

[primary]
port = net_tap0,iface=$TAG$lc
max-devices = 8
mbufs = 16383
ring-size = 1024

[vhost]
socket-file = $rd/vm0.sock
socket-file = $rd/vm1.sock
client = true
mergeable = 0
tso = 0
tx-csum = 0

[switching]
vm2vm = 1
rx-retry = 1
rx-retry-num = 4
rx-retry-delay = 15
stats = 0

[monitor]
metrics-listen = 127.0.0.1:$(free_loopback_port)
EOF
  # SET_<label>: each setting under its section again (a later section header adds to it).
  local kv
  for kv in ${SETTINGS[$l]}; do
    printf '\n[%s]\n%s = %s\n' "${kv%%.*}" "$(cut -d= -f1 <<<"${kv#*.}")" "${kv#*=}" >>"$rd/vswitch.conf"
  done
  GROUP_CONF=$rd/vswitch.conf
  VSWITCH_BUILD_DIR=${BUILD[$l]} "$root/deploy/vswitch" up --config "$GROUP_CONF" >"$rd/up.log" 2>&1 || {
    say "vswitch $l did not come up:"; sed 's/^/  /' "$rd/up.log" >&2; return 1; }
}

ovsctl() { ovs-vsctl --db="unix:$OVS_DIR/db.sock" --timeout=20 "$@"; }

# start_ovs RUNDIR: ovsdb-server + ovs-vswitchd-dpdk on their own database, run dir and
# DPDK file-prefix (no systemd), one netdev bridge, two dpdkvhostuserclient ports, NORMAL.
start_ovs() {
  local rd=$1 d=$1/ovs
  mkdir -p "$d"
  OVS_DIR=$d
  export OVS_RUNDIR=$d OVS_LOGDIR=$d OVS_DBDIR=$d OVS_SYSCONFDIR=$d
  ovsdb-tool create "$d/conf.db" "$OVS_SCHEMA" || return 1
  ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" --pidfile="$d/ovsdb-server.pid" \
    --unixctl="$d/ovsdb-server.ctl" --log-file="$d/ovsdb-server.log" --no-chdir \
    >"$d/ovsdb-server.out" 2>&1 </dev/null &
  OVS_PIDS+=($!)
  for _ in $(seq 50); do [[ -S $d/db.sock ]] && break; sleep 0.1; done
  ovsctl --no-wait init || return 1
  ovsctl --no-wait set Open_vSwitch . other_config:dpdk-init=true \
    other_config:pmd-cpu-mask=$OVS_MASK \
    "other_config:dpdk-extra=--file-prefix=$TAG-ovs --no-pci" \
    other_config:dpdk-socket-mem=256 other_config:dpdk-socket-limit=256 || return 1
  "$OVS_VSWITCHD" "unix:$d/db.sock" --pidfile="$d/ovs-vswitchd.pid" \
    --unixctl="$d/ovs-vswitchd.ctl" --log-file="$d/ovs-vswitchd.log" --no-chdir \
    >"$d/ovs-vswitchd.out" 2>&1 </dev/null &
  OVS_PID=$!
  OVS_PIDS+=("$OVS_PID")
  local ok=0
  for _ in $(seq 300); do
    [[ $(ovsctl get Open_vSwitch . dpdk_initialized 2>/dev/null) == true ]] && { ok=1; break; }
    kill -0 "$OVS_PID" 2>/dev/null || break
    sleep 0.1
  done
  ((ok)) || { say "ovs-vswitchd-dpdk did not initialise DPDK; see $d/ovs-vswitchd.log"; return 1; }
  OVS_BR=${TAG}o
  ovsctl add-br "$OVS_BR" -- set bridge "$OVS_BR" datapath_type=netdev \
    -- add-port "$OVS_BR" vhu0 -- set Interface vhu0 type=dpdkvhostuserclient "options:vhost-server-path=$rd/vm0.sock" \
    -- add-port "$OVS_BR" vhu1 -- set Interface vhu1 type=dpdkvhostuserclient "options:vhost-server-path=$rd/vm1.sock" ||
    { say "ovs: add-br/add-port failed; see $d/ovs-vswitchd.log"; return 1; }
  ovs-ofctl del-flows "$OVS_BR" && ovs-ofctl add-flow "$OVS_BR" actions=NORMAL ||
    { say "ovs: cannot install the NORMAL flow"; return 1; }
}

# switch_pids SWITCH: "role=pid ..." of the switch's processes (for CPU use).
switch_pids() {
  if [[ $1 == ovs ]]; then
    echo "ovs-vswitchd=$OVS_PID"
  else
    "$root/deploy/vswitch" status --json --config "$GROUP_CONF" 2>/dev/null |
      jq -r '.roles | to_entries[] | "\(.key)=\(.value.pid)"' | tr '\n' ' '
  fi
}

# learned SWITCH: 0 when the switch has MAC0 on the vm0 port and MAC1 on the vm1 port.
learned() {
  if [[ $1 == ovs ]]; then
    local fdb p0 p1
    fdb=$(ovs-appctl -t "$OVS_DIR/ovs-vswitchd.ctl" fdb/show "$OVS_BR" 2>/dev/null)
    p0=$(ovsctl get Interface vhu0 ofport) p1=$(ovsctl get Interface vhu1 ofport)
    awk -v p="$p0" -v m="$MAC0" '$1 == p && $3 == m {f=1} END {exit !f}' <<<"$fdb" &&
      awk -v p="$p1" -v m="$MAC1" '$1 == p && $3 == m {f=1} END {exit !f}' <<<"$fdb"
  else
    "$root/deploy/vswitch" status --json --config "$GROUP_CONF" 2>/dev/null |
      jq -e --arg m0 "$MAC0" --arg m1 "$MAC1" --arg s0 "$RUN_DIR/vm0.sock" --arg s1 "$RUN_DIR/vm1.sock" '
        ([.devices[] | select(.socket == $s0 and .mac == $m0)] | length == 1) and
        ([.devices[] | select(.socket == $s1 and .mac == $m1)] | length == 1)' >/dev/null
  fi
}

# switch_counters SWITCH: "drops=N dev0_tx=N dev1_rx=N ..." from the switch's own counters.
switch_counters() {
  if [[ $1 == ovs ]]; then
    local i out=""
    for i in vhu0 vhu1; do
      local st
      st=$(ovsctl get Interface $i statistics 2>/dev/null | tr -d '{}"' | tr ',' '\n' | tr -d ' ')
      out+="$i.rx=$(sed -n 's/^rx_packets=//p' <<<"$st") $i.tx=$(sed -n 's/^tx_packets=//p' <<<"$st") "
      out+="$i.drops=$(awk -F= '$1 ~ /drop/ {s += $2} END {print s + 0}' <<<"$st") "
    done
    echo "$out"
  else
    "$root/deploy/vswitch" status --json --config "$GROUP_CONF" 2>/dev/null |
      jq -r '.devices[] | "vm\(.id).rx=\(.rx_packets) vm\(.id).tx=\(.tx_packets) vm\(.id).drops=\(.rx_dropped + .tx_dropped)"' |
      tr '\n' ' '
  fi
}

# check_counters SWITCH BURST COUNTERS: what the switch took from each guest went to the
# other guest (up to the frames still in flight and the first, unlearned burst).
check_counters() {
  local sw=$1 burst=$2 kv
  local -A c=()
  for kv in ${3//,/ }; do c[${kv%=*}]=${kv#*=}; done
  local from0 to1 from1 to0 slack
  if [[ $sw == ovs ]]; then
    from0=${c[vhu0.rx]:-0} to1=${c[vhu1.tx]:-0} from1=${c[vhu1.rx]:-0} to0=${c[vhu0.tx]:-0}
    slack=$((4 * burst + ${c[vhu0.drops]:-0} + ${c[vhu1.drops]:-0}))
  else
    from0=${c[vm0.tx]:-0} to1=${c[vm1.rx]:-0} from1=${c[vm1.tx]:-0} to0=${c[vm0.rx]:-0}
    slack=$((4 * burst + ${c[vm0.drops]:-0} + ${c[vm1.drops]:-0}))
  fi
  ((from0 > 0 && to1 > 0 && from1 > 0 && to0 > 0)) &&
    ((from0 - to1 <= slack && to1 - from0 <= slack && from1 - to0 <= slack && to0 - from1 <= slack))
}

# ---- one run ---------------------------------------------------------------------------
tp() { echo "$*" >&"$TP_FD"; }

# Parse testpmd "show port stats all" output from byte OFFSET of LOG: one line per show,
# "rxpps0 rxpps1 rx0 tx0 rx1 tx1".
port_stats() {
  tail -c +"$(($2 + 1))" "$1" | awk '
    /NIC statistics for port/ { for (i = 1; i <= NF; i++) if ($i == "port") p = $(i + 1) }
    /RX-packets:/ { rx[p] = $2 }
    /TX-packets:/ { tx[p] = $2 }
    /Rx-pps:/ { pps[p] = $2; if (p == 1) print pps[0], pps[1], rx[0], tx[0], rx[1], tx[1] }'
}

# run_one LAYOUT SWITCH BURST SIZE ROUND IDLE -> appends a line to $results (and prints it).
# Runs in this shell (not in $( )) so the traps see every pid.
run_one() {
  local layout=$1 sw=$2 burst=$3 size=$4 round=$5 idle=$6
  local name=$layout-$burst-$size-$sw-r$round
  local rd=$work/$name
  mkdir -p "$rd"
  RUN_DIR=$rd
  layout_cpus "$layout"
  local status=ok pps=0 nsamp=0 inflight=- counters=- samples=- idle_cpu=-
  local tplog=$rd/testpmd.log tp_pid=""
  if [[ $sw == ovs ]]; then start_ovs "$rd" || status=switch-start-failed
  else start_vswitch "$sw" "$rd" || status=switch-start-failed; fi

  if [[ $status == ok ]]; then
    mkfifo "$rd/tp.fifo"
    exec {TP_FD}<>"$rd/tp.fifo"
    # The guests: virtio-user in server mode; probing blocks until the switch connects.
    stdbuf -oL dpdk-testpmd --no-pci --single-file-segments -l "$TP_LCORES" --main-lcore "$TP_MAIN" \
      -m 128 --file-prefix "$TAG-guests" --no-telemetry \
      --vdev "net_virtio_user0,path=$rd/vm0.sock,server=1,queues=1,queue_size=1024,mac=$MAC0" \
      --vdev "net_virtio_user1,path=$rd/vm1.sock,server=1,queues=1,queue_size=1024,mac=$MAC1" \
      -- -i --forward-mode=io --nb-cores=1 --burst="$burst" --txpkts="$((size - 4))" \
      --txd=1024 --rxd=1024 --total-num-mbufs=16384 \
      --eth-peer="0,$MAC1" --eth-peer="1,$MAC0" <"$rd/tp.fifo" >"$tplog" 2>&1 &
    tp_pid=$!
    PIDS+=("$tp_pid")
    local up=0
    for _ in $(seq 600); do
      grep -q '^Port 1: ' "$tplog" 2>/dev/null && { up=1; break; }
      kill -0 "$tp_pid" 2>/dev/null || break
      sleep 0.1
    done
    ((up)) || status=guests-not-connected
  fi

  if [[ $status == ok ]]; then
    sleep 0.5
    # Prime the MAC table: one burst from each guest (tx_first) while testpmd only sinks
    # what comes back (a switch that has not learned the destination yet sends the first
    # frames elsewhere: vswitch to its port, OVS floods), until both MACs are learned.
    tp "set fwd rxonly"
    local tries=0
    until learned "$sw"; do
      ((tries++ >= 5)) && { status=mac-not-learned; break; }
      tp "start tx_first"; sleep 1; tp "stop"; sleep 0.5
    done
  fi

  if [[ $status == ok ]]; then
    # Nothing left in flight after the sink ran; start from clean counters.
    tp "clear port stats all"
    if ((idle)); then
      # Guests connected and silent: the switch's CPU use.
      local pidspec p0 p1 pid role out="" total=0
      pidspec=$(switch_pids "$sw")
      local -A t0=()
      for p in $pidspec; do t0[$p]=$(proc_ticks "${p#*=}"); done
      sleep "$IDLE_SECS"
      for p in $pidspec; do
        role=${p%=*} pid=${p#*=}
        [[ $pid =~ ^[1-9][0-9]*$ ]] || continue
        p1=$(proc_ticks "$pid")
        local pct
        pct=$(awk -v a="${t0[$p]}" -v b="$p1" -v hz="$CLK_TCK" -v s="$IDLE_SECS" 'BEGIN {printf "%.1f", 100 * (b - a) / hz / s}')
        out+="$role=$pct,"
      done
      idle_cpu=${out%,}
    fi
    tp "set fwd io"
    local off
    off=$(stat -c %s "$tplog")
    tp "start tx_first"
    local n=$((1 + WARMUP + SECS))
    for _ in $(seq "$n"); do sleep 1; tp "show port stats all"; done
    sleep 0.3
    tp "stop"
    sleep 1
    local off2
    off2=$(stat -c %s "$tplog")
    tp "show port stats all"
    sleep 0.5
    # Per-second Rx-pps, both ports summed; the first show (the time before start) and
    # WARMUP more are dropped.
    samples=$(port_stats "$tplog" "$off" | head -n "$n" | tail -n +$((2 + WARMUP)) |
      awk '{printf "%s%d", (NR > 1 ? "," : ""), $1 + $2}')
    [[ -n $samples ]] || samples=-
    nsamp=$(tr ',' '\n' <<<"$samples" | grep -c '^[0-9]')
    pps=$(tr ',' '\n' <<<"$samples" | grep '^[0-9]' | median)
    # Frames still in the loop after stop (sent - received, both ports): 2 x BURST when
    # tx_first put BURST per guest and neither side lost any.
    inflight=$(port_stats "$tplog" "$off2" | tail -n 1 | awk '{print ($4 + $6) - ($3 + $5)}')
    counters=$(switch_counters "$sw" | tr ' ' ',' | sed 's/,$//')
    learned "$sw" || status=mac-lost
    check_counters "$sw" "$burst" "$counters" || status=counters-mismatch
    grep -q '\(^\|,\)0\(,\|$\)' <<<"$samples" && status=loop-stalled
    ((nsamp < SECS)) && status=short-run
    kill -0 "$tp_pid" 2>/dev/null || status=guests-exited
    if ((pps == 0)); then
      status=no-packets
      grep -Eq 'drops=[1-9]' <<<"$counters" && status=no-packets-switch-dropped
    fi
  fi

  # Teardown: guests, then the switch.
  if [[ -n $TP_FD ]]; then
    tp "quit" 2>/dev/null
    local i
    for i in $(seq 100); do [[ -n $tp_pid ]] && kill -0 "$tp_pid" 2>/dev/null || break; sleep 0.1; done
    exec {TP_FD}>&-; TP_FD=""
  fi
  ((${#PIDS[@]})) && kill_pids "${PIDS[@]}"
  PIDS=()
  if [[ $sw == ovs ]]; then stop_ovs; else stop_group; fi
  rm -rf /dev/hugepages/"$TAG"-* /var/run/dpdk/"$TAG"-*
  find "$rd" -type s -delete 2>/dev/null
  rm -f "$rd/tp.fifo"
  printf 'run\t%s\t%s-%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$layout" "$burst" "$size" "$sw" "$round" \
    "$pps" "$status" "$nsamp" "$inflight" "$counters" "$idle_cpu" "$samples" | tee -a "$results"
}

# ---- main --------------------------------------------------------------------------------
{
  echo -e "#kind\tlayout\tcell\tswitch\tround\tpps\tstatus\tsamples\tinflight\tcounters\tidle_cpu\tper_second_pps"
  echo -e "meta\tcpus\t$NCPU\t$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo -e "meta\tdate\t$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo -e "meta\tparams\tROUNDS=$ROUNDS SECS=$SECS WARMUP=$WARMUP IDLE_SECS=$IDLE_SECS"
  echo -e "meta\tlayouts\t${LAYOUTS}\t${run_layouts[*]}"
  echo -e "meta\tovs\t$(dpkg-query -W -f='${Version}' openvswitch-switch-dpdk 2>/dev/null)"
  for l in "${SWITCHES[@]:1}"; do echo -e "meta\tbuild\t$l\t${BUILD[$l]}\t${COMMIT[$l]}"; done
} >"$results"
say "work dir $work; switches: ${SWITCHES[*]}; layouts: ${run_layouts[*]}; cells: $CELLS"
nsw=${#SWITCHES[@]}
for round in $(seq "$ROUNDS"); do
  # Rotate which switch goes first: round 1 ovs A [B], round 2 A [B] ovs, ...
  order=()
  for ((k = 0; k < nsw; k++)); do order+=("${SWITCHES[$(((k + round - 1) % nsw))]}"); done
  for layout in "${run_layouts[@]}"; do
    first=1
    for cell in $CELLS; do
      for sw in "${order[@]}"; do
        # Idle CPU use once per round, layout and switch (in the first cell's run).
        run_one "$layout" "$sw" "${cell%-*}" "${cell#*-}" "$round" "$first"
      done
      first=0
    done
  done
done
cp "$results" "$here/group-last-results.tsv"
/usr/bin/python3 "$here/group-report.py" "$results" "$OUT" "$work"
echo "raw logs: $work"
