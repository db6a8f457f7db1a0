#!/bin/bash
# Proves the guest peer kit against DPDK's own vhost-user backend (testpmd + net_vhost):
# the guest boots and brings eth0 up, what it sends is counted by testpmd, what testpmd
# sends is counted by the guest, in both socket directions, and across a backend
# restart. Also a template for driving a backend and a guest from a script.
#
# usage: check-reference.sh [--keep DIR] [SCENARIO...]
#   scenarios: basic echo qemu-server reconnect mq   (default: all)
#   --keep DIR  copy consoles and testpmd logs to DIR
#
# Needs root (hugepages), dpdk-testpmd (package dpdk), QEMU, the cloud kernel and
# busybox-static. Uses one --file-prefix per run and cleans up after itself.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
. "$HERE/common.sh"

keep=""
scenarios=()
while [ $# -gt 0 ]; do
    case $1 in
        --keep) [ $# -ge 2 ] || vsw_guest_die "--keep needs a directory"; keep=$2; shift 2 ;;
        -h | --help) sed -n '7,9p' "$0" | sed 's/^# //' >&2; exit 2 ;;
        basic | echo | qemu-server | reconnect | mq) scenarios+=("$1"); shift ;;
        *) vsw_guest_die "unknown argument '$1' (see --help)" ;;
    esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=(basic echo qemu-server reconnect mq)

command -v dpdk-testpmd >/dev/null || vsw_guest_die "dpdk-testpmd not found; install it with: apt-get install -y dpdk"
command -v stdbuf >/dev/null || vsw_guest_die "stdbuf not found (coreutils)"
[ "$(id -u)" = 0 ] || vsw_guest_die "must run as root (hugepages)"

# Hugepages, as in docs/testing.md; never lowers what others set.
hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
if [ "$(cat $hp)" -lt 1024 ]; then echo 1024 >$hp || vsw_guest_die "cannot reserve hugepages ($hp)"; fi
mkdir -p /dev/hugepages
mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages ||
    vsw_guest_die "cannot mount hugetlbfs on /dev/hugepages"
free_hp=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
[ "$free_hp" -ge 160 ] || vsw_guest_die "only $free_hp free 2 MB hugepages; testpmd here needs about 160"

WORK=$(mktemp -d /tmp/vsw-gchk.XXXXXX)
PREFIX=gk$$
SOCK=$WORK/vm.sock
MAC=52:54:00:00:00:14
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    if [ -n "$keep" ]; then mkdir -p "$keep" && cp "$WORK"/*.log "$keep"/ 2>/dev/null; fi
    rm -rf "$WORK" "/var/run/dpdk/$PREFIX"
    rm -f /dev/hugepages/"$PREFIX"map_*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILS=0
ok() { echo "  ok   $*"; }
bad() { echo "  FAIL $*"; FAILS=$((FAILS + 1)); }
check() { # description, then a test(1) expression
    local d=$1
    shift
    if [ "$@" ]; then ok "$d"; else bad "$d  [$*]"; fi
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# ---- testpmd, interactive, fed through a fifo ----------------------------------------
tp_start() { # name vdev-args queues [extra testpmd args]
    local n=$1 vdev=$2 q=$3
    shift 3
    mkfifo "$WORK/$n.fifo"
    sleep 100000 >"$WORK/$n.fifo" &  # holds the fifo open between commands
    PIDS+=($!)
    timeout -k 5 600 stdbuf -oL dpdk-testpmd --no-pci --huge-unlink --file-prefix="$PREFIX" \
        -l 0,1 --main-lcore 1 -m 256 --vdev "net_vhost0,$vdev,queues=$q" -- \
        -i --total-num-mbufs=8192 --rxq="$q" --txq="$q" "$@" \
        <"$WORK/$n.fifo" >"$WORK/$n.log" 2>&1 &
    eval "TP_PID_$n=$!"
    PIDS+=($!)
    tp_cmd "$n" "set eth-peer 0 $MAC"
}
tp_cmd() { echo "$2" >"$WORK/$1.fifo"; }
tp_stop() { # name: quit and wait for exit
    local pid
    eval "pid=\$TP_PID_$1"
    tp_cmd "$1" quit
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill "$pid" 2>/dev/null
}
tp_kill() { # name: SIGKILL testpmd itself (the child of timeout), like a crash
    local pid
    eval "pid=\$TP_PID_$1"
    pkill -KILL -P "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null  # reap quietly (no "Killed" job message)
}
tp_stats() { # name -> TP_RX TP_RXB TP_TX TP_TXB of port 0
    local n=$1 before cnt
    before=$(grep -c 'NIC statistics for port 0' "$WORK/$n.log")
    tp_cmd "$n" "show port stats 0"
    for _ in $(seq 50); do
        cnt=$(grep -c 'NIC statistics for port 0' "$WORK/$n.log")
        [ "$cnt" -gt "$before" ] && break
        sleep 0.1
    done
    sleep 0.2
    read -r TP_RX TP_RXB < <(grep -E '^ +RX-packets: .*RX-bytes' "$WORK/$n.log" | tail -n1 | awk '{print $2, $6}')
    read -r TP_TX TP_TXB < <(grep -E '^ +TX-packets: .*TX-bytes' "$WORK/$n.log" | tail -n1 | awk '{print $2, $6}')
}
wait_sock() { for _ in $(seq 100); do [ -S "$SOCK" ] && return 0; sleep 0.1; done; return 1; }

# ---- guest ---------------------------------------------------------------------------
g_start() { # name, then run-guest.sh args
    local n=$1
    shift
    G_T0=$(now)
    "$HERE/run-guest.sh" --console "$WORK/$n.log" --pidfile "$WORK/$n.pid" --timeout 300 \
        --mac "$MAC" "$@" >"$WORK/$n.qemu.log" 2>&1 &
    eval "G_PID_$n=$!"
    PIDS+=($!)
}
g_wait() { # name ERE seconds: wait for a console line
    for _ in $(seq $(($3 * 10))); do
        grep -Eq "$2" "$WORK/$1.log" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "  (no '$2' on the console of $1 after $3 s; last lines:)"
    tail -n 5 "$WORK/$1.log" 2>/dev/null | sed 's/^/    /'
    return 1
}
g_val() { # name line-ERE key: value of key= in the last matching VSW line
    grep -E "$2" "$WORK/$1.log" | tail -n1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}
g_end() { # name: wait for QEMU to exit
    local pid
    eval "pid=\$G_PID_$1"
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill "$pid" 2>/dev/null
}
g_show() { grep -E '^VSW-' "$WORK/$1.log" | sed 's/^/    /'; }
boot_time() { # name: boot-to-READY from the launch
    echo "  boot: READY $(elapsed "$G_T0") s after QEMU start (guest uptime $(g_val "$1" '^VSW-READY' uptime) s)"
}

# ---- scenarios -----------------------------------------------------------------------
sc_basic() {
    echo "== basic: testpmd net_vhost server (rxonly), QEMU client; ARP out, a burst in"
    tp_start tp "iface=$SOCK" 1
    tp_cmd tp "set fwd rxonly"
    tp_cmd tp "start"
    wait_sock || { bad "testpmd made no socket"; return; }
    g_start g --socket "$SOCK" --append "vsw.ip=10.0.0.2/24 vsw.arping=10.0.0.1 vsw.arping_count=3 vsw.ping=10.0.0.1 vsw.count=3 vsw.wait=8 vsw.period=1"
    g_wait g '^VSW-READY' 60 || { bad "guest not READY"; return; }
    boot_time g
    check "(a) eth0 up with carrier" "$(g_val g '^VSW-READY' carrier)" = 1
    g_wait g '^VSW-STATS .*phase=ping' 30 || { bad "guest did not finish pinging"; return; }
    local gtx
    gtx=$(g_val g 'phase=ping' tx_packets)
    tp_stats tp
    check "(b) guest sent frames (ARP): tx_packets=$gtx >= 6" "$gtx" -ge 6
    check "(b) testpmd RX $TP_RX/${TP_RXB}B == guest tx $gtx/$(g_val g 'phase=ping' tx_bytes)B" \
        "$TP_RX/$TP_RXB" = "$gtx/$(g_val g 'phase=ping' tx_bytes)"
    tp_cmd tp "stop"
    tp_cmd tp "start tx_first 1"  # one 32-packet burst from the txonly engine
    sleep 1
    tp_cmd tp "stop"
    g_wait g '^VSW-DONE' 30 || bad "guest did not finish"
    tp_stats tp
    check "(c) testpmd sent a burst: TX $TP_TX" "$TP_TX" -gt 0
    check "(c) guest rx $(g_val g 'phase=final' rx_packets)/$(g_val g 'phase=final' rx_bytes)B == testpmd TX $TP_TX/${TP_TXB}B" \
        "$(g_val g 'phase=final' rx_packets)/$(g_val g 'phase=final' rx_bytes)" = "$TP_TX/$TP_TXB"
    g_show g
    g_end g
    tp_stop tp
}

sc_echo() {
    echo "== echo: testpmd icmpecho answers the guest's ARP and pings; static ARP entry gives exact ICMP counts"
    tp_start tp2 "iface=$SOCK" 1
    tp_cmd tp2 "set fwd icmpecho"
    tp_cmd tp2 "start"
    wait_sock || { bad "testpmd made no socket"; return; }
    g_start g2 --socket "$SOCK" --append "vsw.ip=10.0.0.2/24 vsw.ping=10.0.0.1 vsw.count=5 vsw.ping_interval=0.2 vsw.neigh=10.0.0.1@02:00:00:00:00:01"
    g_wait g2 '^VSW-DONE' 60 || { bad "guest did not finish"; return; }
    boot_time g2
    tp_stats tp2
    check "ping 5/5 answered" "$(g_val g2 '^VSW-PING' received)" = 5
    check "guest tx == 5 ICMP (no ARP, no IPv6 noise)" "$(g_val g2 'phase=final' tx_packets)" = 5
    check "testpmd RX $TP_RX == guest tx, TX $TP_TX == guest rx" \
        "$TP_RX/$TP_TX" = "$(g_val g2 'phase=final' tx_packets)/$(g_val g2 'phase=final' rx_packets)"
    g_show g2
    g_end g2
    tp_stop tp2
}

sc_qemu_server() {
    echo "== qemu-server: QEMU listens (--server), testpmd net_vhost client=1 connects"
    g_start g3 --server --socket "$SOCK" --append "vsw.ip=10.0.0.2/24 vsw.ping=10.0.0.1 vsw.count=3 vsw.ping_interval=0.2"
    wait_sock || { bad "QEMU made no socket"; return; }
    sleep 1
    check "QEMU waits for the backend before booting (no console output yet)" \
        "$(cat "$WORK/g3.log" 2>/dev/null | grep -c '^VSW-')" = 0
    local t
    t=$(now)
    tp_start tp3 "iface=$SOCK,client=1" 1
    tp_cmd tp3 "set fwd icmpecho"
    tp_cmd tp3 "start"
    g_wait g3 '^VSW-DONE' 60 || { bad "guest did not finish"; return; }
    echo "  boot: READY at guest uptime $(g_val g3 '^VSW-READY' uptime) s; DONE $(elapsed "$t") s after testpmd start"
    tp_stats tp3
    check "(a) carrier" "$(g_val g3 '^VSW-READY' carrier)" = 1
    check "ping 3/3 answered" "$(g_val g3 '^VSW-PING' received)" = 3
    check "testpmd RX $TP_RX == guest tx, TX $TP_TX == guest rx" \
        "$TP_RX/$TP_TX" = "$(g_val g3 'phase=final' tx_packets)/$(g_val g3 'phase=final' rx_packets)"
    g_show g3
    g_end g3
    tp_stop tp3
}

sc_reconnect() {
    echo "== reconnect: QEMU client with reconnect=1; backend killed and restarted under a running guest"
    tp_start tp4 "iface=$SOCK" 1
    tp_cmd tp4 "set fwd icmpecho"
    tp_cmd tp4 "start"
    wait_sock || { bad "testpmd made no socket"; return; }
    g_start g4 --socket "$SOCK" --reconnect 1 --append "vsw.ip=10.0.0.2/24 vsw.loop=1 vsw.bgping=10.0.0.1 vsw.bgping_interval=0.2"
    g_wait g4 '^VSW-READY' 60 || { bad "guest not READY"; return; }
    g_wait g4 'phase=loop seq=4 ' 30 || { bad "no loop stats"; return; }
    local rx1
    rx1=$(g_val g4 'phase=loop' rx_packets)
    check "echo replies before the restart: rx_packets=$rx1" "$rx1" -gt 0
    tp_kill tp4
    rm -f "$SOCK"
    if g_wait g4 'phase=loop .*carrier=0' 15; then ok "carrier went to 0 when the backend died"; else bad "carrier stayed 1"; fi
    local rx2
    rx2=$(g_val g4 'phase=loop' rx_packets)
    tp_start tp5 "iface=$SOCK" 1
    tp_cmd tp5 "set fwd icmpecho"
    tp_cmd tp5 "start"
    local t
    t=$(now)
    if g_wait g4 'phase=loop .*carrier=1' 30; then
        ok "carrier back to 1 $(elapsed "$t") s after the backend restart"
    else
        bad "carrier did not come back"
    fi
    sleep 3
    local rx3
    rx3=$(g_val g4 'phase=loop' rx_packets)
    check "traffic resumed: rx_packets $rx2 -> $rx3" "$rx3" -gt "$rx2"
    grep -E 'phase=loop' "$WORK/g4.log" | awk '{print "    " $4, $5, $7, $14, $15}'
    tp_stop tp5
    eval "kill \$G_PID_g4" 2>/dev/null
    g_end g4
}

sc_mq() {
    echo "== mq: 2 queue pairs, 2 vCPUs; testpmd txonly for 3 s into the guest"
    tp_start tp6 "iface=$SOCK" 2
    tp_cmd tp6 "set fwd txonly"
    wait_sock || { bad "testpmd made no socket"; return; }
    g_start g6 --socket "$SOCK" --queues 2 --smp 2 --append "vsw.ip=10.0.0.2/24 vsw.wait=12 vsw.period=2"
    g_wait g6 '^VSW-READY' 60 || { bad "guest not READY"; return; }
    boot_time g6
    check "guest uses 2 queues" "$(g_val g6 '^VSW-READY' queues)" = 2
    tp_cmd tp6 "start"
    sleep 3
    tp_cmd tp6 "stop"
    g_wait g6 '^VSW-DONE' 60 || { bad "guest did not finish"; return; }
    tp_stats tp6
    check "guest rx $(g_val g6 'phase=final' rx_packets) == testpmd TX $TP_TX (ring-full drops not counted)" \
        "$(g_val g6 'phase=final' rx_packets)" = "$TP_TX"
    grep -E 'TX-packets: .*TX-dropped' "$WORK/tp6.log" | tail -n 3 | sed 's/^ */    testpmd /'
    g_show g6
    g_end g6
    tp_stop tp6
}

"$HERE/build-initramfs.sh" "$WORK/warm.cpio.gz" >/dev/null 2>&1 || "$HERE/build-initramfs.sh" "$WORK/warm.cpio.gz"
for s in "${scenarios[@]}"; do
    rm -f "$SOCK"
    "sc_${s//-/_}"
done
echo
if [ "$FAILS" = 0 ]; then echo "PASS (${scenarios[*]})"; else echo "FAILED: $FAILS check(s)"; fi
[ "$FAILS" = 0 ]
