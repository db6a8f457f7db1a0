#!/bin/bash
# vswitch vhost engine against DPDK's own vhost (testpmd net_vhost), side by side.
#
#   bench/run-bench.sh [BUILD_DIR]     (root, hugepages, dpdk-testpmd, gnuplot for the plot)
#   env: ROUNDS=3 SECS=8 CELLS="gtx-64-0-0 ..." OUT=docs/benchmarks.md
#
# A cell is DIR-SIZE-MRG-ZC: DIR gtx = guest TX (virtio-user txonly -> back-end drops),
# grx = guest RX (back-end generates -> virtio-user rxonly); SIZE frame bytes; MRG the
# peer's mrg_rxbuf; ZC 1: our --dequeue-zero-copy (DPDK 22.11 has none: its column is copy),
# n: our copy mode without VIRTIO_F_IN_ORDER, which zero-copy sockets do not offer (the
# fair baseline for zero-copy's gain; its DPDK column is net_vhost as usual).
# Each round runs every cell once per back-end, alternating which goes first, so the
# two see the same machine (testing.md: compare in the same run, interleaved). The peer
# (virtio-user in testpmd, polling lcore 0) measures both back-ends the same way: its
# per-second Tx-pps (gtx) or Rx-pps (grx); a run's figure is the median of its samples
# after a 2 s warm-up, a cell's figure the median over rounds. The back-end polls lcore 1.
# For our back-end the results also hold its busy TSC cycles per packet (a fifth column).
# A guest TX cell may end in "-w" (DIR-SIZE-MRG-ZC-w): the peer is then
# vswitch-bench-payload-peer, DPDK's virtio-user driver under a generator that writes
# every byte of every frame, as a guest does (payload_peer.cc); testpmd's txonly writes
# only the headers, so a copying back-end reads payload it already caches.
# A cell ending in "-p" (or "-wp") runs a packed virtqueue (VIRTIO 1.x 2.8): the peer's
# virtio-user asks with packed_vq=1, our back-end offers it (--packed), and net_vhost
# offers it anyway; without it, both run split rings.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build}
bench=$build/bench/vswitch-vhost-bench
[[ -x $bench ]] || { echo "missing $bench: cmake --build $build --target vswitch-vhost-bench" >&2; exit 2; }
payload_peer=$build/bench/vswitch-bench-payload-peer
[[ -x $payload_peer ]] || { echo "missing $payload_peer: cmake --build $build --target vswitch-bench-payload-peer" >&2; exit 2; }
command -v dpdk-testpmd >/dev/null || { echo "dpdk-testpmd missing (apt-get install dpdk)" >&2; exit 2; }
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-8}
OUT=${OUT:-$root/docs/benchmarks.md}
CELLS=${CELLS:-"gtx-64-0-0 gtx-64-1-0 gtx-64-0-1 gtx-64-1-1 gtx-1518-0-0 gtx-1518-1-0 gtx-1518-0-1 gtx-1518-1-1 gtx-1518-0-n gtx-1518-1-n grx-64-0-0 grx-64-1-0 grx-1518-0-0 grx-1518-1-0 gtx-1518-0-0-w gtx-1518-0-1-w gtx-1518-0-n-w gtx-1518-1-0-w gtx-1518-1-1-w gtx-64-0-0-p gtx-64-1-0-p gtx-1518-0-0-p gtx-1518-1-0-p gtx-1518-0-1-p grx-64-0-0-p grx-64-1-0-p grx-1518-0-0-p grx-1518-1-0-p"}
work=$(mktemp -d /tmp/vswbench.XXXXXX)
results=$work/results.tsv
: > "$results"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf /dev/hugepages/vswb"$$"* /var/run/dpdk/vswb"$$"*
}
trap 'cleanup; exit 130' INT TERM

# run_one BACKEND DIR SIZE MRG ZC [FLAGS: w, p, wp] -> sets PPS, the median pps seen by the peer, and CYC,
# (ours only, else 0) the median busy cycles per packet of the back-end. It runs in this
# shell, not in $( ), so that `pids` is the one the Ctrl-C trap sees.
run_one() {
  local be=$1 dir=$2 size=$3 mrg=$4 zc=$5 flags=${6:-}
  local sock=$work/vhost.sock tag=vswb$$-$RANDOM
  rm -f "$sock"
  local name=$be-$dir-$size-$mrg-$zc${flags:+-$flags}
  local peer="" packed_vq="" packed_opt=""
  [[ $flags == *w* ]] && peer=w
  [[ $flags == *p* ]] && packed_vq=",packed_vq=1" packed_opt="--packed"
  local be_log=$work/$name.backend.log peer_log=$work/$name.peer.log
  local be_mode peer_mode field
  if [[ $dir == gtx ]]; then be_mode=drop; peer_mode=txonly; field=Tx-pps
  else be_mode=gen; peer_mode=rxonly; field=Rx-pps; fi
  if [[ $be == vswitch ]]; then
    "$bench" --socket "$sock" --mode "$be_mode" --size "$size" $([[ $zc == 1 ]] && echo --zero-copy) $([[ $zc == n ]] && echo --no-in-order) $packed_opt \
      --lcore 1 --file-prefix "$tag-be" > "$be_log" 2>&1 &
  else
    local fwd=rxonly; [[ $dir == grx ]] && fwd=txonly
    dpdk-testpmd --no-pci -l 0,1 --main-lcore 0 -m 256 --file-prefix "$tag-be" --no-telemetry \
      --vdev "net_vhost0,iface=$sock,queues=1" -- --forward-mode=$fwd --txpkts="$size" \
      --nb-cores=1 --stats-period 1 < /dev/null > "$be_log" 2>&1 &
  fi
  local be_pid=$!
  pids=("$be_pid")
  for _ in $(seq 50); do [[ -S $sock ]] && break; sleep 0.1; done
  if [[ $peer == w ]]; then
    # Polls lcore 0 like testpmd's forwarding core; prints testpmd's "Tx-pps:" line.
    "$payload_peer" --no-pci --single-file-segments -l 0 -m 256 --file-prefix "$tag-peer" \
      --no-telemetry --vdev "net_virtio_user0,path=$sock,queues=1,mrg_rxbuf=$mrg$packed_vq" -- \
      --size "$size" < /dev/null > "$peer_log" 2>&1 &
  else
    dpdk-testpmd --no-pci --single-file-segments -l 0,1 --main-lcore 1 -m 256 --file-prefix "$tag-peer" \
      --no-telemetry --vdev "net_virtio_user0,path=$sock,queues=1,mrg_rxbuf=$mrg$packed_vq" -- \
      --forward-mode=$peer_mode --txpkts="$size" --nb-cores=1 --stats-period 1 < /dev/null > "$peer_log" 2>&1 &
  fi
  local peer_pid=$!
  pids+=("$peer_pid")
  # SECS of traffic from the first second that moved packets (either back-end can take
  # a few seconds to start; a run that never moved any reports 0).
  for _ in $(seq 100); do grep -q "$field: *[1-9]" "$peer_log" 2>/dev/null && break; sleep 0.1; done
  sleep "$SECS"
  kill -INT "$peer_pid" 2>/dev/null; sleep 0.5; kill -INT "$be_pid" 2>/dev/null
  for _ in $(seq 30); do kill -0 "$peer_pid" 2>/dev/null || kill -0 "$be_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$peer_pid" "$be_pid" 2>/dev/null
  wait "$peer_pid" "$be_pid" 2>/dev/null
  pids=()
  rm -rf /dev/hugepages/"$tag"* /var/run/dpdk/"$tag"*
  local pps cyc=0
  pps=$(grep -o "$field: *[0-9]*" "$peer_log" | awk '{print $2}' | tail -n +3 | median)
  # Our back-end's own cost: TSC cycles of its busy polls per packet (vhost_bench.cc),
  # which the peer's rate hides when the peer is the slower side.
  [[ $be == vswitch ]] && cyc=$(grep -o "busy_cycles_per_packet=[0-9.]*" "$be_log" | cut -d= -f2 | tail -n +3 | median)
  PPS=${pps:-0}
  CYC=${cyc:-0}
}

# Median of the positive numbers on stdin (a second in which nothing moved prints 0).
median() {
  awk '$1 > 0' | sort -n |
    awk '{v[NR]=$1} END {if (NR==0) print 0; else if (NR%2) printf "%.1f\n", v[(NR+1)/2]; else printf "%.1f\n", (v[NR/2]+v[NR/2+1])/2}'
}

for round in $(seq "$ROUNDS"); do
  for cell in $CELLS; do
    IFS=- read -r dir size mrg zc flags <<< "$cell"
    [[ -z $flags || $flags == p || ( ( $flags == w || $flags == wp ) && $dir == gtx ) ]] ||
      { echo "bad cell $cell" >&2; exit 2; }
    order="vswitch dpdk"; (( round % 2 == 0 )) && order="dpdk vswitch"
    for be in $order; do
      run_one "$be" "$dir" "$size" "$mrg" "$zc" "$flags"
      pps=$PPS cyc=$CYC
      printf '%s\t%s\t%s\t%.0f\t%s\n' "$cell" "$be" "$round" "$pps" "$cyc" | tee -a "$results"
    done
  done
done
cp "$results" "$here/last-results.tsv"
/usr/bin/python3 "$here/report.py" "$results" "$OUT" "$work"
echo "raw logs: $work"
